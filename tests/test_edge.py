"""The Cloudflare edge as the engine would receive it: zone hardening, the Worker upload, DNS, rulesets, and the
config rules that stop a bad edge config at plan time instead of at the edge."""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.runtime.mocks import MockResourceArgs

import stack_config
from components.edge import COMPATIBILITY_DATE, MAIN_MODULE, WORKER_SCRIPT, EdgeWorker
from components.routing import route_of
from offline.engine import ROOT, SECRET_MASK, SECRET_PLACEHOLDER, Recording, run, run_program
from offline.engine import stack_config as stack_values
from offline.mocks import PlatformMocks
from tests.conftest import config_of, program_of, raw_config
from tests.docs import code_blocks

ZONE_SETTING = "cloudflare:index/zoneSetting:ZoneSetting"
SCRIPT = "cloudflare:index/workersScript:WorkersScript"
RULESET = "cloudflare:index/ruleset:Ruleset"
RECORD = "cloudflare:index/dnsRecord:DnsRecord"
CUSTOM_DOMAIN = "cloudflare:index/workersCustomDomain:WorkersCustomDomain"
ROUTE = "cloudflare:index/workersRoute:WorkersRoute"
SECRET_SIG = "4dabf18193072939515e22adb298388d"
FAKE_LB_IP = "203.0.113.10"
FAKE_RUN_APP = "https://{}-abc123-ew.a.run.app"
CM_AUTH = "gcp:certificatemanager/dnsAuthorization:DnsAuthorization"
EDGE_STACKS = ("dev", "prod")


def secret(value: Any) -> Any:
    """The value inside the engine's secret envelope; fails if the value was not sent as a secret."""
    assert isinstance(value, dict), f"not a secret: {value!r}"
    assert SECRET_SIG in value, f"not a secret: {value!r}"
    return value["value"]


def bindings(program: Recording) -> dict[str, dict[str, Any]]:
    script = program.one(SCRIPT)
    return {b["name"]: b for b in script.revealed_inputs["bindings"]}


def build(config: stack_config.StackConfig, stack: str, origin_ip: str | None = None) -> Recording:
    """The stack's edge on its own, exporting the component's outputs, with a fake run.app URL per service origin;
    with an origin IP it is built as __main__ builds it with the load balancer."""
    edge = config.edge
    assert edge is not None

    def program() -> None:
        component = EdgeWorker(
            "edge",
            edge,
            naming=config.naming(stack),
            origin_token=pulumi.Output.secret("token"),
            origin_ip=origin_ip,
            service_urls={s: FAKE_RUN_APP.format(s) for s in edge.worker.service_origins().values()},
        )
        pulumi.export("hostnames", component.hostnames)
        pulumi.export("worker_name", component.worker_name)

    return run(program, stack=stack)


def edge_with_lb_ip(stack: str) -> Recording:
    return build(config_of(stack), stack, origin_ip=FAKE_LB_IP)


def bad_edge(stack: str = "dev", **changes: Any) -> dict[str, Any]:
    """The stack's edge config with top-level keys replaced, as parse() input."""
    raw = copy.deepcopy(raw_config(stack))
    edge = raw["edge"]
    assert isinstance(edge, dict)
    edge.update(changes)
    return raw


def worker(stack: str = "dev", **changes: Any) -> dict[str, Any]:
    edge = raw_config(stack)["edge"]
    assert isinstance(edge, dict)
    return {**copy.deepcopy(edge["worker"]), **changes}


def fails(raw: dict[str, Any], match: str) -> None:
    with pytest.raises(pulumi.RunError, match=match):
        stack_config.parse(raw, stack_file="Pulumi.dev.yaml")


# --- Zone settings -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", EDGE_STACKS)
def test_each_zone_setting_is_its_own_resource_with_the_hardened_value(stack: str) -> None:
    program = program_of(stack)
    settings = {r.inputs["settingId"]: r.inputs for r in program.of(ZONE_SETTING)}
    assert {k: v["value"] for k, v in settings.items() if k != "security_header"} == {
        "ssl": "strict",
        "min_tls_version": "1.2",
        "tls_1_3": "on",
        "always_use_https": "on",
        "automatic_https_rewrites": "on",
    }
    config = config_of(stack).edge
    assert config is not None
    assert {v["zoneId"] for v in settings.values()} == {config.zone_id}


@pytest.mark.parametrize("stack", EDGE_STACKS)
def test_hsts_goes_through_security_header_with_snake_case_keys(stack: str) -> None:
    value = program_of(stack).one(ZONE_SETTING, settingId="security_header").inputs["value"]
    hsts = value["strict_transport_security"]
    assert list(value) == ["strict_transport_security"]
    assert set(hsts) == {"enabled", "max_age", "include_subdomains", "preload", "nosniff"}
    assert hsts["enabled"] is True
    assert hsts["nosniff"] is True
    assert hsts["max_age"] >= 31536000


def test_prod_preloads_hsts_and_dev_does_not() -> None:
    def preload(stack: str) -> bool:
        value = program_of(stack).one(ZONE_SETTING, settingId="security_header").inputs["value"]
        return bool(value["strict_transport_security"]["preload"])

    assert preload("prod")
    assert not preload("dev")


@pytest.mark.parametrize("stack", EDGE_STACKS)
def test_the_worker_sends_the_same_hsts_policy_as_the_zone_setting(stack: str) -> None:
    """Inside the zone the security_header setting replaces the Worker's header; both come from edge.hsts, so the
    visitor gets the configured policy whichever of the two sets it."""
    program = program_of(stack)
    zone = program.one(ZONE_SETTING, settingId="security_header").inputs["value"]["strict_transport_security"]
    header = bindings(program)["HSTS"]
    assert header["type"] == "plain_text"
    expected = f"max-age={zone['max_age']}"
    expected += "; includeSubDomains" * zone["include_subdomains"] + "; preload" * zone["preload"]
    assert header["text"] == expected


def test_dev_uploads_the_hsts_value_the_workerd_test_runs_with_and_it_does_not_preload() -> None:
    helpers = (ROOT / "edge" / "test" / "helpers.mjs").read_text()
    tested = re.search(r'export const DEV_HSTS = "([^"]+)"', helpers)
    assert tested is not None
    uploaded = bindings(program_of("dev"))["HSTS"]["text"]
    assert uploaded == tested.group(1) == "max-age=31536000; includeSubDomains"
    assert "preload" not in uploaded


# --- The Worker ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", EDGE_STACKS)
def test_worker_uploads_the_repo_script_as_an_es_module(stack: str) -> None:
    script = program_of(stack).one(SCRIPT)
    assert script.inputs["mainModule"] == MAIN_MODULE == "worker.js"
    assert script.inputs["content"] == (ROOT / "edge" / "worker.js").read_text()
    assert WORKER_SCRIPT == ROOT / "edge" / "worker.js"
    assert "export default" in script.inputs["content"]
    assert "bodyPart" not in script.inputs  # body_part would make it a service worker


def test_worker_compatibility_date_is_the_one_the_workerd_tests_use() -> None:
    helpers = (ROOT / "edge" / "test" / "helpers.mjs").read_text()
    tested = re.search(r'COMPATIBILITY_DATE = "([0-9-]+)"', helpers)
    assert tested is not None
    assert program_of("prod").one(SCRIPT).inputs["compatibilityDate"] == tested.group(1) == COMPATIBILITY_DATE


@pytest.mark.parametrize("stack", EDGE_STACKS)
def test_worker_bindings_carry_the_origins_as_text_and_the_token_as_a_secret(stack: str) -> None:
    program = program_of(stack)
    config = config_of(stack).edge
    assert config is not None
    found = bindings(program)
    assert found["ORIGINS"]["type"] == "plain_text"
    assert found["ORIGINS"]["text"] == config.worker.origins_json(
        program.outputs["service_urls"], config.passthrough_hosts()
    )
    assert found["ORIGIN_TOKEN"]["type"] == "secret_text"
    assert secret(found["ORIGIN_TOKEN"]["text"]) == SECRET_PLACEHOLDER  # read from the stack's secure value
    assert found["MAINTENANCE"] == {"name": "MAINTENANCE", "type": "plain_text", "text": "false"}
    assert found["ORIGIN_TIMEOUT_MS"]["text"] == str(config.worker.origin_timeout_ms)
    assert found["MAINTENANCE_RETRY_AFTER"]["text"] == str(config.worker.maintenance_retry_after)


@pytest.mark.parametrize("stack", EDGE_STACKS)
def test_origins_binding_follows_the_worker_schema(stack: str) -> None:
    document = json.loads(bindings(program_of(stack))["ORIGINS"]["text"])
    assert set(document) <= {"origins", "continents", "countries", "default", "external", "passthrough"}
    origins = document["origins"]
    assert origins
    assert all(re.fullmatch(r"[a-z0-9_-]{1,32}", key) for key in origins)
    assert all(re.fullmatch(r"https://[a-z0-9.-]+", url) for url in origins.values())
    referenced = [document["default"], *document["continents"].values(), *document["countries"].values()]
    assert set(referenced) <= set(origins)
    assert set(document["external"]) <= set(origins)


@pytest.mark.parametrize("stack", EDGE_STACKS)
def test_every_worker_origin_is_a_hostname_the_stack_publishes(stack: str) -> None:
    """A load balancer domain with its proxied record, or a service's run.app URL: nothing the stack does not
    create (an origin outside the stack would have to be listed as external, and none is)."""
    program = program_of(stack)
    document = json.loads(bindings(program)["ORIGINS"]["text"])
    assert document["external"] == []
    published = {f"https://{r.inputs['name']}" for r in program.of(RECORD, type="A")}
    assert published <= {f"https://{d}" for d in program.outputs.get("load_balancer_domains", [])}
    run_app = set(program.outputs["service_urls"].values())
    assert document["origins"]
    for url in document["origins"].values():
        assert url in published | run_app, url


def test_prod_has_one_origin_its_load_balancer_until_it_serves_from_a_second_region() -> None:
    document = json.loads(bindings(program_of("prod"))["ORIGINS"]["text"])
    assert document["origins"] == {"eu": "https://origin.example.com"}
    assert (document["default"], document["continents"], document["countries"]) == ("eu", {}, {})


def test_an_origin_the_stack_does_not_publish_is_refused_with_the_forms_an_origin_takes() -> None:
    prod = worker("prod", origins={"eu": "https://origin.example.com", "us": "https://origin-us.example.com"})
    raw = bad_edge("prod", worker={**prod, "continents": {"NA": "us"}})
    with pytest.raises(pulumi.RunError) as raised:
        stack_config.parse(raw, stack_file="Pulumi.prod.yaml")
    message = str(raised.value)
    assert "\n" not in message
    assert re.search(
        r"edge\.worker\.origins\.us: 'origin-us\.example\.com' is not a hostname this stack publishes.*"
        r"\{url: https://host, external: true\}",
        message,
    ), message


def test_a_redirect_only_hostname_is_not_an_origin() -> None:
    raw = bad_edge("prod", worker=worker("prod", origins={"eu": "https://www.example.com"}))
    with pytest.raises(pulumi.RunError, match=r"edge\.worker\.origins\.eu: 'www\.example\.com' is not a hostname"):
        stack_config.parse(raw, stack_file="Pulumi.prod.yaml")


@pytest.mark.parametrize(
    "origin",
    [{"url": "https://origin-us.example.com"}, {"url": "https://origin-us.example.com", "external": False}],
)
def test_an_origin_outside_the_stack_must_be_marked_external(origin: dict[str, Any]) -> None:
    fails(bad_edge(worker=worker(origins={"eu": origin})), r"edge\.worker\.origins\.eu: .* must say so with external")


def test_an_external_origin_is_steered_to_but_listed_as_external() -> None:
    us = {"url": "https://origin-us.example.net", "external": True}
    raw = bad_edge(worker=worker(origins={"eu": {"service": "api"}, "us": us}, continents={"NA": "us"}))
    recording = build(stack_config.parse(raw, stack_file="Pulumi.dev.yaml"), "dev")
    document = json.loads(bindings(recording)["ORIGINS"]["text"])
    assert document["origins"]["us"] == "https://origin-us.example.net"
    assert document["external"] == ["us"]  # the Worker sends it no origin token (edge/test/proxy.test.mjs)
    assert document["continents"] == {"NA": "us"}


def test_an_external_origin_on_a_worker_custom_domain_still_loops() -> None:
    looping = {"url": "https://example.org", "external": True}
    fails(bad_edge(worker=worker(origins={"eu": looping})), r"edge\.worker\.origins\.eu: .*would loop")


def test_origins_binding_does_not_depend_on_the_order_of_the_stack_file() -> None:
    us = {"url": "https://origin-us.example.net", "external": True}
    origins = {"eu": "https://origin.example.com", "us": us}
    continents = {"EU": "eu", "NA": "us", "SA": "us"}

    def document(reverse: bool) -> str:
        order = (lambda d: dict(reversed(list(d.items())))) if reverse else dict
        raw = bad_edge("prod", worker=worker("prod", origins=order(origins), continents=order(continents)))
        parsed = stack_config.parse(raw, stack_file="Pulumi.prod.yaml").edge
        assert parsed is not None
        return parsed.worker.origins_json()

    assert document(reverse=True) == document(reverse=False)


def test_csp_binding_is_sent_only_when_configured() -> None:
    assert "CSP" not in bindings(program_of("dev"))
    raw = bad_edge(worker=worker(csp="default-src 'self'"))
    config = stack_config.parse(raw, stack_file="Pulumi.dev.yaml")
    recording = build(config, "dev")
    assert bindings(recording)["CSP"] == {"name": "CSP", "type": "plain_text", "text": "default-src 'self'"}


@pytest.mark.parametrize("stack", EDGE_STACKS)
def test_worker_observability_is_on(stack: str) -> None:
    observability = program_of(stack).one(SCRIPT).inputs["observability"]
    assert observability["enabled"] is True
    assert observability["logs"]["enabled"] is True


@pytest.mark.parametrize("stack", EDGE_STACKS)
def test_worker_custom_domains_cover_the_hostnames_the_worker_owns(stack: str) -> None:
    program = program_of(stack)
    config = config_of(stack).edge
    assert config is not None
    script_name = program.one(SCRIPT).inputs["scriptName"]
    domains = program.of(CUSTOM_DOMAIN)
    assert sorted(d.inputs["hostname"] for d in domains) == sorted(config.mode_of("worker_custom_domain"))
    assert all(d.inputs["service"] == script_name for d in domains)
    assert all(d.inputs["zoneId"] == config.zone_id for d in domains)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_every_load_balancer_hostname_runs_the_worker_which_sends_it_on_to_its_own_host_rule(stack: str) -> None:
    """The load balancer admits only requests carrying the origin token, so every hostname proxied to it (the api
    hosts, and the origin host that visitors and uptime checks also call) runs the Worker, which sends each request on
    to its own URL (passthrough): it reaches the load balancer with its host, and the api host rule, intact."""
    program, config = program_of(stack), config_of(stack)
    # The gateway takes every domain (the seeds have no web front): the Worker keeps each host for its host rule.
    served = {host: route_of(m, "/") for m in config.load_balancer.routing() for host in m.hosts}
    assert set(served) == set(config.load_balancer.domains)
    assert set(served.values()) == {"api"}
    routes = {r.inputs["pattern"] for r in program.of(ROUTE)}
    records = {r.inputs["name"]: r.inputs for r in program.of(RECORD)}
    passthrough = json.loads(bindings(program)["ORIGINS"]["text"])["passthrough"]
    for host in config.load_balancer.domains:
        assert f"{host}/*" in routes
        assert host in passthrough
        assert (records[host]["type"], records[host]["proxied"]) == ("A", True)
    script = program.one(SCRIPT).inputs["scriptName"]
    assert all(r.inputs["script"] == script for r in program.of(ROUTE))


# --- DNS -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", EDGE_STACKS)
def test_dns_hostnames_get_proxied_a_records_to_the_load_balancer_with_ttl_1(stack: str) -> None:
    config = config_of(stack).edge
    assert config is not None
    records = {r.inputs["name"]: r.inputs for r in edge_with_lb_ip(stack).of(RECORD)}
    for host in config.mode_of("dns"):
        assert records[host]["type"] == "A"
        assert records[host]["content"] == FAKE_LB_IP
    assert all(r["proxied"] is True and r["ttl"] == 1 for r in records.values())
    assert all(r["zoneId"] == config.zone_id for r in records.values())


@pytest.mark.parametrize("stack", EDGE_STACKS)
def test_worker_custom_domains_get_no_dns_record_of_ours(stack: str) -> None:
    config = config_of(stack).edge
    assert config is not None
    names = {r.inputs["name"] for r in edge_with_lb_ip(stack).of(RECORD)}
    assert names.isdisjoint(config.mode_of("worker_custom_domain"))
    assert names == set(config.mode_of("dns")) | set(config.mode_of("redirect"))


@pytest.mark.parametrize("stack", EDGE_STACKS)
def test_redirect_only_hostnames_point_at_the_discard_prefix(stack: str) -> None:
    edge = config_of(stack).edge
    assert edge is not None
    program = program_of(stack)
    for host in edge.mode_of("redirect"):
        record = program.one(RECORD, name=host)
        assert (record.inputs["type"], record.inputs["content"], record.inputs["proxied"]) == ("AAAA", "100::", True)
        assert record.inputs["ttl"] == 1
    assert edge.mode_of("redirect")


def test_without_a_load_balancer_dns_hostnames_are_neither_created_nor_exported() -> None:
    program = program_of("dev")
    assert "load_balancer_ip" not in program.outputs
    assert {r.inputs["name"] for r in program.of(RECORD)} == {"www.example.org"}
    assert program.outputs["edge_hostnames"] == ["example.org", "www.example.org"]


def test_prod_dns_hostnames_are_proxied_records_to_the_load_balancer_ip() -> None:
    program = program_of("prod")
    records = {r.inputs["name"]: r.inputs for r in program.of(RECORD) if r.inputs["type"] == "A"}
    assert set(records) == {"api.example.com", "origin.example.com"}
    for record in records.values():
        assert (record["content"], record["proxied"], record["ttl"]) == (program.outputs["load_balancer_ip"], True, 1)


def test_edge_hostnames_lists_every_hostname_served_once_the_load_balancer_is_wired() -> None:
    recording = edge_with_lb_ip("prod")
    assert recording.outputs["hostnames"] == ["api.example.com", "example.com", "origin.example.com", "www.example.com"]
    assert recording.outputs["worker_name"] == "acme-prod-edge"


# --- Rulesets --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", EDGE_STACKS)
def test_one_ruleset_per_zone_and_phase_and_every_rule_has_a_stable_unique_ref(stack: str) -> None:
    rulesets = program_of(stack).of(RULESET)
    phases = Counter((r.inputs["zoneId"], r.inputs["phase"]) for r in rulesets)
    assert all(count == 1 for count in phases.values()), phases
    assert {phase for _, phase in phases} == {
        "http_request_firewall_custom",
        "http_ratelimit",
        "http_request_cache_settings",
        "http_request_dynamic_redirect",
    }
    for ruleset in rulesets:
        assert ruleset.inputs["kind"] == "zone"
        refs = [rule.get("ref") for rule in ruleset.inputs["rules"]]
        assert all(refs), ruleset.name
        assert len(set(refs)) == len(refs), refs


def import_ids(raw: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> tuple[Recording, dict[str, str | None]]:
    """The stack's program with `raw` config, and the import id the engine received per resource name."""
    received: dict[str, str | None] = {}
    register = PlatformMocks.new_resource

    def recording_import(self: PlatformMocks, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        received[args.name] = args.resource_id
        return register(self, args)

    monkeypatch.setattr(PlatformMocks, "new_resource", recording_import)
    values, _ = stack_values("prod")
    values = {**values, "platform:edge": json.dumps(raw["edge"])}
    return run_program("prod", config=values), received


def test_an_existing_entry_point_ruleset_is_adopted_under_the_component_by_its_import_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    existing = "0123456789abcdef0123456789abcdef"
    raw = bad_edge("prod", existing_rulesets={"http_request_firewall_custom": existing})
    program, received = import_ids(raw, monkeypatch)
    edge = config_of("prod").edge
    assert edge is not None
    waf = program.one(RULESET, phase="http_request_firewall_custom")
    assert received[waf.name] == f"zones/{edge.zone_id}/{existing}"
    # Under the component, with the Cloudflare provider, as created rulesets are; nothing at the stack root.
    (component,) = program.of("platform:components:EdgeWorker")
    assert waf.parent == component.urn
    assert waf.inputs["rules"] == program_of("prod").one(RULESET, phase="http_request_firewall_custom").inputs["rules"]
    assert not waf.protect
    others = [r for r in program.of(RULESET) if r.name != waf.name]
    assert others
    assert not any(received[r.name] for r in others)  # the other phases are created (no import id)


def test_adopting_a_ruleset_for_a_phase_without_rules_is_refused() -> None:
    raw = bad_edge(redirects={}, hostnames={"example.org": {"mode": "worker_custom_domain"}})
    raw["edge"]["existing_rulesets"] = {"http_request_dynamic_redirect": "0123456789abcdef0123456789abcdef"}
    fails(raw, r"edge\.existing_rulesets\.http_request_dynamic_redirect: redirects has no rules")


@pytest.mark.parametrize(
    ("existing", "match"),
    [
        (
            {"http_request_firewall_managed": "0123456789abcdef0123456789abcdef"},
            r"existing_rulesets\.http_request_fire",
        ),
        ({"http_ratelimit": "my-ruleset"}, r"edge\.existing_rulesets\.http_ratelimit: string should match pattern"),
    ],
)
def test_existing_rulesets_are_keyed_by_a_managed_phase_and_hold_a_ruleset_id(existing: Any, match: str) -> None:
    fails(bad_edge(existing_rulesets=existing), match)


@pytest.mark.parametrize("stack", EDGE_STACKS)
def test_no_zone_ruleset_holds_the_origin_token(stack: str) -> None:
    """A rule's values are plain text to anyone who can read the zone's rules: the token lives in the Worker's secret
    binding only (a transform rule setting X-Origin-Auth would publish it)."""
    rulesets = program_of(stack).of(RULESET)
    assert rulesets
    for ruleset in rulesets:
        assert SECRET_PLACEHOLDER not in json.dumps(ruleset.revealed_inputs)
        assert "x-origin-auth" not in json.dumps(ruleset.inputs).lower()


def rules_of(stack: str, phase: str) -> dict[str, dict[str, Any]]:
    ruleset = program_of(stack).one(RULESET, phase=phase)
    return {rule["ref"]: rule for rule in ruleset.inputs["rules"]}


def test_prod_blocks_admin_paths_outside_the_allowed_networks_and_dev_challenges_them() -> None:
    prod = rules_of("prod", "http_request_firewall_custom")["protect-admin"]
    assert prod["action"] == "block"
    assert 'starts_with(http.request.uri.path, "/admin")' in prod["expression"]
    assert "not ip.src in {203.0.113.0/24}" in prod["expression"]
    dev = rules_of("dev", "http_request_firewall_custom")["protect-admin"]
    assert dev["action"] == "managed_challenge"


@pytest.mark.parametrize("stack", EDGE_STACKS)
def test_waf_blocks_probes_and_challenges_suspicious_clients_but_not_verified_bots(stack: str) -> None:
    rules = rules_of(stack, "http_request_firewall_custom")
    assert rules["block-probes"]["action"] == "block"
    assert '"/.env"' in rules["block-probes"]["expression"]
    assert rules["challenge-suspicious"]["action"] == "managed_challenge"
    assert rules["challenge-suspicious"]["expression"].endswith("and not cf.client.bot")


@pytest.mark.parametrize("stack", EDGE_STACKS)
def test_rate_limits_count_per_client_ip_and_block(stack: str) -> None:
    config = config_of(stack).edge
    assert config is not None
    rules = rules_of(stack, "http_ratelimit")
    assert set(rules) == {f"ratelimit-{key}" for key in config.rate_limits}
    for key, limit in config.rate_limits.items():
        rule = rules[f"ratelimit-{key}"]
        assert rule["action"] == "block"
        assert rule["ratelimit"] == {
            "characteristics": ["ip.src", "cf.colo.id"],
            "period": limit.period,
            "requestsPerPeriod": limit.requests,
            "mitigationTimeout": limit.timeout,
        }
        assert "http.request.uri.path" in rule["expression"]


def test_dev_rate_limit_fits_the_free_plan() -> None:
    (rule,) = rules_of("dev", "http_ratelimit").values()
    assert rule["ratelimit"]["period"] == 10
    assert rule["ratelimit"]["mitigationTimeout"] == 10


@pytest.mark.parametrize("stack", EDGE_STACKS)
def test_static_assets_are_cached_and_dynamic_paths_bypass_the_cache_last(stack: str) -> None:
    ruleset = program_of(stack).one(RULESET, phase="http_request_cache_settings")
    static, bypass = ruleset.inputs["rules"]
    assert static["ref"] == "cache-static-assets"
    assert '"css"' in static["expression"]
    assert "http.request.uri.path.extension in" in static["expression"]
    assert static["actionParameters"]["cache"] is True
    assert static["actionParameters"]["edgeTtl"]["mode"] == "override_origin"
    assert bypass["ref"] == "cache-bypass-dynamic"
    assert bypass["actionParameters"] == {"cache": False}


@pytest.mark.parametrize("stack", EDGE_STACKS)
def test_www_redirects_permanently_to_the_apex_keeping_path_and_query(stack: str) -> None:
    edge = config_of(stack).edge
    assert edge is not None
    zone = edge.zone
    rule = rules_of(stack, "http_request_dynamic_redirect")["redirect-www-to-apex"]
    assert rule["action"] == "redirect"
    assert rule["expression"] == f'(http.host eq "www.{zone}")'
    assert rule["actionParameters"]["fromValue"] == {
        "statusCode": 301,
        "preserveQueryString": True,
        "targetUrl": {"expression": f'concat("https://{zone}", http.request.uri.path)'},
    }


# --- Provider, exports, stacks without an edge -----------------------------------------------------------------


def test_cloudflare_provider_takes_the_api_token_as_a_secret(program: Recording) -> None:
    (provider,) = [r for r in program.resources if r.type == "pulumi:providers:cloudflare"]
    assert provider.inputs["apiToken"] == SECRET_MASK
    assert secret(provider.revealed_inputs["apiToken"]) == SECRET_PLACEHOLDER


def test_every_stack_exports_the_edge_outputs(program: Recording, stack: str) -> None:
    assert program.outputs["edge_worker_name"] == f"acme-{stack}-edge"
    assert program.outputs["edge_hostnames"]
    assert "edge_worker_name" not in program.secret_outputs


def test_every_cloudflare_resource_belongs_to_the_edge_component(program: Recording) -> None:
    (edge,) = program.of("platform:components:EdgeWorker")
    cloudflare = [r for r in program.resources if r.type.startswith("cloudflare:")]
    assert cloudflare
    assert all(r.parent == edge.urn for r in cloudflare)


def test_a_stack_without_an_edge_section_has_no_edge_layer() -> None:
    values, _ = stack_values("dev")
    values = {k: v for k, v in values.items() if k != "platform:edge"}
    program = run_program("dev", config=values)
    assert not [r for r in program.resources if r.type.startswith(("cloudflare:", "pulumi:providers:cloudflare"))]
    assert "edge_worker_name" not in program.outputs


# --- Config rules ----------------------------------------------------------------------------------------------


def test_secret_keys_are_never_parsed_as_plain_config() -> None:
    raw = raw_config("dev")
    assert raw["cloudflare_api_token"] == SECRET_PLACEHOLDER
    assert stack_config.parse(raw, stack_file="Pulumi.dev.yaml").edge is not None


@pytest.mark.parametrize(
    ("origin", "message"),
    [
        ("https://203.0.113.7", "Cloudflare refuses Worker fetches to bare IPs"),
        ("http://origin.example.org", "must use https"),
        ("https://origin.example.org/app", "must be a bare origin"),
        ("https://user:pw@origin.example.org", "must be a bare origin"),
        ("https://localhost", "fully qualified hostname"),
    ],
)
def test_an_origin_must_be_a_bare_https_hostname(origin: str, message: str) -> None:
    fails(bad_edge(worker=worker(origins={"eu": origin})), rf"edge\.worker\.origins\.eu: .*{message}")


def test_an_origin_key_follows_the_worker_key_rule() -> None:
    fails(bad_edge(worker=worker(origins={"EU": "https://o.example.net"})), r"edge\.worker\.origins\.EU")


def test_steering_must_name_a_known_origin() -> None:
    fails(bad_edge(worker=worker(continents={"EU": "us"})), r"edge\.worker\.continents\.EU: 'us' is not one of origins")
    fails(bad_edge(worker=worker(default_origin="us")), r"edge\.worker\.default_origin: 'us' is not one of origins")


def test_an_unknown_continent_is_refused() -> None:
    fails(bad_edge(worker=worker(continents={"EUR": "eu"})), r"edge\.worker\.continents\.EUR")


def test_an_origin_served_by_the_worker_itself_is_refused() -> None:
    fails(bad_edge(worker=worker(origins={"eu": "https://example.org"})), r"edge\.worker\.origins\.eu: .*would loop")


def test_a_hostname_outside_the_zone_is_refused() -> None:
    raw = bad_edge(hostnames={"example.org": {"mode": "worker_custom_domain"}, "app.example.net": {"mode": "dns"}})
    fails(raw, r"edge\.hostnames\.app\.example\.net: 'app\.example\.net' is not in the zone example\.org")


def test_an_unknown_hostname_mode_is_refused() -> None:
    fails(bad_edge(hostnames={"example.org": {"mode": "cname"}}), r"edge\.hostnames\.example\.org\.mode")


def test_a_route_must_be_on_a_proxied_dns_hostname() -> None:
    fails(
        bad_edge(worker=worker(routes={"app": "example.org/*"})),
        r"edge\.worker\.routes\.app: 'example\.org' must be a hostname with mode dns",
    )


def test_the_worker_must_serve_something() -> None:
    hostnames = {"api.example.org": {"mode": "dns"}, "origin.example.org": {"mode": "dns"}}
    fails(bad_edge(hostnames=hostnames, redirects={}), r"edge\.worker\.routes: the Worker serves nothing")


def test_a_redirect_hostname_needs_a_redirect_rule() -> None:
    fails(bad_edge(redirects={}), r"edge\.hostnames\.www\.example\.org\.mode: a redirect hostname needs")


def test_a_redirect_must_start_from_a_configured_hostname() -> None:
    redirects = {"old": {"from_host": "old.example.org", "to_host": "example.org"}}
    fails(bad_edge(redirects=redirects), r"edge\.redirects\.old\.from_host: 'old\.example\.org' is not one of")


def test_the_free_plan_allows_one_rate_limiting_rule_with_a_10_second_period() -> None:
    login = {"paths": ["/login"], "requests": 5, "period": 10, "timeout": 10}
    fails(
        bad_edge(rate_limits={"a": login, "b": login}),
        r"edge\.rate_limits: 2 http_ratelimit rules; the free plan allows 1",
    )
    fails(
        bad_edge(rate_limits={"a": {**login, "period": 60}}),
        r"edge\.rate_limits\.a\.period: the free plan allows periods up to 10 s",
    )
    fails(
        bad_edge(rate_limits={"a": {**login, "timeout": 60}}),
        r"edge\.rate_limits\.a\.timeout: the free plan allows timeouts up to 10 s",
    )


def test_a_rate_limit_period_must_be_one_cloudflare_supports() -> None:
    login = {"paths": ["/login"], "requests": 5, "period": 11, "timeout": 10}
    fails(bad_edge(plan="business", rate_limits={"a": login}), r"edge\.rate_limits\.a\.period: 11 is not a value")


def test_hsts_preload_needs_a_year_and_subdomains() -> None:
    fails(bad_edge(hsts={"max_age": 86400, "preload": True}), r"edge\.hsts\.preload: preload needs max_age")


def test_ids_must_be_cloudflare_ids() -> None:
    fails(bad_edge(zone_id="my-zone"), r"edge\.zone_id: string should match pattern")


def test_a_misspelt_edge_key_is_refused_with_the_allowed_keys() -> None:
    fails(bad_edge(ratelimits={}), r"edge\.ratelimits is not a known key; .*rate_limits")


def test_admin_allowed_cidrs_must_be_networks() -> None:
    fails(
        bad_edge(waf={"admin": {"paths": ["/admin"], "allowed_cidrs": ["office"]}}),
        r"edge\.waf\.admin\.allowed_cidrs\.0",
    )


def test_a_path_with_quotes_cannot_reach_an_expression() -> None:
    fails(bad_edge(waf={"blocked_paths": ['/x") or true or ("']}), r"edge\.waf\.blocked_paths\.0")


def test_reordering_hostnames_in_the_stack_file_changes_no_resource() -> None:
    def resources(hostnames_reversed: bool) -> dict[str, dict[str, Any]]:
        raw = copy.deepcopy(raw_config("prod"))
        edge = raw["edge"]
        assert isinstance(edge, dict)
        if hostnames_reversed:
            edge["hostnames"] = dict(reversed(list(edge["hostnames"].items())))
        recording = build(stack_config.parse(raw, stack_file="Pulumi.prod.yaml"), "prod", origin_ip=FAKE_LB_IP)
        return {r.name: r.inputs for r in recording.resources}

    original = resources(hostnames_reversed=False)
    assert "edge-dns-api.example.com" in original
    assert "edge-domain-example.com" in original
    assert resources(hostnames_reversed=True) == original


def test_the_free_plan_allows_ten_redirect_rules() -> None:
    hosts = {f"old{n}.example.org": {"mode": "redirect"} for n in range(11)}
    redirects = {f"old{n}": {"from_host": host, "to_host": "example.org"} for n, host in enumerate(hosts)}
    raw = bad_edge(hostnames={"example.org": {"mode": "worker_custom_domain"}, **hosts}, redirects=redirects)
    fails(raw, r"edge\.redirects: 11 http_request_dynamic_redirect rules; the free plan allows 10")
    fewer = bad_edge(hostnames={"example.org": {"mode": "worker_custom_domain"}, **hosts}, redirects=redirects)
    assert isinstance(fewer["edge"], dict)
    fewer["edge"]["plan"] = "pro"
    assert stack_config.parse(fewer, stack_file="Pulumi.dev.yaml").edge is not None


def test_the_example_config_in_the_edge_docs_is_valid() -> None:
    blocks = code_blocks("docs/edge.md")
    (example,) = [b for b in blocks if b.startswith("platform:edge:")]
    raw = {**raw_config("dev"), "edge": yaml.safe_load(example)["platform:edge"]}
    config = stack_config.parse(raw, stack_file="docs/edge.md")
    assert config.edge is not None
    assert config.edge.plan == "free"


def test_the_free_plan_keeps_static_assets_at_the_edge_for_at_least_two_hours() -> None:
    cache = {"static_extensions": ["css"], "edge_ttl": 3600}
    fails(bad_edge(cache=cache), r"edge\.cache\.edge_ttl: the free plan allows edge TTLs from 7200 s")


def test_an_origin_under_a_worker_route_is_accepted_because_a_route_is_never_a_same_zone_fetch_target() -> None:
    """Cloudflare: "Routes cannot be the target of a same-zone fetch() call": the Worker's fetch of a hostname under
    its own route reaches the origin in DNS (the load balancer), so it does not loop. A custom domain does."""
    raw = bad_edge("prod", worker=worker("prod", routes={"all": "*.example.com/*"}))
    parsed = stack_config.parse(raw, stack_file="Pulumi.prod.yaml").edge
    assert parsed is not None
    assert sorted(parsed.passthrough_hosts()) == ["api.example.com", "origin.example.com"]


@pytest.mark.parametrize("key", ["platform:cloudflare_api_token", "platform:origin_token"])
def test_an_edge_without_its_secrets_stops_with_the_command_that_sets_them(key: str) -> None:
    values, _ = stack_values("dev")
    with pytest.raises(pulumi.RunError, match=f"pulumi config set --secret {key}"):
        run_program("dev", config={k: v for k, v in values.items() if k != key})


# --- The Worker's service origins ------------------------------------------------------------------------------


def test_dev_worker_fetches_the_public_gateway_at_its_run_app_url() -> None:
    program = program_of("dev")
    document = json.loads(bindings(program)["ORIGINS"]["text"])
    gateway = program.outputs["service_urls"]["api"]
    assert gateway.startswith("https://")
    assert gateway.endswith(".run.app")
    assert document["origins"] == {"eu": gateway}
    assert document["default"] == "eu"
    service = config_of("dev").services["api"]
    assert (service.public, service.ingress) == (True, "all")


def test_prod_and_staging_keep_their_origins_on_the_load_balancer() -> None:
    """Their only origin is the global load balancer, which serves from both regions and fails over itself: no
    run.app URL, no external or placeholder host."""
    for stack in ("staging", "prod"):
        config = config_of(stack)
        assert config.edge is not None
        assert not config.edge.worker.service_origins()
        assert set(config.edge.worker.origins) == {config.edge.worker.default_origin}
        origin = config.edge.worker.origins[config.edge.worker.default_origin]
        assert isinstance(origin, str)
        host = origin.removeprefix("https://")
        assert host in config.load_balancer.domains
        assert host in config.edge.mode_of("dns")  # a proxied record to the load balancer's address


def test_a_service_origin_must_name_a_service() -> None:
    fails(
        bad_edge(worker=worker(origins={"eu": {"service": "shop"}})),
        r"edge\.worker\.origins\.eu\.service: 'shop' is not one of services: api, auth, platform, orders, analytics",
    )


def test_a_service_origin_must_be_reachable_from_the_internet() -> None:
    fails(
        bad_edge(worker=worker(origins={"eu": {"service": "orders"}})),
        r"edge\.worker\.origins\.eu\.service: the Worker fetches orders at its run\.app URL from the internet; "
        r"it needs public: true and ingress: all \(got public: false, ingress: internal\)",
    )


@pytest.mark.parametrize("origin", [{"service": 8080}, {"service": "api", "port": 8080}, {"svc": "api"}, 42])
def test_an_origin_is_a_url_or_a_service_reference(origin: Any) -> None:
    fails(bad_edge(worker=worker(origins={"eu": origin})), r"edge\.worker\.origins\.eu: .* is not an origin; write")


# --- The edge and the load balancer ----------------------------------------------------------------------------


def test_dns_hostnames_need_a_load_balancer() -> None:
    hostnames = {**raw_config("dev")["edge"]["hostnames"], "api.example.org": {"mode": "dns"}}  # type: ignore[index]
    fails(
        bad_edge(hostnames=hostnames),
        r"edge\.hostnames\.api\.example\.org\.mode: mode dns is a proxied record to the load balancer, "
        r"and load_balancer\.enabled is false",
    )


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_load_balancer_serves_exactly_the_edge_dns_hostnames(stack: str) -> None:
    config = config_of(stack)
    assert config.edge is not None
    assert sorted(config.load_balancer.domains) == sorted(config.edge.mode_of("dns"))
    program = program_of(stack)
    proxied_to_lb = {r.inputs["name"] for r in program.of(RECORD) if r.inputs["type"] == "A"}
    assert proxied_to_lb == set(program.outputs["load_balancer_domains"])
    assert all(r.inputs["content"] == program.outputs["load_balancer_ip"] for r in program.of(RECORD, type="A"))


def test_a_load_balancer_domain_must_be_an_edge_dns_hostname() -> None:
    raw = copy.deepcopy(raw_config("prod"))
    raw["load_balancer"]["domains"].append("www.example.com")  # type: ignore[index]
    with pytest.raises(pulumi.RunError, match=r"load_balancer\.domains: 'www\.example\.com' is not an edge hostname"):
        stack_config.parse(raw, stack_file="Pulumi.prod.yaml")


def test_an_edge_dns_hostname_must_be_a_load_balancer_domain() -> None:
    raw = copy.deepcopy(raw_config("prod"))
    raw["edge"]["hostnames"]["shop.example.com"] = {"mode": "dns"}  # type: ignore[index]
    with pytest.raises(pulumi.RunError, match=r"edge\.hostnames\.shop\.example\.com: .* not in load_balancer\.domains"):
        stack_config.parse(raw, stack_file="Pulumi.prod.yaml")


def test_behind_the_edge_certificates_are_authorized_by_dns() -> None:
    raw = copy.deepcopy(raw_config("staging"))
    raw["load_balancer"]["certificate_authorization"] = "load_balancer"  # type: ignore[index]
    raw["load_balancer"]["security"]["cloudflare_only"] = False  # type: ignore[index]
    with pytest.raises(
        pulumi.RunError, match=r"load_balancer\.certificate_authorization: the edge proxies the load balancer's"
    ):
        stack_config.parse(raw, stack_file="Pulumi.staging.yaml")


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_each_load_balancer_domain_gets_its_dns_authorization_cname_unproxied(stack: str) -> None:
    program = program_of(stack)
    config = config_of(stack)
    assert config.edge is not None
    assert config.load_balancer.certificate_authorization == "dns"
    validation = [r for r in program.of(RECORD) if r.inputs["type"] == "CNAME"]
    assert len(validation) == len(config.load_balancer.domains)
    for domain in config.load_balancer.domains:
        (expected,) = program.one(CM_AUTH, domain=domain).outputs["dnsResourceRecords"]
        record = program.one(RECORD, name=f"_acme-challenge.{domain}")
        assert record.name == f"edge-validation-{domain}"
        assert record.inputs["content"] == expected["data"].rstrip(".")
        assert expected["name"] == f"_acme-challenge.{domain}."
        assert record.inputs["proxied"] is False  # the documented exception: Google must see the CNAME itself
        assert record.inputs["ttl"] > 1
        assert record.inputs["zoneId"] == config.edge.zone_id


def test_every_other_record_stays_proxied(program: Recording) -> None:
    records = [r for r in program.of(RECORD) if not r.inputs["name"].startswith("_acme-challenge.")]
    assert records
    assert all(r.inputs["proxied"] is True and r.inputs["ttl"] == 1 for r in records)
