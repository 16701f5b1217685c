"""Traffic types: the global load balancer chain (NEGs, backend services, URL maps, certificates, proxies, forwarding
rules), Cloud CDN's backend bucket, and the Cloud Armor policy."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import pulumi_gcp as gcp

from offline.catalog.facts import API_CALL, Facts, Inputs, MockContext, MockOutputs, named
from offline.estimate.pricing import HOURS, Context, Usage, fixed

if TYPE_CHECKING:
    from offline.engine import Resource

COMPUTE = "https://www.googleapis.com/compute/v1"
LOAD_BALANCER_PART = "part of the load balancer, priced per forwarding rule and by the data it processes"
CERTIFICATES_ARE_FREE = "Certificate Manager bills per certificate beyond the first 100 of a project"


def _resource(kind: str, *, regional: bool = False, **extra: str) -> MockOutputs:
    def outputs(c: MockContext, name: str, i: Inputs) -> Inputs:
        where = f"regions/{i.get('region') or c.region}" if regional else "global"
        path = f"projects/{c.project}/{where}/{kind}/{named(i, name)}"
        return {"id": path, "selfLink": f"{COMPUTE}/{path}", "name": named(i, name), **extra}

    return outputs


def _fingerprinted(kind: str) -> MockOutputs:
    base = _resource(kind)
    return lambda c, name, i: {**base(c, name, i), "fingerprint": hashlib.sha256(name.encode()).hexdigest()[:12]}


def _certificate(c: MockContext, name: str, i: Inputs) -> Inputs:
    out = _resource("sslCertificates")(c, name, i)
    domains = (i.get("managed") or {}).get("domains", [])
    digest = int(hashlib.sha256(name.encode()).hexdigest(), 16)
    return {**out, "certificateId": digest % 10**18, "subjectAlternativeNames": domains, "type": "MANAGED"}


def _forwarding_rule(c: MockContext, name: str, i: Inputs) -> Inputs:
    return {**_resource("forwardingRules")(c, name, i), "pscConnectionStatus": ""}


def _certificate_manager(kind: str) -> MockOutputs:
    def outputs(c: MockContext, name: str, i: Inputs) -> Inputs:
        path = f"projects/{c.project}/locations/{i.get('location') or 'global'}/{kind}/{named(i, name)}"
        return {"id": path, "name": named(i, name)}

    return outputs


def _dns_authorization(c: MockContext, name: str, i: Inputs) -> Inputs:
    token = hashlib.sha256(f"{c.project}/{i.get('domain')}".encode()).hexdigest()
    record = {
        "name": f"_acme-challenge.{i.get('domain')}.",
        "type": "CNAME",
        "data": f"{token[:8]}-{token[8:12]}-{token[12:16]}.{int(token[16], 16)}.authorize.certificatemanager.goog.",
    }
    return {**_certificate_manager("dnsAuthorizations")(c, name, i), "dnsResourceRecords": [record]}


def _security_policy(i: Inputs) -> str:
    kind = "edge policy (CLOUD_ARMOR_EDGE)" if i.get("type") == "CLOUD_ARMOR_EDGE" else "backend policy (CLOUD_ARMOR)"
    rules = i.get("rules") or []
    parts = [f"{kind}: its rules are separate SecurityPolicyRule resources" if not rules else kind]
    if rules:
        default: Inputs = next((r for r in rules if r.get("priority") == 2147483647), {})
        expressions = [str(r.get("match", {}).get("expr", {}).get("expression")) for r in rules]
        preview = [r.get("description") for r in rules if r.get("preview")]
        parts += [
            f"{len(rules)} rules",
            f"{sum('evaluatePreconfiguredWaf' in e for e in expressions)} WAF",
            f"{sum(r.get('action') == 'rate_based_ban' for r in rules)} rate-based ban",
            f"default {default.get('action', '?')}",
        ]
        if preview:
            parts.append(f"preview: {', '.join(str(p) for p in preview)}")
    if i.get("type") != "CLOUD_ARMOR_EDGE":
        adaptive = (i.get("adaptiveProtectionConfig") or {}).get("layer7DdosDefenseConfig", {}).get("enable")
        user_ip = (i.get("advancedOptionsConfig") or {}).get("userIpRequestHeaders")
        parts.append(f"adaptive protection {'on' if adaptive else 'OFF'}")
        if user_ip:
            parts.append(f"visitor address from {', '.join(user_ip)}")
    return ", ".join(parts)


def _security_policy_rule(i: Inputs) -> str:
    match = i.get("match")
    if not isinstance(match, dict):
        what = "match hidden (a secret)"
    elif (match.get("expr") or {}).get("expression"):
        what = f"if {match['expr']['expression']}"
    else:
        what = f"from {', '.join((match.get('config') or {}).get('srcIpRanges') or [])}"
    preview = " (preview)" if i.get("preview") else ""
    limit = i.get("rateLimitOptions") or {}
    if limit:
        threshold = limit.get("rateLimitThreshold") or {}
        what += (
            f", {threshold.get('count')} per {threshold.get('intervalSec')}s per {limit.get('enforceOnKey')}, then "
            f"{limit.get('exceedAction')} (ban {limit.get('banDurationSec')}s)"
        )
    return f"priority {i.get('priority')}: {i.get('action')}{preview} {what}"


def _backend_service(i: Inputs) -> str:
    log = i.get("logConfig") or {}
    armor = "Cloud Armor" if i.get("securityPolicy") else "NO Cloud Armor"
    logs = f"logs {log.get('sampleRate')}" if log.get("enable") else "NOT logged"
    return f"{i.get('loadBalancingScheme')} {i.get('protocol')}, {len(i.get('backends') or [])} NEG, {armor}, {logs}"


def _url_map(i: Inputs) -> str:
    redirect = i.get("defaultUrlRedirect")
    if redirect:
        return f"redirect to HTTPS ({redirect.get('redirectResponseCode')})"
    hosts = [h for rule in i.get("hostRules") or [] for h in rule.get("hosts", [])]
    paths = sum(len(m.get("pathRules") or []) for m in i.get("pathMatchers") or [])
    return f"{len(hosts)} hosts, {len(i.get('pathMatchers') or [])} path matchers, {paths} path rules"


def _cdn(i: Inputs) -> str:
    policy = i.get("cdnPolicy") or {}
    ttls = f"TTL default {policy.get('defaultTtl')}s max {policy.get('maxTtl')}s" if policy.get("defaultTtl") else ""
    return ", ".join(p for p in (f"CDN {'on' if i.get('enableCdn') else 'OFF'}", policy.get("cacheMode"), ttls) if p)


def _security_policy_price(r: Resource, ctx: Context) -> list[Usage]:
    """Cloud Armor Standard bills "per policy, per rule, per request". Every request at the edge reaches the load
    balancer, where the edge policy and then the backend policy evaluate it: each policy is billed for it (the pages
    found do not say whether a request evaluated by two policies is billed once; this is the upper bound)."""
    # Inline rules only: rules that are SecurityPolicyRule resources (the default rule among them) are priced there.
    rules = len(r.inputs.get("rules") or [])
    return [
        Usage("policy", "armor.policy", 1),
        *([Usage(f"{rules} rules", "armor.rule", rules)] if rules else []),
        Usage(
            f"{ctx.profile.requests_per_month:,} requests evaluated",
            "armor.requests",
            ctx.profile.requests_per_month / 1e6,
        ),
    ]


def _serverless_neg(i: Inputs) -> str:
    service = (i.get("cloudRun") or {}).get("service")
    return f"{i.get('networkEndpointType')} in {i.get('region')} -> Cloud Run {service}"


def _domains(i: Inputs) -> str:
    return ", ".join((i.get("managed") or {}).get("domains", []))


RECORDS = (
    Facts(
        gcp.certificatemanager.DnsAuthorization,
        outputs=_dns_authorization,
        summary=lambda i: f"DNS authorization for {i.get('domain')}",
        create_seconds=API_CALL,
        free=CERTIFICATES_ARE_FREE,
    ),
    Facts(
        gcp.certificatemanager.Certificate,
        outputs=_certificate_manager("certificates"),
        summary=lambda i: f"Google-managed for {_domains(i)}, DNS-authorized",
        create_seconds=API_CALL,
        free=CERTIFICATES_ARE_FREE,
    ),
    Facts(
        gcp.certificatemanager.CertificateMap,
        outputs=_certificate_manager("certificateMaps"),
        summary=lambda i: f"{i.get('name')}: its entries pick a certificate per hostname (SNI)",
        create_seconds=API_CALL,
        free=CERTIFICATES_ARE_FREE,
    ),
    Facts(
        gcp.certificatemanager.CertificateMapEntry,
        outputs=lambda c, name, i: {
            "id": f"projects/{c.project}/locations/global/certificateMaps/{i.get('map')}/"
            f"certificateMapEntries/{named(i, name)}",
            "name": named(i, name),
        },
        summary=lambda i: f"{i.get('hostname')} -> its certificate",
        create_seconds=API_CALL,
        free=CERTIFICATES_ARE_FREE,
    ),
    Facts(
        gcp.compute.GlobalForwardingRule,
        outputs=_forwarding_rule,
        summary=lambda i: (
            f"{i.get('loadBalancingScheme')} {i.get('ipProtocol')}:{i.get('portRange')} on the reserved IP"
        ),
        create_seconds=20,
        price=fixed("forwarding rule", "lb.forwarding_rule", lambda ctx: HOURS),
        label=lambda i: "global HTTPS load balancer",
    ),
    Facts(
        gcp.compute.SecurityPolicy,
        outputs=_fingerprinted("securityPolicies"),
        summary=_security_policy,
        create_seconds=20,
        price=_security_policy_price,
        label=lambda i: "Cloud Armor",
    ),
    Facts(
        gcp.compute.SecurityPolicyRule,
        outputs=lambda c, name, i: {
            "id": f"projects/{c.project}/global/securityPolicies/{i.get('securityPolicy')}/{i.get('priority')}"
        },
        summary=_security_policy_rule,
        create_seconds=API_CALL,
        price=fixed("rule", "armor.rule"),
    ),
    Facts(
        gcp.compute.RegionNetworkEndpointGroup,
        outputs=_resource("networkEndpointGroups", regional=True),
        summary=_serverless_neg,
        create_seconds=API_CALL,
        free=LOAD_BALANCER_PART,
    ),
    Facts(
        gcp.compute.BackendService,
        outputs=_fingerprinted("backendServices"),
        summary=_backend_service,
        create_seconds=30,
        free=LOAD_BALANCER_PART,
    ),
    Facts(
        gcp.compute.BackendBucket,
        outputs=_resource("backendBuckets"),
        summary=_cdn,
        create_seconds=API_CALL,
        free=LOAD_BALANCER_PART + "; its bucket is priced; Cloud CDN cache egress and fills are not modelled",
    ),
    Facts(
        gcp.compute.URLMap,
        outputs=_fingerprinted("urlMaps"),
        summary=_url_map,
        create_seconds=15,
        free=LOAD_BALANCER_PART,
    ),
    Facts(
        gcp.compute.ManagedSslCertificate,
        outputs=_certificate,
        summary=lambda i: f"Google-managed for {_domains(i)}",
        create_seconds=60,  # the resource; provisioning continues after
        free="Google-managed certificates are free",
    ),
    Facts(
        gcp.compute.SSLPolicy,
        outputs=_fingerprinted("sslPolicies"),
        summary=lambda i: f"{i.get('profile')} profile, min {i.get('minTlsVersion')}",
        create_seconds=API_CALL,
        free=LOAD_BALANCER_PART,
    ),
    Facts(
        gcp.compute.TargetHttpsProxy,
        outputs=_resource("targetHttpsProxies"),
        summary=lambda i: (
            ("certificate map" if i.get("certificateMap") else f"{len(i.get('sslCertificates') or [])} certificates")
            + f", SSL policy {'set' if i.get('sslPolicy') else 'DEFAULT'}"
        ),
        create_seconds=15,
        free=LOAD_BALANCER_PART,
    ),
    Facts(
        gcp.compute.TargetHttpProxy,
        outputs=_resource("targetHttpProxies"),
        summary=lambda i: f"URL map {str(i.get('urlMap') or '').rsplit('/', 1)[-1]}",
        create_seconds=API_CALL,
        free=LOAD_BALANCER_PART,
    ),
)
