"""Network types: the VPC, subnets, firewall rules, Cloud Router and NAT, addresses, private services access, enabled
APIs."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pulumi_gcp as gcp

from offline.catalog.facts import Facts, Inputs, MockContext, MockOutputs, named, token_of
from offline.estimate.pricing import HOURS, Context, Usage

if TYPE_CHECKING:
    from offline.engine import Resource

COMPUTE = "https://www.googleapis.com/compute/v1"
NETWORK_IS_FREE = (
    "VPC networks, subnets, routes and firewall rules cost nothing; traffic is priced (NAT, egress), and their flow"
    " and firewall logs stack-wide (network_log_gb)"
)
PORTS_PER_NAT_IP = 64_512


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


def _nat_price(r: Resource, ctx: Context) -> list[Usage]:
    """The gateway per instance using it (flat above 32), the data it processes, and the addresses it allocates
    itself (AUTO_ONLY: enough for every instance's minimum ports; static addresses are priced as addresses)."""
    # A stack with a gateway in each of several regions splits the profile's instances and data between them.
    gateways = max(ctx.of_type(token_of(gcp.compute.RouterNat)), 1)
    using = ctx.profile.nat_instances / gateways
    instances = min(using, 32)  # above 32 instances the gateway charge is flat
    gb = ctx.profile.nat_gb / gateways
    where = ctx.elsewhere(r.inputs.get("region"))
    usages = [
        Usage(f"gateway, {instances:g} instance(s)", "nat.gateway", instances * HOURS, where),
        Usage(f"{gb:g} GB processed", "nat.data", gb, where),
    ]
    if r.inputs.get("natIpAllocateOption", "AUTO_ONLY") == "AUTO_ONLY":
        ports = using * int(r.inputs.get("minPortsPerVm") or 64)
        addresses = max(1, math.ceil(ports / PORTS_PER_NAT_IP))
        usages.append(Usage(f"{addresses} auto-allocated NAT IP(s)", "nat.ip", addresses * HOURS, where))
    return usages


def _address_price(r: Resource, ctx: Context) -> list[Usage]:
    if r.inputs.get("addressType") == "INTERNAL":
        return []
    return [Usage("static IP in use", "ip.static_in_use", HOURS, ctx.elsewhere(r.inputs.get("region")))]


RECORDS = (
    Facts(
        gcp.compute.Network,
        outputs=_global("networks"),
        summary=lambda i: f"custom mode, {i.get('routingMode')} routing",
        create_seconds=30,
        free=NETWORK_IS_FREE,
        label=lambda i: "VPC",
    ),
    Facts(gcp.compute.Subnetwork, outputs=_subnetwork, summary=_subnet, create_seconds=20, free=NETWORK_IS_FREE),
    Facts(
        gcp.compute.Firewall, outputs=_global("firewalls"), summary=_firewall, create_seconds=10, free=NETWORK_IS_FREE
    ),
    Facts(
        gcp.compute.Router,
        outputs=_regional("routers"),
        summary=lambda i: f"in {i.get('region')} on {str(i.get('network') or '').rsplit('/', 1)[-1]}",
        create_seconds=15,
        free="a Cloud Router costs nothing by itself; its NAT gateway is priced",
    ),
    Facts(
        gcp.compute.RouterNat,
        outputs=lambda c, name, i: {"id": f"{c.project}/{c.region}/{i.get('router')}/{name}"},
        summary=_nat,
        create_seconds=30,
        price=_nat_price,
        label=lambda i: "Cloud NAT",
    ),
    Facts(
        gcp.compute.GlobalAddress,
        outputs=_global_address,
        summary=lambda i: (
            f"{i.get('address')}/{i.get('prefixLength')} {i.get('purpose')} (private services access)"
            if i.get("purpose") == "VPC_PEERING"
            else "global IP"
        ),
        create_seconds=10,
        free="a reserved range costs nothing; the load balancer's IP is free while a forwarding rule uses it",
    ),
    Facts(
        gcp.compute.Address,
        outputs=_address,
        summary=lambda i: f"{i.get('addressType', 'EXTERNAL').lower()} IP in {i.get('region')}",
        create_seconds=5,
        price=_address_price,
    ),
    Facts(
        gcp.servicenetworking.Connection,
        outputs=lambda c, name, i: {
            "id": f"{i.get('network')}:{i.get('service')}",
            "peering": "servicenetworking-googleapis-com",
        },
        summary=lambda i: f"peering with {i.get('service')}, deletion policy {i.get('deletionPolicy')}",
        create_seconds=120,
        free="the peering costs nothing; the services behind it are priced",
        label=lambda i: "private services access",
    ),
    Facts(
        gcp.projects.Service,
        outputs=lambda c, name, i: {"id": f"{c.project}/{i.get('service')}"},
        summary=lambda i: f"{i.get('service')}",
        create_seconds=30,
        free="enabling an API costs nothing; its use is priced",
    ),
)
