"""Serving from two regions: every service runs in each serving region, the load balancer holds a serverless NEG per
region in each service's one backend service, and Cloud Run service health (readiness probes, a warm instance per
region) moves users off a failing region; each region's gateway calls its own region's backends; the data tier stays
in one region, and the recovery objectives say what losing it costs. Also every config mistake of `platform:serving`.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

import stack_config
from components.serving import region_loss_objectives
from offline.engine import ROOT, Recording, Resource, run_program
from offline.engine import stack_config as stack_values
from offline.estimate.report import estimate
from tests.conftest import STACKS, config_error, config_of, program_of, raw_config

SERVICE = "gcp:cloudrunv2/service:Service"
JOB = "gcp:cloudrunv2/job:Job"
NEG = "gcp:compute/regionNetworkEndpointGroup:RegionNetworkEndpointGroup"
BACKEND = "gcp:compute/backendService:BackendService"
RUN_IAM = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
NAT = "gcp:compute/routerNat:RouterNat"
ROUTER = "gcp:compute/router:Router"
ADDRESS = "gcp:compute/address:Address"
ALERT = "gcp:monitoring/alertPolicy:AlertPolicy"
SUBNET = "gcp:compute/subnetwork:Subnetwork"
MULTI_REGION = ("staging", "prod")
# The seed's targets (shared/seeds/001: "Disaster recovery RTO < 4 hours", "RPO < 1 hour").
SEED_RTO_MINUTES = 4 * 60
SEED_RPO_MINUTES = 60


def copies(program: Recording, key: str) -> dict[str, Resource]:
    """The Cloud Run services of `key`, by region."""
    name = program.named(f"{key}-service").inputs["name"]
    return {r.inputs["location"]: r for r in program.of(SERVICE, name=name)}


def container(service: Resource) -> dict[str, Any]:
    (only,) = service.inputs["template"]["containers"]
    return dict(only)


def envs(service: Resource) -> dict[str, Any]:
    return {e["name"]: e.get("value") for e in container(service).get("envs", [])}


# --- Two regions ----------------------------------------------------------------------------------------------------


def test_prod_serves_from_europe_west1_and_europe_west4() -> None:
    program = program_of("prod")
    assert program.outputs["serving_regions"] == ["europe-west1", "europe-west4"]
    for key in config_of("prod").services:
        assert sorted(copies(program, key)) == ["europe-west1", "europe-west4"], key
        assert sorted(program.outputs["service_regional_urls"][key]) == ["europe-west1", "europe-west4"]


def test_dev_serves_from_its_own_region_only() -> None:
    program = program_of("dev")
    assert program.outputs["serving_regions"] == ["europe-west1"]
    assert {r.inputs["location"] for r in program.of(SERVICE)} == {"europe-west1"}
    assert not program.of(NEG)


@pytest.mark.parametrize("stack", MULTI_REGION)
def test_each_load_balanced_service_has_one_backend_service_with_a_serverless_neg_per_region(stack: str) -> None:
    program, config = program_of(stack), config_of(stack)
    assert config.load_balancer.services
    for key in config.load_balancer.services:
        backend = program.one(BACKEND, name=f"acme-{stack}-{key}-backend")
        groups = [b["group"] for b in backend.inputs["backends"]]
        negs = [r for r in program.of(NEG) if r.outputs["id"] in groups]
        assert len(negs) == len(groups) == 2
        assert sorted(n.inputs["region"] for n in negs) == config.serving_regions()
        for neg in negs:
            assert neg.inputs["networkEndpointType"] == "SERVERLESS"
            # Service health supports no URL mask and no tag: the NEG names the service alone.
            assert neg.inputs["cloudRun"] == {"service": f"acme-{stack}-{key}"}
            assert copies(program, key)[neg.inputs["region"]].inputs["name"] == neg.inputs["cloudRun"]["service"]


def test_the_stacks_own_region_keeps_the_names_it_had_and_the_other_region_is_named_after_it() -> None:
    """No replacement for what prod ran before it served from two regions: the logical names in europe-west1 are the
    ones they always were."""
    prod = program_of("prod")
    assert prod.named("api-service").inputs["location"] == "europe-west1"
    assert prod.named("api-service-europe-west4").inputs["location"] == "europe-west4"
    assert prod.named("lb-api-neg").inputs["region"] == "europe-west1"
    assert prod.named("lb-api-neg").inputs["name"] == "acme-prod-api-neg"
    assert prod.named("lb-api-neg-europe-west4").inputs["name"] == "acme-prod-api-neg-europe-west4"
    assert prod.named("network-router").inputs["region"] == "europe-west1"
    assert prod.named("network-nat").inputs["name"] == "acme-prod-nat"
    assert prod.named("network-nat-europe-west4").inputs["name"] == "acme-prod-nat-europe-west4"
    assert prod.named("orders-invoker-api").inputs["location"] == "europe-west1"
    assert prod.named("orders-invoker-api-europe-west4").inputs["location"] == "europe-west4"


# --- Cloud Run service health ---------------------------------------------------------------------------------------


def test_every_container_has_a_readiness_probe_on_its_health_path(program: Recording, config: Any) -> None:
    """Service health aggregates the instances' readiness probes per region; the container's probes all check the
    same path, as Cloud Run asks."""
    for key, service in config.services.items():
        for copy_ in copies(program, key).values():
            probe = container(copy_)["readinessProbe"]
            assert probe["httpGet"] == {"path": service.health_path, "port": service.port}
            assert probe["timeoutSeconds"] < probe["periodSeconds"]
            assert probe["failureThreshold"] >= 1
            assert probe["successThreshold"] >= 1
            # Readiness probes are GA and the API reads the launch stage back as GA: BETA would differ on each refresh.
            assert copy_.inputs["launchStage"] == "GA"


def test_prod_keeps_a_warm_instance_of_every_service_in_each_region() -> None:
    for service in program_of("prod").of(SERVICE):
        assert service.inputs["template"]["scaling"]["minInstanceCount"] >= 1, service.name


@pytest.mark.parametrize("stack", MULTI_REGION)
def test_each_copy_takes_its_egress_addresses_from_a_subnet_of_its_own_region(stack: str) -> None:
    program = program_of(stack)
    subnets = {r.outputs["id"]: r.inputs["region"] for r in program.of(SUBNET)}
    for service in program.of(SERVICE):
        (interface,) = service.inputs["template"]["vpcAccess"]["networkInterfaces"]
        assert subnets[interface["subnetwork"]] == service.inputs["location"], service.name


@pytest.mark.parametrize("stack", STACKS)
def test_each_regions_gateway_calls_its_own_regions_backends(stack: str) -> None:
    """`<NAME>_SERVICE_URL` is the callee's deterministic URL in the caller's region, which is one of the URLs Cloud
    Run gives the callee's copy there."""
    program, config = program_of(stack), config_of(stack)
    gateway = copies(program, "api")
    called = config.upstreams("api")
    assert called == ["analytics", "auth", "orders", "platform"]
    for region, service in gateway.items():
        for callee in called:
            url = envs(service)[f"{callee.upper()}_SERVICE_URL"]
            assert url.endswith(f".{region}.run.app")
            assert url in copies(program, callee)[region].outputs["urls"], (region, callee)
    # Only callers get URLs: a backend calls nothing.
    assert not [name for name in envs(copies(program, "orders")[config.gcp.region]) if name.endswith("_SERVICE_URL")]


@pytest.mark.parametrize("stack", MULTI_REGION)
def test_callers_may_invoke_every_copy_of_the_services_they_call(stack: str) -> None:
    program, config = program_of(stack), config_of(stack)
    emails = program.outputs["service_accounts"]
    for key, service in config.services.items():
        for region, copy_ in copies(program, key).items():
            grants = [
                g
                for g in program.of(RUN_IAM, location=region, role="roles/run.invoker")
                if g.parent == program.named(key).urn
            ]
            members = {g.inputs["member"] for g in grants}
            expected = {f"serviceAccount:{emails[c]}" for c in service.invokers}
            assert members - {"allUsers"} == expected, (key, region)
            assert ("allUsers" in members) is service.public
            assert {g.inputs["name"] for g in grants} <= {copy_.inputs["name"]}


def test_the_migrations_job_runs_once_in_the_stacks_region(program: Recording, config: Any) -> None:
    jobs = program.of(JOB)
    assert len(jobs) == 1
    assert jobs[0].inputs["location"] == config.gcp.region


# --- Network and monitoring per region ------------------------------------------------------------------------------


def test_prod_has_a_nat_gateway_with_its_own_static_addresses_in_each_region() -> None:
    prod = program_of("prod")
    assert sorted(n.inputs["region"] for n in prod.of(NAT)) == ["europe-west1", "europe-west4"]
    assert sorted(r.inputs["region"] for r in prod.of(ROUTER)) == ["europe-west1", "europe-west4"]
    for nat in prod.of(NAT):
        addresses = [a for a in prod.of(ADDRESS) if a.outputs["selfLink"] in nat.inputs["natIps"]]
        assert len(addresses) == 2
        assert {a.inputs["region"] for a in addresses} == {nat.inputs["region"]}
    assert len(prod.outputs["nat_ips"]) == 4


@pytest.mark.parametrize("stack", MULTI_REGION)
def test_service_alerts_watch_each_region_on_its_own(stack: str) -> None:
    """One time series per region: a failing region fires although the other is healthy (a sum over both would
    dilute its 5xx ratio)."""
    program = program_of(stack)
    kinds = ("5xx-ratio", "latency-p99", "cpu", "instances-at-max")
    alerts = [program.named(f"observability-api-{kind}") for kind in kinds]
    for alert in alerts:
        for condition in alert.inputs["conditions"]:
            threshold = condition["conditionThreshold"]
            for aggregation in threshold["aggregations"] + threshold.get("denominatorAggregations", []):
                assert aggregation["groupByFields"] == ["resource.label.location"], alert.name


# --- A region loss --------------------------------------------------------------------------------------------------


def test_prods_recovery_objectives_meet_the_seeds_targets_for_a_region_loss() -> None:
    objectives = program_of("prod").outputs["recovery_objectives"]
    assert objectives["serving_regions"] == ["europe-west1", "europe-west4"]
    assert objectives["region_loss_rto_minutes"] <= SEED_RTO_MINUTES
    assert objectives["region_loss_rpo_minutes"] <= SEED_RPO_MINUTES
    assert objectives["rpo_minutes"] <= SEED_RPO_MINUTES
    assert "promoted" in objectives["region_loss_rto_basis"]
    assert objectives["redis_region_loss_rpo_minutes"] == 24 * 60  # daily exports: Redis is a cache, not a record


def test_the_runbook_states_prods_region_loss_objectives_as_the_stack_computes_them() -> None:
    objectives = program_of("prod").outputs["recovery_objectives"]
    runbook = (ROOT / "docs" / "operations" / "backup-recovery.md").read_text()
    section = runbook.split("\n## Losing a region\n", 1)[1].split("\n## ", 1)[0]
    assert f"about {objectives['region_loss_rto_minutes']} minutes (`region_loss_rto_minutes`)" in section
    assert f"about {objectives['region_loss_rpo_minutes']} minute (`region_loss_rpo_minutes`)" in section
    assert (
        f"up to {objectives['redis_region_loss_rpo_minutes'] // 60} hours (`redis_region_loss_rpo_minutes`)" in section
    )


def test_without_a_copy_of_the_services_in_the_replicas_region_the_recovery_takes_a_deploy_longer() -> None:
    both = region_loss_objectives(
        serving_regions=["europe-west1", "europe-west4"],
        database_region="europe-west1",
        dr_replica_regions=["europe-west4"],
        redis_export_hours=24,
    )
    one = region_loss_objectives(
        serving_regions=["europe-west1"],
        database_region="europe-west1",
        dr_replica_regions=["europe-west4"],
        redis_export_hours=24,
    )
    none = region_loss_objectives(
        serving_regions=["europe-west1"], database_region="europe-west1", dr_replica_regions=[], redis_export_hours=72
    )
    assert both["region_loss_rto_minutes"] < one["region_loss_rto_minutes"]
    assert none["region_loss_rto_minutes"] is None
    assert none["redis_region_loss_rpo_minutes"] == 72 * 60
    assert program_of("dev").outputs["recovery_objectives"]["region_loss_rto_minutes"] is None


# --- Estimates ------------------------------------------------------------------------------------------------------


def test_a_service_in_two_regions_has_half_its_requests_priced_in_each() -> None:
    report = estimate("prod", program_of("prod"), config_of("prod")).cost
    assert report is not None
    requests = {(line.resource, line.region): line.quantity for line in report.lines if line.price == "run.requests"}
    total = config_of("prod").estimates.requests_per_month * config_of("prod").estimates.route_share["orders"]
    assert requests["orders-service", None] == pytest.approx(total / 2 / 1e6)
    assert requests["orders-service-europe-west4", "europe-west4"] == pytest.approx(total / 2 / 1e6)


# --- Config mistakes, one line each ---------------------------------------------------------------------------------


def _error(mutate: Any, stack: str = "prod") -> str:
    return config_error(stack, mutate).removeprefix(f"invalid stack config in Pulumi.{stack}.yaml: ")


def _serving(raw: dict[str, Any]) -> dict[str, Any]:
    regions: dict[str, Any] = raw["serving"]["regions"]
    return regions


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda raw: _serving(raw).update({"europe-west1": {"serverless_subnet": "serverless"}}),
            "serving.regions.europe-west1: europe-west1 is the stack's region",
        ),
        (
            lambda raw: _serving(raw).update({"europe-wst4": {"serverless_subnet": "serverless"}}),
            "serving.regions.europe-wst4",
        ),
        (
            lambda raw: _serving(raw)["europe-west4"].update(serverless_subnet="nope"),
            "serving.regions.europe-west4.serverless_subnet: 'nope' is not one of network.subnets",
        ),
        (
            lambda raw: _serving(raw)["europe-west4"].update(serverless_subnet="app"),
            "serving.regions.europe-west4.serverless_subnet: network.subnets.app is in europe-west1, not europe-west4",
        ),
        (
            lambda raw: raw["network"]["subnets"]["serverless-europe-west4"].update(cidr="10.30.20.0/27"),
            "network.subnets.serverless-europe-west4.cidr: /27 is too small for Direct VPC egress",
        ),
        (
            lambda raw: raw["network"]["subnets"]["serverless"].update(region="europe-west4"),
            "network.subnets.serverless.region: network.serverless_subnet 'serverless' is in europe-west4",
        ),
        (
            lambda raw: raw["network"]["subnets"]["serverless-europe-west4"].update(region="europe-wst4"),
            "network.subnets.serverless-europe-west4.region",
        ),
        (
            lambda raw: _serving(raw)["europe-west4"].update(subnet="x"),
            "serving.regions.europe-west4.subnet is not a known key",
        ),
        (
            lambda raw: raw["services"]["api"].update(min_instances=0),
            "services.api.min_instances: Cloud Run service health",
        ),
        (
            lambda raw: raw["database"]["replicas"]["dr"].update(disaster_recovery=False),
            "serving.regions: the services in europe-west4 would have no database if europe-west1 is lost",
        ),
        (
            lambda raw: raw["secrets"].update(replicas=["europe-west1", "europe-west3"]),
            "secrets.replicas: the services also run in europe-west4, where no secret is replicated",
        ),
        (
            lambda raw: raw["services"]["api"].setdefault("env", {}).update(ORDERS_SERVICE_URL="https://x"),
            "services.api.env.ORDERS_SERVICE_URL: ORDERS_SERVICE_URL carries the URL of orders",
        ),
    ],
)
def test_a_serving_mistake_is_one_line_naming_the_key(mutate: Any, expected: str) -> None:
    assert _error(mutate).startswith(expected)


def test_a_second_region_without_the_load_balancer_is_refused() -> None:
    def without_load_balancer(raw: dict[str, Any]) -> None:
        raw["serving"] = {"regions": {"europe-west4": {"serverless_subnet": "serverless-europe-west4"}}}
        raw["network"]["subnets"]["serverless-europe-west4"] = {"cidr": "10.10.20.0/24", "region": "europe-west4"}
        raw["secrets"] = {"replicas": ["europe-west1", "europe-west4"]}

    message = _error(without_load_balancer, stack="dev")
    assert message.startswith("serving.regions: the global load balancer is what sends users to a healthy region")


def test_an_upstream_url_name_taken_by_a_secret_is_refused() -> None:
    def taken(raw: dict[str, Any]) -> None:
        raw["app_secrets"]["auth_url"] = {"existing": "AUTH_URL"}
        raw["services"]["api"]["secrets"]["AUTH_SERVICE_URL"] = "auth_url"

    assert _error(taken).startswith("services.api.secrets.AUTH_SERVICE_URL: AUTH_SERVICE_URL carries the URL of auth")


def test_a_retiring_region_leaves_the_load_balancer_and_its_services_lose_their_deletion_protection() -> None:
    """The first of the two `pulumi up`s that retire a region: its NEGs leave the backend services while its copies
    keep running, now deletable (in a protected stack, deleting a Cloud Run service with deletion protection fails);
    the stack's own region keeps its protection."""
    values, _ = stack_values("prod")
    serving = json.loads(values["platform:serving"])
    serving["regions"]["europe-west4"]["retiring"] = True
    program = run_program("prod", config={**values, "platform:serving": json.dumps(serving)})
    assert {n.inputs["region"] for n in program.of(NEG)} == {"europe-west1"}
    for key in config_of("prod").services:
        regional = copies(program, key)
        assert regional["europe-west4"].inputs["deletionProtection"] is False, key
        assert regional["europe-west1"].inputs["deletionProtection"] is True, key
    before = program_of("prod")
    assert {n.inputs["region"] for n in before.of(NEG)} == {"europe-west1", "europe-west4"}
    assert all(c.inputs["deletionProtection"] is True for c in before.of(SERVICE))


def test_a_stack_whose_workloads_run_on_gke_claims_no_computed_region_loss_rto() -> None:
    """bro-ai's regional cluster goes with its region: rebuilding it elsewhere is not a figure this program computes,
    so the output says so instead of counting a Cloud Run redeploy."""
    objectives = program_of("bro-ai").outputs["recovery_objectives"]
    assert objectives["region_loss_rto_minutes"] is None
    assert "GKE" in objectives["region_loss_rto_basis"]
    assert objectives["rto_minutes"] == 240  # the config's target, shown beside it


def test_the_region_loss_rto_counts_a_new_redis_and_names_what_it_leaves_out() -> None:
    objectives = program_of("prod").outputs["recovery_objectives"]
    without = region_loss_objectives(
        serving_regions=["europe-west1", "europe-west4"],
        database_region="europe-west1",
        dr_replica_regions=["europe-west4"],
        redis_export_hours=24,
    )
    assert objectives["region_loss_rto_minutes"] == without["region_loss_rto_minutes"] + 10  # auth and orders use Redis
    assert "Memorystore" in objectives["region_loss_rto_basis"]
    assert "repository" in objectives["region_loss_rto_basis"]
    assert "event bus" in objectives["region_loss_rto_basis"]


def test_a_retiring_region_is_not_counted_as_the_one_that_takes_over() -> None:
    raw = copy.deepcopy(raw_config("prod"))
    raw["serving"]["regions"]["europe-west4"]["retiring"] = True
    objectives = stack_config.parse(raw, stack_file="Pulumi.prod.yaml").recovery_objectives()
    assert objectives["serving_regions"] == ["europe-west1"]
    assert "deployed in the replica's region" in objectives["region_loss_rto_basis"]  # a redeploy, not a takeover
