"""Network types: the VPC, subnets, firewall rules, Cloud NAT, private services access, enabled APIs."""

from __future__ import annotations

from offline.catalog import Inputs, MockContext, MockOutputs, Summary, named

COMPUTE = "https://www.googleapis.com/compute/v1"


def _path(c: MockContext, kind: str, name: str, i: Inputs, regional: bool) -> Inputs:
    where = f"regions/{i.get('region') or c.region}" if regional else "global"
    path = f"projects/{c.project}/{where}/{kind}/{named(i, name)}"
    out: Inputs = {"id": path, "selfLink": f"{COMPUTE}/{path}", "name": named(i, name)}
    if regional:
        out["region"] = i.get("region") or c.region
    return out


def _global(kind: str) -> MockOutputs:
    return lambda c, name, i: _path(c, kind, name, i, regional=False)


def _regional(kind: str) -> MockOutputs:
    return lambda c, name, i: _path(c, kind, name, i, regional=True)


def _subnetwork(c: MockContext, name: str, i: Inputs) -> Inputs:
    out = _path(c, "subnetworks", name, i, regional=True)
    return {**out, "gatewayAddress": c.fake_ip(out["id"], i.get("ipCidrRange", "10.0.0.0/8"))}


def _global_address(c: MockContext, name: str, i: Inputs) -> Inputs:
    out = _path(c, "addresses", name, i, regional=False)
    internal = i.get("addressType") == "INTERNAL"
    return {**out, "address": i.get("address") or c.fake_ip(out["id"], "10.0.0.0/8" if internal else "34.0.0.0/8")}


def _address(c: MockContext, name: str, i: Inputs) -> Inputs:
    out = _path(c, "addresses", name, i, regional=True)
    return {**out, "address": i.get("address") or c.fake_ip(out["id"], "35.0.0.0/8")}


MOCK_OUTPUTS: dict[str, MockOutputs] = {
    "gcp:compute/network:Network": _global("networks"),
    "gcp:compute/subnetwork:Subnetwork": _subnetwork,
    "gcp:compute/firewall:Firewall": _global("firewalls"),
    "gcp:compute/router:Router": _regional("routers"),
    "gcp:compute/routerNat:RouterNat": lambda c, name, i: {"id": f"{c.project}/{c.region}/{i.get('router')}/{name}"},
    "gcp:compute/globalAddress:GlobalAddress": _global_address,
    "gcp:compute/address:Address": _address,
    "gcp:servicenetworking/connection:Connection": lambda c, name, i: {
        "id": f"{i.get('network')}:{i.get('service')}",
        "peering": "servicenetworking-googleapis-com",
    },
    "gcp:projects/service:Service": lambda c, name, i: {"id": f"{c.project}/{i.get('service')}"},
}


def _firewall(i: Inputs) -> str:
    rules = i.get("allows") or i.get("denies") or []
    verb = "allow" if i.get("allows") else "deny"
    what = ", ".join(r["protocol"] + (":" + ",".join(r["ports"]) if r.get("ports") else "") for r in rules)
    targets = i.get("targetTags") or i.get("targetServiceAccounts") or ["all instances"]
    logged = "logged" if i.get("logConfig") else "NOT logged"
    return (
        f"{verb} {what} from {', '.join(i.get('sourceRanges', []))} to {', '.join(targets)}"
        f" (priority {i.get('priority')}, {logged})"
    )


def _nat(i: Inputs) -> str:
    scope = "all subnets" if i.get("sourceSubnetworkIpRangesToNat", "").startswith("ALL") else "listed subnets"
    ips = "static IPs" if i.get("natIpAllocateOption") == "MANUAL_ONLY" else "auto IPs"
    ports = f"ports {i.get('minPortsPerVm')}-{i.get('maxPortsPerVm')} dynamic"
    return f"{scope}, {ips}, {ports}, logs {i.get('logConfig', {}).get('filter')}"


def _subnet(i: Inputs) -> str:
    secondary = ", ".join(f"{r['rangeName']}={r['ipCidrRange']}" for r in i.get("secondaryIpRanges") or [])
    logs = i.get("logConfig") or {}
    return (
        f"{i.get('ipCidrRange')} in {i.get('region')}, private Google access "
        f"{'on' if i.get('privateIpGoogleAccess') else 'OFF'}, flow logs {logs.get('aggregationInterval', 'OFF')}"
        f" sampling {logs.get('flowSampling', '-')}" + (f", secondary {secondary}" if secondary else "")
    )


SUMMARIES: dict[str, Summary] = {
    "gcp:compute/network:Network": lambda i: f"custom mode, {i.get('routingMode')} routing",
    "gcp:compute/subnetwork:Subnetwork": _subnet,
    "gcp:compute/firewall:Firewall": _firewall,
    "gcp:compute/routerNat:RouterNat": _nat,
    "gcp:compute/globalAddress:GlobalAddress": lambda i: (
        f"{i.get('address')}/{i.get('prefixLength')} {i.get('purpose')} (private services access)"
        if i.get("purpose") == "VPC_PEERING"
        else "global IP"
    ),
    "gcp:compute/address:Address": lambda i: f"{i.get('addressType', 'EXTERNAL').lower()} IP in {i.get('region')}",
    "gcp:servicenetworking/connection:Connection": lambda i: (
        f"peering with {i.get('service')}, deletion policy {i.get('deletionPolicy')}"
    ),
    "gcp:projects/service:Service": lambda i: f"{i.get('service')}",
}
