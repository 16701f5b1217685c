"""The load balancer chain and its Cloud Armor policy, as the engine would receive them, for every stack."""

from __future__ import annotations

import copy
import ipaddress
import re
from typing import Any

import pulumi
import pytest

import stack_config
from components.cloud_armor import (
    CLOUDFLARE_IPV4,
    CLOUDFLARE_IPV6,
    DEFAULT_RULE_PRIORITY,
    MAX_SRC_IP_RANGES,
    MAX_SUBEXPRESSIONS,
    WAF_RULES,
    SecurityArgs,
    cloudflare_groups,
    plan_edge_rules,
    plan_rules,
)
from components.context import StackContext
from components.load_balancer import LoadBalancer, LoadBalancerArgs, ServerlessBackend, certificate_name
from components.naming import Naming
from components.project_services import ProjectServices
from offline.engine import ROOT, SECRET_MASK, SECRET_PLACEHOLDER, Recording, Resource, run, run_program
from offline.engine import stack_config as stack_values
from tests.conftest import config_of, program_of, raw_config

ENABLED = ("staging", "prod")
POLICY = "gcp:compute/securityPolicy:SecurityPolicy"
POLICY_RULE = "gcp:compute/securityPolicyRule:SecurityPolicyRule"
SECRET_SIG = "4dabf18193072939515e22adb298388d"
BACKEND = "gcp:compute/backendService:BackendService"
NEG = "gcp:compute/regionNetworkEndpointGroup:RegionNetworkEndpointGroup"
URL_MAP = "gcp:compute/uRLMap:URLMap"
CERT = "gcp:compute/managedSslCertificate:ManagedSslCertificate"
RULE = "gcp:compute/globalForwardingRule:GlobalForwardingRule"
CM_AUTH = "gcp:certificatemanager/dnsAuthorization:DnsAuthorization"
CM_CERT = "gcp:certificatemanager/certificate:Certificate"
CM_MAP = "gcp:certificatemanager/certificateMap:CertificateMap"
CM_ENTRY = "gcp:certificatemanager/certificateMapEntry:CertificateMapEntry"
WAF_NAMES = ("sqli", "xss", "lfi", "rfi", "rce", "scannerdetection", "protocolattack", "sessionfixation", "cve-canary")


def lb(stack: str) -> LoadBalancerArgs:
    return config_of(stack).load_balancer


def backend_policy(program: Recording) -> Resource:
    return program.one(POLICY, type="CLOUD_ARMOR")


def edge_policy(program: Recording) -> Resource:
    return program.one(POLICY, type="CLOUD_ARMOR_EDGE")


def backend_rules(program: Recording) -> dict[str, Resource]:
    """The backend policy's rules (one resource each) by their stable name (the description)."""
    policy = backend_policy(program).inputs["name"]
    return {r.inputs["description"]: r for r in program.of(POLICY_RULE, securityPolicy=policy)}


def rules(program: Recording) -> dict[str, dict[str, Any]]:
    """The backend policy's rules' inputs by their stable name."""
    return {name: r.inputs for name, r in backend_rules(program).items()}


def edge_rules(program: Recording) -> dict[str, Resource]:
    """The edge policy's rules (one resource each) by their stable name (the description)."""
    policy = edge_policy(program).inputs["name"]
    return {r.inputs["description"]: r for r in program.of(POLICY_RULE, securityPolicy=policy)}


def revealed_expression(rule: Resource) -> str:
    """The expression of a rule whose match reached the engine as a secret (fails if it was sent in plain text)."""
    expression = rule.revealed_inputs["match"]["expr"]["expression"]
    assert SECRET_SIG in expression, "the expression was not sent as a secret"
    return str(expression["value"])


def expression(rule: dict[str, Any]) -> str:
    return str(rule["match"].get("expr", {}).get("expression", ""))


def bad(stack: str, **changes: Any) -> dict[str, Any]:
    """The stack's raw config with `load_balancer` keys replaced (dotted paths into nested dicts)."""
    raw = copy.deepcopy(raw_config(stack))
    section: dict[str, Any] = raw["load_balancer"]  # type: ignore[assignment]
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target = section
        for key in parents:
            target = target.setdefault(key, {})
        target[leaf] = value
    return raw


def rejects(raw: dict[str, Any], match: str) -> None:
    with pytest.raises(pulumi.RunError, match=match):
        stack_config.parse(raw, stack_file="Pulumi.test.yaml")


# --- which stacks have it -------------------------------------------------------------------------------------------


def test_only_stacks_whose_config_enables_it_get_a_load_balancer(program: Recording, stack: str) -> None:
    enabled = lb(stack).enabled
    assert enabled == (stack in ENABLED)
    assert len(program.of(RULE)) == (2 if enabled else 0)
    assert len(program.of(POLICY)) == (2 if enabled else 0)  # the backend policy and the edge policy
    for key in ("load_balancer_ip", "load_balancer_domains", "security_policy"):
        assert (key in program.outputs) == enabled, key


@pytest.mark.parametrize("stack", ENABLED)
def test_outputs_name_the_reserved_ip_the_domains_and_the_policy(stack: str) -> None:
    program = program_of(stack)
    ipaddress.ip_address(program.outputs["load_balancer_ip"])
    assert program.outputs["load_balancer_domains"] == lb(stack).domains
    assert program.outputs["security_policy"] == backend_policy(program).inputs["name"]


# --- the load balancer chain ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ENABLED)
def test_each_service_gets_a_serverless_neg_for_its_cloud_run_service(stack: str) -> None:
    program, config = program_of(stack), config_of(stack)
    naming = config.naming(stack)
    negs = program.of(NEG)
    # One NEG per service in each region it serves from (platform:serving), each naming the service alone.
    assert sorted((n.inputs["cloudRun"]["service"], n.inputs["region"]) for n in negs) == sorted(
        (naming.physical(s), region) for s in lb(stack).services for region in config.serving_regions()
    )
    for neg in negs:
        assert neg.inputs["networkEndpointType"] == "SERVERLESS"


@pytest.mark.parametrize("stack", ENABLED)
def test_every_backend_service_is_external_managed_https_logged_and_behind_cloud_armor(stack: str) -> None:
    program = program_of(stack)
    policy = backend_policy(program)
    backends = program.of(BACKEND)
    assert len(backends) == len(lb(stack).services)
    for backend in backends:
        assert backend.inputs["loadBalancingScheme"] == "EXTERNAL_MANAGED"
        assert backend.inputs["protocol"] == "HTTPS"
        assert backend.inputs["logConfig"] == {"enable": True, "sampleRate": lb(stack).log_sample_rate}
        assert backend.inputs["securityPolicy"] == policy.outputs["selfLink"]
        assert program.depends_on(backend, policy)
        # Attached before its rules exist, the backend policy would admit every request the edge lets through.
        assert all(program.depends_on(backend, rule) for rule in backend_rules(program).values()), backend.name
        # No CDN on a backend service: every request to it, not only cache misses, meets the backend policy.
        assert not backend.inputs.get("enableCdn"), backend.name
        # IAP goes on the Cloud Run service, never on a backend service whose NEGs use Cloud Run service health.
        assert "iap" not in backend.inputs, backend.name
        assert backend.inputs["edgeSecurityPolicy"] == edge_policy(program).outputs["selfLink"]
        # One group per serving region: the service's serverless NEGs, and nothing else.
        service = backend.name.removeprefix("lb-")
        negs = [n for n in program.of(NEG) if n.name == f"lb-{service}-neg" or n.name.startswith(f"lb-{service}-neg-")]
        assert sorted(g["group"] for g in backend.inputs["backends"]) == sorted(n.outputs["id"] for n in negs)
        assert len(negs) == len(config_of(stack).serving_regions())


@pytest.mark.parametrize("stack", ENABLED)
def test_every_backend_and_the_static_bucket_get_the_edge_policy_only_once_its_rules_exist(stack: str) -> None:
    """Only an edge policy can protect a backend bucket; attached before its rules exist, it would admit everyone."""
    program = program_of(stack)
    policy = edge_policy(program)
    assert policy.inputs["type"] == "CLOUD_ARMOR_EDGE"
    attached = [*program.of(BACKEND), program.one("gcp:compute/backendBucket:BackendBucket")]
    for resource in attached:
        assert resource.inputs["edgeSecurityPolicy"] == policy.outputs["selfLink"], resource.name
        assert all(program.depends_on(resource, rule) for rule in edge_rules(program).values()), resource.name


@pytest.mark.parametrize("stack", ENABLED)
def test_url_map_sends_hosts_and_paths_to_the_services_config_names(stack: str) -> None:
    program, config = program_of(stack), lb(stack)
    backend = {s: program.named(f"lb-{s}").outputs["id"] for s in config.services}
    url_map = program.named("lb-urls").inputs
    assert url_map["defaultService"] == backend[config.default_service or ""]
    matcher_of = {h: rule["pathMatcher"] for rule in url_map["hostRules"] for h in rule["hosts"]}
    assert sorted(matcher_of) == sorted(config.domains)  # every domain is routed, none twice
    matchers = {m["name"]: m for m in url_map["pathMatchers"]}
    for route in config.routes.values():
        for host in route.hosts or config.domains:
            matcher = matchers[matcher_of[host]]
            if route.paths:
                assert {"paths": route.paths, "service": backend[route.service]} in matcher["pathRules"]
            else:
                assert matcher["defaultService"] == backend[route.service]


def test_prod_sends_every_request_but_the_static_assets_to_the_gateway_on_every_host() -> None:
    """The seeds' front door is the API gateway: no web front, no route around it."""
    program = program_of("prod")
    url_map = program.named("lb-urls").inputs
    api = program.named("lb-api").outputs["id"]
    assert url_map["defaultService"] == api
    for matcher in url_map["pathMatchers"]:
        assert matcher["defaultService"] == api
        assert {rule["service"] for rule in matcher.get("pathRules", [])} <= {
            api,
            program.named("lb-static-backend").outputs["id"],
        }


def test_load_balancer_authorization_serves_one_classic_google_managed_certificate_per_domain_from_the_proxy() -> None:
    args = component_args()
    assert args.certificate_authorization == "load_balancer"
    recording = build(args)
    certs = recording.of(CERT)
    assert sorted(d for c in certs for d in c.inputs["managed"]["domains"]) == sorted(args.domains)
    assert all(len(c.inputs["managed"]["domains"]) == 1 for c in certs)
    proxy = recording.named("lb-https").inputs
    assert sorted(proxy["sslCertificates"]) == sorted(c.outputs["id"] for c in certs)
    assert "certificateMap" not in proxy
    assert proxy["urlMap"] == recording.named("lb-urls").outputs["id"]


@pytest.mark.parametrize("stack", ENABLED)
def test_behind_cloudflare_domains_are_proved_by_dns_and_served_from_a_certificate_map(stack: str) -> None:
    program = program_of(stack)
    assert lb(stack).certificate_authorization == "dns"
    assert not program.of(CERT)
    api = program.named("apis-certificatemanager")
    certificate_map = program.one(CM_MAP)
    for domain in lb(stack).domains:
        authorization = program.one(CM_AUTH, domain=domain)
        (certificate,) = [c for c in program.of(CM_CERT) if c.inputs["managed"]["domains"] == [domain]]
        assert certificate.inputs["managed"]["dnsAuthorizations"] == [authorization.outputs["id"]]
        entry = program.one(CM_ENTRY, hostname=domain)
        assert entry.inputs["certificates"] == [certificate.outputs["id"]]
        assert entry.inputs["map"] == certificate_map.inputs["name"]
        assert program.depends_on(certificate, api)
    proxy = program.named("lb-https").inputs
    assert proxy["certificateMap"] == f"//certificatemanager.googleapis.com/{certificate_map.outputs['id']}"
    assert "sslCertificates" not in proxy


@pytest.mark.parametrize("stack", ENABLED)
def test_https_proxy_enforces_an_ssl_policy_of_tls_1_2_or_newer(stack: str) -> None:
    program = program_of(stack)
    policy = program.named("lb-tls")
    assert policy.inputs["profile"] in ("MODERN", "RESTRICTED")
    assert policy.inputs["minTlsVersion"] in ("TLS_1_2", "TLS_1_3")
    assert program.named("lb-https").inputs["sslPolicy"] == policy.outputs["id"]


@pytest.mark.parametrize("stack", ENABLED)
def test_port_80_only_redirects_to_https(stack: str) -> None:
    program = program_of(stack)
    http = program.named("lb-80").inputs
    assert http["target"] == program.named("lb-http").outputs["id"]
    redirect = program.named("lb-redirect")
    assert program.named("lb-http").inputs["urlMap"] == redirect.outputs["id"]
    assert redirect.inputs["defaultUrlRedirect"] == {
        "httpsRedirect": True,
        "redirectResponseCode": "MOVED_PERMANENTLY_DEFAULT",
        "stripQuery": False,
    }
    assert "defaultService" not in redirect.inputs


@pytest.mark.parametrize("stack", ENABLED)
def test_both_forwarding_rules_listen_on_the_one_reserved_global_ip(stack: str) -> None:
    program = program_of(stack)
    address = program.named("lb-ip")
    assert address.inputs["addressType"] == "EXTERNAL"
    assert {r.inputs["portRange"] for r in program.of(RULE)} == {"443", "80"}
    for rule in program.of(RULE):
        assert rule.inputs["ipAddress"] == address.outputs["id"]
        assert rule.inputs["loadBalancingScheme"] == "EXTERNAL_MANAGED"
    assert program.named("lb-443").inputs["target"] == program.named("lb-https").outputs["id"]


@pytest.mark.parametrize("stack", ENABLED)
def test_resources_wait_for_the_apis_they_call(stack: str) -> None:
    program = program_of(stack)
    compute, storage = program.named("apis-compute"), program.named("apis-storage")
    for name in ("lb-ip", "lb-tls", "lb-redirect", *(f"lb-{s}-neg" for s in lb(stack).services)):
        assert program.depends_on(program.named(name), compute), name
    assert all(program.depends_on(policy, compute) for policy in program.of(POLICY))
    assert program.depends_on(program.named("lb-static"), storage)
    # ... and nothing more: the certificates need not wait for the backends.
    for cert in program.of(CERT):
        assert not program.depends_on(cert, backend_policy(program))


# --- Cloud CDN for static assets ------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ENABLED)
def test_static_assets_come_from_a_bucket_anyone_may_read_through_cloud_cdn(stack: str) -> None:
    program, config = program_of(stack), config_of(stack)
    cdn = config.load_balancer.cdn
    bucket = program.named("lb-static")
    # Unsigned cache fills read as allUsers, which public access prevention would refuse.
    assert bucket.inputs["publicAccessPrevention"] == "inherited"
    assert bucket.inputs["labels"]["exposure"] == "cdn"
    assert bucket.inputs["versioning"] == {"enabled": True}
    (noncurrent,) = bucket.inputs["lifecycleRules"]
    assert noncurrent["action"] == {"type": "Delete"}
    assert noncurrent["condition"]["withState"] == "ARCHIVED"  # only replaced or deleted assets, never live ones
    assert noncurrent["condition"]["daysSinceNoncurrentTime"] >= 7
    assert bucket.inputs["uniformBucketLevelAccess"] is True
    assert bucket.protect == config.protection.protect
    assert bucket.inputs["forceDestroy"] is (not config.protection.deletion_protection)
    (reader,) = [g for g in program.of("gcp:storage/bucketIAMMember:BucketIAMMember") if g.parent == bucket.parent]
    assert reader.inputs["role"] == "roles/storage.objectViewer"
    assert reader.inputs["member"] == "allUsers"  # never Cloud CDN's cache-fill agent: none exists without a key
    backend_bucket = program.one("gcp:compute/backendBucket:BackendBucket")
    assert backend_bucket.inputs["enableCdn"] is True
    policy = backend_bucket.inputs["cdnPolicy"]
    assert (policy["cacheMode"], policy["defaultTtl"], policy["maxTtl"]) == (
        cdn.cache_mode,
        cdn.default_ttl,
        cdn.max_ttl,
    )
    for matcher in program.named("lb-urls").inputs["pathMatchers"]:
        assert {"paths": cdn.paths, "service": backend_bucket.outputs["id"]} in matcher["pathRules"]


def test_prod_static_bucket_is_protected_from_destroy() -> None:
    assert program_of("prod").named("lb-static").protect


# --- Cloud Armor ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ENABLED)
def test_waf_blocks_owasp_attacks_and_log4j_at_the_configured_sensitivity(stack: str) -> None:
    security = lb(stack).security
    waf = {name: r for name, r in rules(program_of(stack)).items() if name.startswith("waf-")}
    assert len(waf) == len(WAF_NAMES)
    for base in WAF_NAMES:
        expected = base if base == "cve-canary" else f"{base}-{security.waf_ruleset}-stable"
        (rule,) = [r for r in waf.values() if f"'{expected}'" in expression(r)]
        assert f"{{'sensitivity': {security.waf_sensitivity}}}" in expression(rule)
        assert rule["action"] == "deny(403)"


@pytest.mark.parametrize("stack", ENABLED)
def test_rules_listed_for_preview_are_logged_not_enforced(stack: str) -> None:
    preview = {name for name, r in rules(program_of(stack)).items() if r["preview"]}
    assert preview == {f"waf-{n}" for n in lb(stack).security.preview_rules}


def test_staging_previews_the_noisiest_waf_rules_and_prod_enforces_all() -> None:
    assert lb("staging").security.preview_rules
    assert not any(r["preview"] for r in rules(program_of("prod")).values())


@pytest.mark.parametrize("stack", ENABLED)
def test_one_rate_limit_rule_counts_every_request_so_a_visitor_has_one_budget(stack: str) -> None:
    limit = lb(stack).security.rate_limit
    assert limit is not None
    (banned,) = [r for r in rules(program_of(stack)).values() if r["action"] == "rate_based_ban"]
    assert banned["match"]["config"]["srcIpRanges"] == ["*"]
    options = banned["rateLimitOptions"]
    assert options["rateLimitThreshold"] == {"count": limit.requests_per_interval, "intervalSec": limit.interval_sec}
    assert options["banDurationSec"] == limit.ban_duration_sec
    assert options["conformAction"] == "allow"
    assert options["exceedAction"] == limit.exceed_action


@pytest.mark.parametrize("stack", ENABLED)
def test_behind_the_edge_visitors_are_counted_by_the_address_the_worker_forwards(stack: str) -> None:
    """On a Worker's same-zone subrequest CF-Connecting-IP is whatever x-real-ip the Worker sends, so the load
    balancer counts on the header the Worker sets from the visitor's address and overwrites (edge/worker.js)."""
    policy = backend_policy(program_of(stack)).inputs
    (banned,) = [r for r in rules(program_of(stack)).values() if r["action"] == "rate_based_ban"]
    assert banned["rateLimitOptions"]["enforceOnKey"] == "USER_IP"
    worker = (ROOT / "edge" / "worker.js").read_text()
    set_by_worker = re.search(r'const VISITOR_IP_HEADER = "([^"]+)"', worker)
    assert set_by_worker is not None
    assert policy["advancedOptionsConfig"]["userIpRequestHeaders"] == [set_by_worker.group(1)]


def test_without_cloudflare_only_clients_are_counted_by_source_ip() -> None:
    limit = {"requests_per_interval": 300, "interval_sec": 60, "ban_duration_sec": 300}
    banned = [r for r in plan_rules(SecurityArgs.model_validate({"rate_limit": limit})) if r.name == "rate-limit"]
    assert [r.rate_limit_key for r in banned] == ["IP"]


@pytest.mark.parametrize("stack", ENABLED)
def test_adaptive_protection_watches_for_layer7_ddos(stack: str) -> None:
    config = backend_policy(program_of(stack)).inputs["adaptiveProtectionConfig"]
    assert config["layer7DdosDefenseConfig"]["enable"] is lb(stack).security.adaptive_protection is True


@pytest.mark.parametrize("stack", ENABLED)
def test_behind_the_edge_only_cloudflare_ranges_are_admitted_and_everything_else_denied(stack: str) -> None:
    by_name = {name: r.inputs for name, r in edge_rules(program_of(stack)).items()}
    assert by_name["default-deny"]["priority"] == DEFAULT_RULE_PRIORITY
    assert by_name["default-deny"]["action"] == "deny(403)"
    admitted = [r for r in by_name.values() if r["action"] == "allow"]
    ranges = [cidr for r in admitted for cidr in r["match"]["config"]["srcIpRanges"]]
    assert sorted(ranges) == sorted(CLOUDFLARE_IPV4 + CLOUDFLARE_IPV6)
    assert all(len(r["match"]["config"]["srcIpRanges"]) <= MAX_SRC_IP_RANGES for r in admitted)
    assert set(by_name) == {*cloudflare_groups(), "default-deny"}  # the token is checked by the backend policy


# What an edge policy of an Application Load Balancer can match: the client's address and country. Header, path,
# method, query and scheme filtering (request.*) at the edge, and ASNs, are Media CDN only.
EDGE_ATTRIBUTES = ("origin.ip", "origin.region_code")


def test_no_edge_rule_matches_on_anything_but_the_clients_address_or_country() -> None:
    """Checked over every stack and over the plans of every option, since an edge rule the API refuses would stop
    every backend and the bucket from being attached (they wait for the edge policy's rules)."""
    planned = [
        plan_edge_rules(SecurityArgs(**options))  # type: ignore[arg-type]
        for options in ({}, {"cloudflare_only": True}, {"geo_block": ["KP", "IR", "RU", "BY", "CU", "SY"]})
    ]
    expressions = [r.expression for rules_ in planned for r in rules_ if r.expression]
    for stack in ENABLED:
        for rule in edge_rules(program_of(stack)).values():
            match = rule.revealed_inputs["match"]
            assert SECRET_SIG not in match, f"{rule.name}: an edge rule holds no secret"
            expressions.append(match.get("expr", {}).get("expression", ""))
    assert expressions, "the country blocks are expressions"
    for text in expressions:
        assert "request." not in text, text
        assert "origin.asn" not in text, text
        attributes = set(re.findall(r"\b(?:origin|request)\.[a-z_]+", text))
        assert attributes <= set(EDGE_ATTRIBUTES), text


@pytest.mark.parametrize("stack", ENABLED)
def test_behind_the_edge_the_origin_token_is_checked_before_any_backend_rule_admits_or_reads_the_visitor(
    stack: str,
) -> None:
    by_name = rules(program_of(stack))
    origin = by_name["origin-auth"]
    assert origin["action"] == "deny(403)"
    # Every other rule comes later: the rate limit admits what conforms (and counts by X-Visitor-IP), the admin
    # allow-list reads origin.user_ip, the default admits; none may see a request without the token.
    assert all(origin["priority"] < r["priority"] for name, r in by_name.items() if name != "origin-auth")


@pytest.mark.parametrize("stack", ENABLED)
def test_behind_the_edge_a_request_without_this_zones_origin_token_is_refused_and_the_token_stays_secret(
    stack: str,
) -> None:
    program = program_of(stack)
    rule = backend_rules(program)["origin-auth"]
    assert rule.inputs["match"] == {"expr": {"expression": SECRET_MASK}}  # never in plain text in the plan or state
    # Only that rule's expression is secret: every other rule of either policy stays readable in a preview.
    others = [r for r in [*backend_rules(program).values(), *edge_rules(program).values()] if r is not rule]
    assert others
    assert all(SECRET_MASK not in str(r.inputs["match"]) for r in others)
    header = "request.headers['x-origin-auth']"
    assert revealed_expression(rule) == f"!has({header}) || {header} != '{SECRET_PLACEHOLDER}'"
    # The token is platform:origin_token, the one the Worker sends in the header this rule reads.
    (script,) = program.of("cloudflare:index/workersScript:WorkersScript")
    binding = {b["name"]: b for b in script.revealed_inputs["bindings"]}["ORIGIN_TOKEN"]
    assert binding["text"]["value"] == SECRET_PLACEHOLDER
    assert 'headers.set("X-Origin-Auth", env.ORIGIN_TOKEN)' in (ROOT / "edge" / "worker.js").read_text()
    assert "offline-secret" not in str([r.inputs for r in program.resources])


@pytest.mark.parametrize("stack", ENABLED)
def test_the_worker_takes_a_new_origin_token_only_once_the_backend_policy_accepts_it(stack: str) -> None:
    program = program_of(stack)
    (script,) = program.of("cloudflare:index/workersScript:WorkersScript")
    assert program.depends_on(script, backend_rules(program)["origin-auth"])


def with_tokens(current: str, accepted: str | None) -> Resource:
    """The prod origin-auth rule with these origin tokens (and a second accepted one while rotating)."""
    values, _ = stack_values("prod")
    values = {**values, "platform:origin_token": current}
    if accepted is None:
        values.pop("platform:origin_token_accepted", None)
    else:
        values["platform:origin_token_accepted"] = accepted
    return backend_rules(run_program("prod", config=values))["origin-auth"]


def test_while_rotating_the_backend_policy_accepts_the_current_and_the_accepted_token() -> None:
    current, accepted = "Q2hhbmdlZC10b2tlbi0xMjM0NTY3OA==", "UHJldmlvdXMtdG9rZW4tODc2NTQzMjE="
    header = "request.headers['x-origin-auth']"
    assert revealed_expression(with_tokens(current, accepted)) == (
        f"!has({header}) || ({header} != '{current}' && {header} != '{accepted}')"
    )
    assert revealed_expression(with_tokens(current, None)) == f"!has({header}) || {header} != '{current}'"


@pytest.mark.parametrize("token", ["short", "quote'd-token-1234567890", "back\\slash-token-1234567890"])
def test_an_origin_token_that_could_break_the_rule_expression_stops_the_program_without_printing_it(
    token: str,
) -> None:
    with pytest.raises(pulumi.RunError) as raised:
        with_tokens(token, None)
    message = str(raised.value)
    assert "platform:origin_token" in message
    assert token not in message


def test_prod_repeats_the_edge_admin_allow_list_at_the_load_balancer() -> None:
    edge = config_of("prod").edge
    assert edge is not None
    assert edge.waf.admin is not None
    admin = rules(program_of("prod"))["admin-allowlist"]
    assert admin["action"] == "deny(403)"
    assert expression(admin) == (
        "(request.path.urlDecode().lower().startsWith('/admin')) && !(inIpRange(origin.user_ip, '203.0.113.0/24'))"
    )
    assert [str(c) for c in edge.waf.admin.allowed_cidrs] == ["203.0.113.0/24"]
    assert admin["priority"] < min(r["priority"] for n, r in rules(program_of("prod")).items() if n.startswith("waf-"))
    assert rules(program_of("prod"))["origin-auth"]["priority"] < admin["priority"]
    assert "admin-allowlist" not in rules(program_of("staging"))  # staging's edge challenges instead: nothing to repeat


def test_an_admin_allow_list_that_does_not_fit_one_armor_rule_is_refused() -> None:
    raw = copy.deepcopy(raw_config("prod"))
    admin = raw["edge"]["waf"]["admin"]  # type: ignore[index]
    admin["allowed_cidrs"] = ["203.0.113.0/26", "203.0.113.64/26", "198.51.100.0/24", "192.0.2.0/24", "10.8.0.0/16"]
    rejects(raw, r"edge\.waf\.admin\.allowed_cidrs: the load balancer repeats the admin allow-list .* \(got 6\)")


def test_behind_the_edge_every_load_balancer_hostname_is_reached_through_the_worker() -> None:
    raw = copy.deepcopy(raw_config("prod"))
    raw["edge"]["worker"]["routes"] = {}  # type: ignore[index]
    rejects(raw, r"edge\.hostnames\.api\.example\.com: requests for 'api\.example\.com' would reach the load bal")
    raw["edge"]["worker"]["routes"] = {"api": "api.example.com/v1/*"}  # type: ignore[index]
    rejects(raw, r"edge\.hostnames\.api\.example\.com: .* add a worker\.routes entry 'api\.example\.com/\*'")


def test_admitting_only_the_zone_needs_an_edge_to_send_the_token() -> None:
    raw = {k: v for k, v in raw_config("prod").items() if k != "edge"}
    rejects(raw, r"load_balancer\.security\.cloudflare_only: .* this stack has no platform:edge")


def test_without_cloudflare_only_every_source_is_admitted_and_configured_countries_are_blocked_at_the_edge() -> None:
    by_name = {r.name: r for r in plan_edge_rules(SecurityArgs(geo_block=["KP"]))}
    assert by_name["default-allow"].action == "allow"
    geo = [r for n, r in by_name.items() if n.startswith("geo-block-")]
    assert [r.expression for r in geo] == ["origin.region_code == 'KP'"]
    assert all(r.action == "deny(403)" for r in geo)
    assert "origin-auth" not in by_name
    backend = plan_rules(SecurityArgs(geo_block=["KP"]))
    assert not [r for r in backend if r.name.startswith("geo-block-")]
    assert "origin-auth" not in {r.name for r in backend}


@pytest.mark.parametrize("stack", ENABLED)
def test_every_rule_has_its_own_priority(stack: str) -> None:
    for priorities in (
        [r["priority"] for r in rules(program_of(stack)).values()],
        [r.inputs["priority"] for r in edge_rules(program_of(stack)).values()],
    ):
        assert len(priorities) == len(set(priorities))


def test_rule_priorities_do_not_shift_when_other_rules_are_added() -> None:
    def priorities(args: SecurityArgs) -> dict[str, int]:
        return {r.name: r.priority for r in plan_rules(args) + plan_edge_rules(args)}

    before = priorities(SecurityArgs())
    after = priorities(SecurityArgs(geo_block=["KP", "IR"], cloudflare_only=False))
    assert all(after[name] == priority for name, priority in before.items())


def test_country_blocks_stay_within_the_subexpression_limit() -> None:
    countries = ["AF", "BY", "CU", "IR", "KP", "RU", "SY"]
    geo = [r for r in plan_edge_rules(SecurityArgs(geo_block=countries)) if r.name.startswith("geo-block-")]
    assert all(str(r.expression).count("==") <= MAX_SUBEXPRESSIONS for r in geo)
    assert sorted(c for r in geo for c in str(r.expression).split("'")[1::2]) == countries


def test_cloudflare_groups_are_valid_networks_within_the_per_rule_limit_and_named_by_content() -> None:
    groups = cloudflare_groups()
    for ranges in groups.values():
        assert 0 < len(ranges) <= MAX_SRC_IP_RANGES
        for cidr in ranges:
            assert str(ipaddress.ip_network(cidr)) == cidr
    assert sorted(c for g in groups.values() for c in g) == sorted(CLOUDFLARE_IPV4 + CLOUDFLARE_IPV6)
    # Each group is named after its lowest range, so a rule's name follows its content rather than a position.
    assert set(groups) == {"cloudflare-ipv4-103-21-244-0", "cloudflare-ipv4-173-245-48-0", "cloudflare-ipv6-2400-cb00"}


def test_every_waf_rule_has_a_name_preview_rules_accept() -> None:
    SecurityArgs(preview_rules=list(WAF_RULES))  # type: ignore[arg-type]


# --- the component on its own ---------------------------------------------------------------------------------------

NAMING = Naming(prefix="acme", environment="test")


def component_args(**overrides: Any) -> LoadBalancerArgs:
    values: dict[str, Any] = {
        "enabled": True,
        "domains": ["b.example.com", "a.example.com"],
        "services": ["web", "api"],
        "default_service": "web",
        "routes": {"api": {"paths": ["/api/*"], "service": "api"}},
        **overrides,
    }
    return LoadBalancerArgs.model_validate(values)


def build(args: LoadBalancerArgs, backends: dict[str, ServerlessBackend] | None = None) -> Recording:
    fakes = backends or {
        s: ServerlessBackend(cloud_run_service_name=f"fake-{s}", regions=["europe-west1"]) for s in args.services
    }

    def program() -> None:
        ctx = StackContext(NAMING, "acme-platform-test", "europe-west1", ProjectServices("apis"), True, False)
        balancer = LoadBalancer(
            "lb", args, ctx=ctx, backends=fakes, security_policy="projects/p/global/securityPolicies/fake"
        )
        pulumi.export("dns_authorization_records", balancer.dns_authorization_records)

    return run(program, stack="test")


def certificates(recording: Recording) -> dict[str, Resource]:
    return {r.name: r for r in recording.of(CERT) + recording.of(CM_CERT) + recording.of(CM_AUTH)}


@pytest.mark.parametrize("authorization", ["load_balancer", "dns"])
def test_reordering_or_adding_domains_keeps_each_certificate(authorization: str) -> None:
    before = certificates(build(component_args(certificate_authorization=authorization)))
    domains = ["a.example.com", "c.example.com", "b.example.com"]
    after = certificates(build(component_args(certificate_authorization=authorization, domains=domains)))
    assert before
    for name, cert in before.items():
        assert after[name].inputs == cert.inputs
    assert len(after) > len(before)


def test_dns_authorization_hands_out_the_cname_records_to_publish_per_domain() -> None:
    records = build(component_args(certificate_authorization="dns")).outputs["dns_authorization_records"]
    assert sorted(records) == ["a.example.com", "b.example.com"]
    for domain, (record,) in records.items():
        assert record["name"] == f"_acme-challenge.{domain}."
        assert record["type"] == "CNAME"
        assert record["data"].endswith(".authorize.certificatemanager.goog.")


def test_classic_certificates_have_no_dns_records_to_publish() -> None:
    assert build(component_args()).outputs["dns_authorization_records"] == {}


def test_path_matcher_names_follow_their_routes_and_stay_within_63_characters() -> None:
    long = {f"route-{c * 20}": {"hosts": ["a.example.com"], "paths": [f"/{c}/*"], "service": "api"} for c in "xyz"}
    matchers = {m.hosts: m.name for m in component_args(routes=long).routing()}
    assert matchers[("b.example.com",)] == "default"
    assert matchers[("a.example.com",)].startswith("routes-route-xxxx")
    assert len(matchers[("a.example.com",)]) == 63
    assert [m.name for m in component_args().routing()] == ["default"]


def test_certificate_names_differ_where_domain_slugs_collide() -> None:
    assert certificate_name(NAMING, "a-b.example.com") != certificate_name(NAMING, "a.b-example.com")


def test_the_component_uses_the_backends_it_is_given() -> None:
    recording = build(component_args())
    assert sorted(n.inputs["cloudRun"]["service"] for n in recording.of(NEG)) == ["fake-api", "fake-web"]
    assert {b.inputs["securityPolicy"] for b in recording.of(BACKEND)} == {"projects/p/global/securityPolicies/fake"}


def test_no_cdn_means_no_bucket() -> None:
    recording = build(component_args())
    assert not recording.of("gcp:storage/bucket:Bucket")
    assert not recording.of("gcp:compute/backendBucket:BackendBucket")


# --- a load balancer that serves its CDN bucket alone (bro-ai: the workloads run on GKE) ----------------------------


def test_without_services_every_request_goes_to_the_cdn_bucket_behind_the_edge_policy() -> None:
    program = program_of("bro-ai")
    assert not program.of(BACKEND)
    assert not program.of(NEG)
    backend_bucket = program.one("gcp:compute/backendBucket:BackendBucket")
    assert backend_bucket.inputs["enableCdn"] is True
    assert backend_bucket.inputs["bucketName"] == program.outputs["buckets"]["assets"]
    assert backend_bucket.inputs["edgeSecurityPolicy"] == edge_policy(program).outputs["selfLink"]
    url_map = program.one(URL_MAP, name=config_of("bro-ai").naming("bro-ai").physical("urls"))
    assert url_map.inputs["defaultService"] == backend_bucket.outputs["id"]
    for matcher in url_map.inputs["pathMatchers"]:
        assert matcher["defaultService"] == backend_bucket.outputs["id"]
        assert matcher.get("pathRules", []) == []
    assert [m.default for m in lb("bro-ai").routing()] == ["cdn"]


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"cdn__enabled": False}, r"load_balancer\.services: list the Cloud Run services .* or enable cdn"),
        ({"default_service": "api"}, r"load_balancer\.default_service: 'api' is not one of services, which is empty"),
        (
            {"routes__api": {"paths": ["/api/*"], "service": "api"}},
            r"load_balancer\.routes: a load balancer without services sends every request to its CDN bucket",
        ),
    ],
)
def test_a_load_balancer_without_services_only_serves_its_cdn_bucket(changes: dict[str, Any], match: str) -> None:
    rejects(bad("bro-ai", **changes), match)


# --- bad config gives one line naming the key -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"domains": []}, r"load_balancer\.domains: list at least one domain"),
        ({"domains": ["API.Example.com"]}, r"load_balancer\.domains\.0: 'API\.Example\.com' is not a hostname"),
        ({"domains": ["*.acme.example"]}, r"not a hostname.*wildcards"),
        (
            {"certificate_authorization": "load_balancer", "domains": [f"d{i}.example.net" for i in range(16)]},
            r"load_balancer\.domains: at most 15 domains with",
        ),
        ({"services": ["api", "api"]}, r"load_balancer\.services: api listed twice"),
        ({"default_service": "admin"}, r"load_balancer\.default_service: 'admin' is not one of services: api"),
        (
            {"routes__api-path": {"paths": ["/api/*"], "service": "admin"}},
            r"load_balancer\.routes\.api-path\.service: 'admin' is not one of",
        ),
        (
            {"routes__api-path": {"paths": ["api/*"], "service": "api"}},
            r"routes\.api-path\.paths\.0: 'api/\*' is not a URL map path",
        ),
        (
            {"routes__api-path": {"paths": ["/api*"], "service": "api"}},
            r"routes\.api-path\.paths\.0: '/api\*' puts '\*' after a partial",
        ),
        (
            {"routes__api-host": {"hosts": ["other.example"], "service": "api"}},
            r"routes\.api-host\.hosts: other\.example not in domains",
        ),
        (
            {"routes__api-path": {"paths": ["/static/*"], "service": "api"}},
            r"load_balancer\.cdn\.paths: /static/\* on .* already routed by",
        ),
        ({"routes__empty": {"service": "api"}}, r"routes\.empty\.hosts: a route needs hosts, paths or both"),
        ({"ssl_policy__profile": "COMPATIBLE"}, r"load_balancer\.ssl_policy\.profile: input should be 'MODERN'"),
        ({"ssl_policy__min_tls_version": "TLS_1_0"}, r"load_balancer\.ssl_policy\.min_tls_version"),
        ({"log_sample_rate": 0}, r"load_balancer\.log_sample_rate: input should be greater than 0"),
        ({"cdn__default_ttl": 999_999}, r"load_balancer\.cdn\.default_ttl: default_ttl \(999999\) is above max_ttl"),
        ({"security__waf_sensitivity": 5}, r"load_balancer\.security\.waf_sensitivity: input should be less than"),
        ({"security__preview_rules": ["sqlinjection"]}, r"load_balancer\.security\.preview_rules\.0: input should be"),
        ({"security__geo_block": ["kp"]}, r"load_balancer\.security\.geo_block\.0: string should match"),
        ({"security__rate_limit__interval_sec": 45}, r"load_balancer\.security\.rate_limit\.interval_sec"),
        ({"security__typo": True}, r"load_balancer\.security\.typo is not a known key"),
    ],
)
def test_bad_staging_load_balancer_config_is_one_line_naming_the_key(changes: dict[str, Any], match: str) -> None:
    rejects(bad("staging", **changes), match)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        (
            {"security__geo_block": ["KP"]},
            r"load_balancer\.security\.geo_block: behind Cloudflare the request's country",
        ),
        (
            {"security__rate_limit__ban_threshold": {"requests": 10, "interval_sec": 60}},
            r"load_balancer\.security\.rate_limit\.ban_threshold\.requests: the ban threshold is a lower rate",
        ),
        ({"default_service": None}, r"load_balancer\.default_service: name the service"),
        (
            {"certificate_authorization": "load_balancer"},
            r"load_balancer\.certificate_authorization: behind Cloudflare the domains resolve to Cloudflare",
        ),
    ],
)
def test_bad_prod_load_balancer_config_is_one_line_naming_the_key(changes: dict[str, Any], match: str) -> None:
    rejects(bad("prod", **changes), match)


def test_dns_authorized_certificates_are_not_limited_to_15_domains() -> None:
    extra = [f"d{i}.example.com" for i in range(20)]
    many = [*lb("prod").domains, *extra]
    raw = bad("prod", domains=many)
    raw["edge"]["hostnames"].update({host: {"mode": "dns"} for host in extra})  # type: ignore[index]
    raw["edge"]["worker"]["routes"] = {"all": "*.example.com/*"}  # type: ignore[index]
    parsed = stack_config.parse(raw, stack_file="Pulumi.prod.yaml")
    assert parsed.load_balancer.domains == many


def test_a_disabled_load_balancer_needs_no_other_settings() -> None:
    assert stack_config.parse(bad("dev", enabled=False), stack_file="Pulumi.dev.yaml").load_balancer.domains == []


def test_preview_of_rules_that_do_not_exist_is_rejected() -> None:
    rejects(
        bad("staging", security__geo_block=[], security__preview_rules=["geo-block"]), r"geo_block lists no countries"
    )
