"""The plan's security summary: what a reviewer must see before anything becomes reachable or deletable.

Five lists, each read from the recorded inputs (camelCase, as the engine sees them), with the provider's default
where an input is left out: public endpoints, grants to `allUsers` / `allAuthenticatedUsers`, roles granted on a
whole project (or folder, or organisation), resources left without deletion protection in a stack that asks for it,
and anything that gets a public IP address. The policy pack decides what is allowed; this says what is there.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from offline.engine import Recording, Resource
from policy.rules import BUCKET_BINDING, BUCKET_MEMBER, PUBLIC_MEMBERS, RETAINED, STATEFUL

# The provider's type tokens the checks below read (tests/test_plan_security.py checks each against its SDK class).
ADDRESS = "gcp:compute/address:Address"
GLOBAL_ADDRESS = "gcp:compute/globalAddress:GlobalAddress"
FORWARDING_RULE = "gcp:compute/forwardingRule:ForwardingRule"
GLOBAL_FORWARDING_RULE = "gcp:compute/globalForwardingRule:GlobalForwardingRule"
FIREWALL = "gcp:compute/firewall:Firewall"
INSTANCE = "gcp:compute/instance:Instance"
INSTANCE_TEMPLATE = "gcp:compute/instanceTemplate:InstanceTemplate"
SQL_INSTANCE = "gcp:sql/databaseInstance:DatabaseInstance"
RUN_SERVICE = "gcp:cloudrunv2/service:Service"
GKE_CLUSTER = "gcp:container/cluster:Cluster"
BUCKET_GRANTS = frozenset({BUCKET_MEMBER, BUCKET_BINDING})
DNS_RECORD = "cloudflare:index/dnsRecord:DnsRecord"
WORKER_DOMAIN = "cloudflare:index/workersCustomDomain:WorkersCustomDomain"
WORKER_ROUTE = "cloudflare:index/workersRoute:WorkersRoute"
# Grants on a whole project, folder or organisation: every resource inside inherits them.
WIDE_GRANTS = frozenset(
    f"gcp:{scope}/iAM{kind}:IAM{kind}"
    for scope in ("projects", "folder", "organizations")
    for kind in ("Member", "Binding", "Policy")
)
# Stateful beyond the policy pack's list: disks hold data too.
DISKS = frozenset({"gcp:compute/disk:Disk", "gcp:compute/regionDisk:RegionDisk"})
PROTECTION_INPUTS = ("deletionProtection", "deletionProtectionEnabled")

PUBLIC_ENDPOINTS = "Public endpoints"
PUBLIC_GRANTS = "Grants to allUsers / allAuthenticatedUsers"
WIDE = "Project-wide role grants"
UNPROTECTED = "Without deletion protection (protected stack)"
PUBLIC_IPS = "Public IP addresses"
CATEGORIES = (PUBLIC_ENDPOINTS, PUBLIC_GRANTS, WIDE, UNPROTECTED, PUBLIC_IPS)


@dataclass(frozen=True, order=True)
class Finding:
    category: str
    resource: str  # logical name
    type: str
    what: str

    def to_json(self) -> dict[str, str]:
        return {"resource": self.resource, "type": self.type, "what": self.what}


def _get(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _endpoint(r: Resource) -> str | None:
    i = r.inputs
    if r.type in (GLOBAL_FORWARDING_RULE, FORWARDING_RULE):
        default = "EXTERNAL_MANAGED" if r.type == GLOBAL_FORWARDING_RULE else "EXTERNAL"
        scheme = str(i.get("loadBalancingScheme") or default)
        if scheme.startswith("EXTERNAL"):
            return f"{scheme} load balancer, port {i.get('portRange') or 'all'}"
    elif r.type == RUN_SERVICE:
        ingress = i.get("ingress") or "INGRESS_TRAFFIC_ALL"  # the provider's default
        if ingress == "INGRESS_TRAFFIC_ALL":
            who = "no invoker check" if i.get("invokerIamDisabled") else "IAM decides who may invoke"
            return f"Cloud Run service {i.get('name')} takes traffic from the internet at its run.app URL ({who})"
    elif r.type == FIREWALL:
        anywhere = _from_anywhere(i)
        if anywhere and not i.get("disabled") and (i.get("direction") or "INGRESS") == "INGRESS":
            allowed = ", ".join(_ports(a) for a in i.get("allows") or [])
            if allowed:
                return f"firewall allows {allowed} from {', '.join(anywhere)}"
    elif r.type == DNS_RECORD:
        how = "proxied through Cloudflare" if i.get("proxied") else "DNS only, straight to the origin"
        return f"{i.get('name')} {i.get('type')} ({how})"
    elif r.type == WORKER_DOMAIN:
        return f"{i.get('hostname')} served by the Worker"
    elif r.type == WORKER_ROUTE:
        return f"{i.get('pattern')} runs the Worker"
    elif r.type.startswith("kubernetes:"):
        return _kubernetes_endpoint(r)
    return None


# GKE's GatewayClasses that make an external Application Load Balancer (the -rilb and -regional-internal ones stay in
# the VPC); a Service of type LoadBalancer without the internal annotation and a GCE Ingress are external too.
EXTERNAL_GATEWAY_CLASSES = frozenset(
    {
        "gke-l7-global-external-managed",
        "gke-l7-regional-external-managed",
        "gke-l7-gxlb",
        "gke-l7-global-external-managed-mc",
        "gke-l7-regional-external-managed-mc",
        "gke-l7-gxlb-mc",
    }
)
INTERNAL_LB_ANNOTATION = "networking.gke.io/load-balancer-type"


def _kubernetes_endpoint(r: Resource) -> str | None:
    i = r.inputs
    kind = r.type.rsplit(":", 1)[-1]
    name = _get(i, "metadata", "name") or r.name
    if kind == "Gateway":
        gateway_class = _get(i, "spec", "gatewayClassName")
        if gateway_class in EXTERNAL_GATEWAY_CLASSES:
            return f"GKE Gateway {name} ({gateway_class}): an external Application Load Balancer"
    elif kind == "Service" and _get(i, "spec", "type") == "LoadBalancer":
        annotations = _get(i, "metadata", "annotations") or {}
        if annotations.get(INTERNAL_LB_ANNOTATION) != "Internal":
            return f"Kubernetes Service {name} of type LoadBalancer: an external passthrough load balancer"
    elif kind == "Ingress":
        annotations = _get(i, "metadata", "annotations") or {}
        ingress_class = _get(i, "spec", "ingressClassName") or annotations.get("kubernetes.io/ingress.class") or "gce"
        if ingress_class == "gce":
            return f"GKE Ingress {name}: an external Application Load Balancer"
    return None


def _from_anywhere(i: dict[str, Any]) -> list[str]:
    ranges = []
    for cidr in i.get("sourceRanges") or []:
        try:
            if ipaddress.ip_network(str(cidr), strict=False).prefixlen == 0:
                ranges.append(str(cidr))
        except ValueError:
            continue
    return ranges


def _ports(allow: dict[str, Any]) -> str:
    ports = allow.get("ports") or []
    return f"{allow.get('protocol')}:{','.join(str(p) for p in ports)}" if ports else f"{allow.get('protocol')} (all)"


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _public_members(r: Resource) -> list[str]:
    """allUsers / allAuthenticatedUsers anywhere in a resource's inputs: a member, a members list, or inside an IAM
    policy document (`policyData`, a JSON string)."""
    found: set[str] = set()
    for text in _strings(r.inputs):
        if text in PUBLIC_MEMBERS:
            found.add(text)
        elif text.startswith("{") and any(m in text for m in PUBLIC_MEMBERS):
            try:
                found.update(m for m in _strings(json.loads(text)) if m in PUBLIC_MEMBERS)
            except ValueError:
                continue
    return sorted(found)


def _public_grant(r: Resource) -> str | None:
    members = _public_members(r)
    if not members:
        return None
    i = r.inputs
    target = next(
        (str(i[k]) for k in ("name", "service", "bucket", "secretId", "repository", "datasetId", "topic") if k in i),
        r.name,
    )
    what = f"{', '.join(members)} granted {i.get('role') or 'roles in a policy'} on {target}"
    if r.type in BUCKET_GRANTS:  # a public bucket is public everywhere, not only through the CDN in front of it
        what += " (readable directly from Cloud Storage as well as through Cloud CDN)"
    return what


def _grant(r: Resource) -> str:
    i = r.inputs
    members = [str(i["member"])] if "member" in i else [str(m) for m in i.get("members") or []]
    scope = str(i.get("project") or i.get("folder") or i.get("orgId") or "the provider's project")
    what = f"{i.get('role') or 'a policy'} to {', '.join(members) or 'the members of its policy'} on {scope}"
    condition = _get(i, "condition", "title")
    return f"{what} (condition: {condition})" if condition else what


def _unprotected(r: Resource, protect: bool) -> str | None:
    problems = []
    flag = STATEFUL.get(r.type)
    if flag is not None:
        key, safe = flag
        if (r.inputs.get(key) is True) != safe:
            problems.append(f"{key} {r.inputs.get(key)}")
    else:
        problems += [f"{key} false" for key in PROTECTION_INPUTS if r.inputs.get(key) is False]
    stateful = r.type in STATEFUL or r.type in DISKS
    if protect and stateful and not r.protect and not (r.type in RETAINED and r.retain_on_delete):
        problems.append("no Pulumi protect")
    return ", ".join(problems) if problems else None


def _public_ip(r: Resource) -> str | None:
    i = r.inputs
    if r.type in (ADDRESS, GLOBAL_ADDRESS):
        if str(i.get("addressType") or "EXTERNAL") == "EXTERNAL":  # the provider's default
            return f"static external {'global ' if r.type == GLOBAL_ADDRESS else ''}address {i.get('name') or r.name}"
    elif r.type == SQL_INSTANCE:
        if _get(i, "settings", "ipConfiguration", "ipv4Enabled") is not False:  # on unless turned off
            return "Cloud SQL instance with a public IPv4 address (settings.ipConfiguration.ipv4Enabled)"
    elif r.type in (INSTANCE, INSTANCE_TEMPLATE):
        if any(n.get("accessConfigs") for n in i.get("networkInterfaces") or [] if isinstance(n, dict)):
            return "VM network interface with an access config (an external IP)"
    elif r.type == GKE_CLUSTER:
        private = _get(i, "privateClusterConfig", "enablePrivateNodes") or _get(
            i, "networkConfig", "defaultEnablePrivateNodes"
        )
        if private is not True:
            return "GKE nodes get external IPs (private nodes off)"
    return None


def findings(recording: Recording, *, protect: bool) -> dict[str, list[Finding]]:
    """Every finding of each category, sorted; `protect` says whether the stack asks for Pulumi's protect."""
    found: dict[str, list[Finding]] = {category: [] for category in CATEGORIES}
    checks: list[tuple[str, Callable[[Resource], str | None]]] = [
        (PUBLIC_ENDPOINTS, _endpoint),
        (PUBLIC_GRANTS, _public_grant),
        (WIDE, lambda r: _grant(r) if r.type in WIDE_GRANTS else None),
        (UNPROTECTED, lambda r: _unprotected(r, protect) if protect else None),
        (PUBLIC_IPS, _public_ip),
    ]
    for r in recording.resources:
        if not r.custom or r.type.startswith("pulumi:providers:"):
            continue
        for category, check in checks:
            what = check(r)
            if what:
                found[category].append(Finding(category, r.name, r.type, what))
    return {category: sorted(items) for category, items in found.items()}
