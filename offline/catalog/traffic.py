"""Traffic types: the global load balancer chain (NEGs, backend services, URL maps, certificates, proxies, forwarding
rules), Cloud CDN's backend bucket and its bucket, and the Cloud Armor policy."""

from __future__ import annotations

import hashlib

from offline.catalog import Inputs, MockContext, MockOutputs, Summary, named

COMPUTE = "https://www.googleapis.com/compute/v1"


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


MOCK_OUTPUTS: dict[str, MockOutputs] = {
    "gcp:certificatemanager/dnsAuthorization:DnsAuthorization": _dns_authorization,
    "gcp:certificatemanager/certificate:Certificate": _certificate_manager("certificates"),
    "gcp:certificatemanager/certificateMap:CertificateMap": _certificate_manager("certificateMaps"),
    "gcp:certificatemanager/certificateMapEntry:CertificateMapEntry": lambda c, name, i: {
        "id": f"projects/{c.project}/locations/global/certificateMaps/{i.get('map')}/"
        f"certificateMapEntries/{named(i, name)}",
        "name": named(i, name),
    },
    "gcp:compute/securityPolicy:SecurityPolicy": _fingerprinted("securityPolicies"),
    "gcp:compute/regionNetworkEndpointGroup:RegionNetworkEndpointGroup": _resource(
        "networkEndpointGroups", regional=True
    ),
    "gcp:compute/backendService:BackendService": _fingerprinted("backendServices"),
    "gcp:compute/backendBucket:BackendBucket": _resource("backendBuckets"),
    "gcp:compute/uRLMap:URLMap": _fingerprinted("urlMaps"),
    "gcp:compute/managedSslCertificate:ManagedSslCertificate": _certificate,
    "gcp:compute/sSLPolicy:SSLPolicy": _fingerprinted("sslPolicies"),
    "gcp:compute/targetHttpsProxy:TargetHttpsProxy": _resource("targetHttpsProxies"),
    "gcp:compute/targetHttpProxy:TargetHttpProxy": _resource("targetHttpProxies"),
    "gcp:compute/globalForwardingRule:GlobalForwardingRule": _forwarding_rule,
}


def _security_policy(i: Inputs) -> str:
    rules = i.get("rules") or []
    default: Inputs = next((r for r in rules if r.get("priority") == 2147483647), {})
    waf = [r for r in rules if "evaluatePreconfiguredWaf" in str(r.get("match", {}).get("expr", {}).get("expression"))]
    rate = [r for r in rules if r.get("action") == "rate_based_ban"]
    preview = [r.get("description") for r in rules if r.get("preview")]
    adaptive = (i.get("adaptiveProtectionConfig") or {}).get("layer7DdosDefenseConfig", {}).get("enable")
    user_ip = (i.get("advancedOptionsConfig") or {}).get("userIpRequestHeaders")
    parts = [
        f"{len(rules)} rules",
        f"{len(waf)} WAF",
        f"{len(rate)} rate-based ban" + (f" by {', '.join(user_ip)}" if user_ip else ""),
        f"default {default.get('action', '?')}",
        f"adaptive protection {'on' if adaptive else 'OFF'}",
    ]
    if preview:
        parts.append(f"preview: {', '.join(str(p) for p in preview)}")
    return ", ".join(parts)


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


SUMMARIES: dict[str, Summary] = {
    "gcp:certificatemanager/dnsAuthorization:DnsAuthorization": lambda i: f"DNS authorization for {i.get('domain')}",
    "gcp:certificatemanager/certificate:Certificate": lambda i: (
        f"Google-managed for {', '.join((i.get('managed') or {}).get('domains', []))}, DNS-authorized"
    ),
    "gcp:certificatemanager/certificateMapEntry:CertificateMapEntry": lambda i: (
        f"{i.get('hostname')} -> its certificate"
    ),
    "gcp:compute/securityPolicy:SecurityPolicy": _security_policy,
    "gcp:compute/regionNetworkEndpointGroup:RegionNetworkEndpointGroup": lambda i: (
        f"{i.get('networkEndpointType')} in {i.get('region')} -> Cloud Run {(i.get('cloudRun') or {}).get('service')}"
    ),
    "gcp:compute/backendService:BackendService": _backend_service,
    "gcp:compute/backendBucket:BackendBucket": _cdn,
    "gcp:compute/uRLMap:URLMap": _url_map,
    "gcp:compute/managedSslCertificate:ManagedSslCertificate": lambda i: (
        f"Google-managed for {', '.join((i.get('managed') or {}).get('domains', []))}"
    ),
    "gcp:compute/sSLPolicy:SSLPolicy": lambda i: f"{i.get('profile')} profile, min {i.get('minTlsVersion')}",
    "gcp:compute/targetHttpsProxy:TargetHttpsProxy": lambda i: (
        ("certificate map" if i.get("certificateMap") else f"{len(i.get('sslCertificates') or [])} certificates")
        + f", SSL policy {'set' if i.get('sslPolicy') else 'DEFAULT'}"
    ),
    "gcp:compute/globalForwardingRule:GlobalForwardingRule": lambda i: (
        f"{i.get('loadBalancingScheme')} {i.get('ipProtocol')}:{i.get('portRange')} on the reserved IP"
    ),
}
