"""The monthly cost estimate: arithmetic pinned on hand-computed configurations, and every stack priced in full."""

from __future__ import annotations

import re

import pulumi
import pytest
import yaml

import stack_config
from offline.engine import ROOT, Recording
from offline.estimate import cost, prices
from offline.estimate.report import estimate as stack_estimate
from stack_config import EstimatesArgs
from tests.conftest import config_of, program_of, raw_config
from tests.records import Builder

TABLE = prices.load("europe-west1")
QUIET = EstimatesArgs(
    requests_per_month=0, ingress_gb=0, egress_gb=0, nat_gb=0, log_gb=0, network_log_gb=0, bucket_gb=0, artifact_gb=0,
    images_pushed_per_month=0, bigquery_gb=0, secret_accesses_per_month=0, pubsub_gib=0, worker_cpu_ms=0,
    database_change_gb_per_day=0, kms_operations_per_month=0,
)  # fmt: skip
SQL = "gcp:sql/databaseInstance:DatabaseInstance"


def priced(recording: Recording, profile: EstimatesArgs = QUIET, **kwargs: float | str) -> cost.CostEstimate:
    return cost.estimate(recording, TABLE, profile, **kwargs)  # type: ignore[arg-type]


def by_resource(estimate: cost.CostEstimate) -> dict[str, float]:
    return dict(estimate.by_resource())


def test_tiers_apply_free_allowances_and_volume_steps() -> None:
    rule = TABLE["lb.forwarding_rule"]
    # The first five forwarding rules are one flat charge; each further rule costs $0.01 an hour.
    assert rule.cost(730) == rule.cost(2 * 730) == rule.cost(5 * 730) == pytest.approx(730 * 0.025)
    assert rule.cost(6 * 730) == pytest.approx(730 * 0.025 + 730 * 0.010)
    logs = TABLE["logging.ingestion"]
    assert logs.cost(50) == 0
    assert logs.cost(80) == pytest.approx(15.0)
    egress = TABLE["network.internet_egress"]
    assert egress.cost(2048) == pytest.approx(1024 * 0.12 + 1024 * 0.11)


def test_a_region_missing_from_the_price_table_is_a_clear_error() -> None:
    with pytest.raises(prices.MissingPriceError, match=r"no list prices for region asia-east1 .*europe-west1"):
        prices.load("asia-east1")


def _database(b: Builder) -> None:
    db = b.component("Database", "database")
    primary = b.add(
        SQL,
        "database-primary",
        {
            "databaseVersion": "POSTGRES_15",
            "region": "europe-west1",
            "settings": {
                "tier": "db-custom-2-7680",
                "edition": "ENTERPRISE",
                "availabilityType": "REGIONAL",
                "diskSize": 100,
                "diskType": "PD_SSD",
                "backupConfiguration": {"enabled": True, "pointInTimeRecoveryEnabled": True},
            },
        },
        parent=db,
    )
    b.add(
        SQL,
        "database-replica-a",
        {
            "masterInstanceName": "acme-prod-db",
            "settings": {"tier": "db-custom-2-7680", "diskSize": 100, "availabilityType": "ZONAL"},
        },
        parent=db,
        needs=(primary,),
    )


def test_cloud_sql_prices_vcpu_memory_storage_and_backups_and_ha_doubles_the_instance() -> None:
    b = Builder()
    _database(b)
    lines = by_resource(priced(b.recording))
    # 2 vCPU and 7.5 GB, doubled for HA, 730 h; 100 GB SSD doubled; backups: one copy of the 100 GB (no changes in
    # the quiet profile). Belgium's Cloud SQL prices are Iowa's.
    assert lines["database-primary"] == pytest.approx(
        2 * 2 * 730 * 0.0413 + 2 * 7.5 * 730 * 0.0070 + 2 * 100 * 0.17 + 100 * 0.08
    )
    assert lines["database-primary"] == pytest.approx(239.246)
    # A replica is a zonal instance of its own, without backups.
    assert lines["database-replica-a"] == pytest.approx(2 * 730 * 0.0413 + 7.5 * 730 * 0.0070 + 100 * 0.17)


def test_a_shared_core_database_stopped_out_of_hours_shows_its_saving() -> None:
    b = Builder()
    b.add(SQL, "db", {"settings": {"tier": "db-f1-micro", "diskSize": 10, "diskType": "PD_HDD"}})
    always = priced(b.recording)
    assert always.total == pytest.approx(730 * 0.0105 + 10 * 0.09)
    assert always.saving is None
    hours = 730 * 60 / 168  # MON-FRI 08:00-20:00: 60 of the week's 168 hours
    scheduled = priced(b.recording, database_hours=hours, database_schedule="MON-FRI 08:00-20:00")
    assert scheduled.total == pytest.approx(hours * 0.0105 + 10 * 0.09)
    assert scheduled.saving is not None
    assert scheduled.saving[1] == pytest.approx((730 - hours) * 0.0105)
    assert "MON-FRI 08:00-20:00" in scheduled.saving[0]


def test_the_schedule_does_not_stop_read_replicas() -> None:
    b = Builder()
    _database(b)
    full, scheduled = by_resource(priced(b.recording)), by_resource(priced(b.recording, database_hours=365))
    assert scheduled["database-replica-a"] == pytest.approx(full["database-replica-a"])
    assert scheduled["database-primary"] < full["database-primary"]


@pytest.mark.parametrize(
    ("inputs", "monthly"),
    [
        ({"tier": "BASIC", "memorySizeGb": 1}, 1 * 730 * 0.051),
        ({"tier": "STANDARD_HA", "memorySizeGb": 5}, 5 * 730 * 0.061),
        (
            {"tier": "STANDARD_HA", "memorySizeGb": 5, "readReplicasMode": "READ_REPLICAS_ENABLED", "replicaCount": 2},
            5 * 730 * 0.061 * 1.5,  # three nodes where the Standard price covers two
        ),
        ({"tier": "STANDARD_HA", "memorySizeGb": 40}, 40 * 730 * 0.043),
    ],
)
def test_memorystore_is_priced_per_gb_hour_by_tier_and_capacity(inputs: dict[str, object], monthly: float) -> None:
    b = Builder()
    b.add("gcp:redis/instance:Instance", "cache", inputs)
    assert priced(b.recording).total == pytest.approx(monthly)


def _service(b: Builder, name: str, minimum: int, cpu: str, memory: str, cpu_idle: bool, concurrency: int = 80) -> None:
    container = {"image": "x", "resources": {"limits": {"cpu": cpu, "memory": memory}, "cpuIdle": cpu_idle}}
    template = {
        "scaling": {"minInstanceCount": minimum, "maxInstanceCount": 100},
        "maxInstanceRequestConcurrency": concurrency,
        "containers": [container],
    }
    b.add("gcp:cloudrunv2/service:Service", name, {"name": name, "template": template})


def test_a_service_that_scales_to_zero_costs_nothing_without_traffic() -> None:
    b = Builder()
    _service(b, "web", minimum=0, cpu="1", memory="512Mi", cpu_idle=True)
    assert priced(b.recording).total == 0


def test_load_balancer_armor_and_nat_are_priced_from_their_resources_and_the_profile() -> None:
    b = Builder()
    lb = b.component("LoadBalancer", "lb")
    for name in ("https", "http", "a", "b", "c", "d"):
        b.add("gcp:compute/globalForwardingRule:GlobalForwardingRule", f"lb-{name}", parent=lb)
    rules = [{"priority": p, "action": "allow"} for p in (1000, 2000, 2147483647)]
    b.add("gcp:compute/securityPolicy:SecurityPolicy", "lb-armor", {"rules": rules}, parent=lb)
    b.add("gcp:compute/routerNat:RouterNat", "network-nat", {"natIpAllocateOption": "MANUAL_ONLY"})
    profile = QUIET.model_copy(
        update={"requests_per_month": 10_000_000, "ingress_gb": 10, "egress_gb": 100, "nat_instances": 2, "nat_gb": 100}
    )
    estimate = priced(b.recording, profile)
    components = dict(estimate.by_component())
    forwarding = 730 * 0.025 + 730 * 0.010  # the first five rules flat, the sixth at $0.01 an hour
    armor = 5 + 3 * 1 + 10 * 0.75
    traffic = (10 + 100) * 0.008 + 100 * 0.12  # the load balancer processes the bytes in and the bytes out
    assert components["lb"] == pytest.approx(forwarding + armor + traffic)
    assert by_resource(estimate)["network-nat"] == pytest.approx(2 * 730 * 0.0014 + 100 * 0.045)


def test_storage_services_are_priced_by_class_location_and_free_allowance() -> None:
    b = Builder()
    secret = b.add(
        "gcp:secretmanager/secret:Secret",
        "db-password",
        {"replication": {"userManaged": {"replicas": [{"location": "europe-west1"}, {"location": "europe-west4"}]}}},
    )
    for version in ("v1", "v2", "v3", "v4"):
        b.add("gcp:secretmanager/secretVersion:SecretVersion", f"db-password-{version}", needs=(secret,))
    b.add("gcp:artifactregistry/repository:Repository", "images")
    b.add("gcp:storage/bucket:Bucket", "backups", {"location": "EUROPE-WEST1", "storageClass": "STANDARD"})
    b.add("gcp:storage/bucket:Bucket", "archive", {"location": "EU", "storageClass": "NEARLINE"})
    b.add("gcp:bigquery/dataset:Dataset", "logs")
    profile = QUIET.model_copy(
        update={"secret_accesses_per_month": 100_000, "artifact_gb": 2, "bucket_gb": 100, "bigquery_gb": 25}
    )
    lines = by_resource(priced(b.recording, profile))
    versions = sum(usd for name, usd in lines.items() if name.startswith("db-password-"))
    assert versions == pytest.approx((4 * 2 - 6) * 0.06)  # 8 version-locations, 6 free
    assert lines["db-password"] == pytest.approx((10 - 1) * 0.03)  # accesses per 10,000, the first 10,000 free
    assert lines["images"] == pytest.approx((2 - 0.5) * 0.10)
    assert lines["backups"] == pytest.approx(100 * 0.020)
    assert lines["archive"] == pytest.approx(100 * 0.015)
    assert lines["logs"] == pytest.approx((25 - 10) * 0.02)


def test_a_rotated_kms_key_is_priced_per_version_it_keeps_active() -> None:
    b = Builder()
    b.add("gcp:kms/cryptoKey:CryptoKey", "secrets-key", {"rotationPeriod": "7776000s"})  # every 90 days
    assert priced(b.recording).total == pytest.approx((1 + 4) * 0.06)  # a year of rotations, none destroyed


def test_a_customer_managed_key_is_priced_by_its_versions_and_the_operations_of_the_profile() -> None:
    b = Builder()
    b.add("gcp:kms/cryptoKey:CryptoKey", "sql", {"rotationPeriod": "7776000s", "purpose": "ENCRYPT_DECRYPT"})
    estimate = priced(b.recording, QUIET.model_copy(update={"kms_operations_per_month": 200_000}))
    usd = {line.price: line.usd for line in estimate.lines if line.resource == "sql"}
    assert usd == pytest.approx({"kms.key_version": 5 * 0.06, "kms.operations": 20 * 0.03})


def test_prod_prices_every_customer_managed_key_it_creates() -> None:
    program = program_of("prod")
    keys = {r.name for r in program.of("gcp:kms/cryptoKey:CryptoKey")}
    estimate = cost.estimate(program, TABLE, config_of("prod").estimates)
    priced_keys = {line.resource for line in estimate.lines if line.price in ("kms.key_version", "kms.operations")}
    assert keys
    assert keys == priced_keys


def test_stack_wide_usage_lands_on_the_same_resource_whatever_the_registration_order() -> None:
    """The SDK registers resources in a different order from run to run; the breakdown must not move with it."""
    owners = set()
    for names in (("redis-auth", "database-app"), ("database-app", "redis-auth")):
        b = Builder()
        for name in names:
            b.add("gcp:secretmanager/secret:Secret", name)
            b.add("gcp:compute/globalForwardingRule:GlobalForwardingRule", f"{name}-rule")
        estimate = priced(b.recording, QUIET.model_copy(update={"secret_accesses_per_month": 1, "egress_gb": 1}))
        owners.add(tuple(sorted((line.price, line.resource) for line in estimate.lines if line.resource)))
    assert len(owners) == 1, owners


def test_a_bucket_in_a_location_without_prices_is_listed_as_not_priced() -> None:
    b = Builder()
    b.add("gcp:storage/bucket:Bucket", "far", {"location": "ASIA", "storageClass": "STANDARD"})
    estimate = priced(b.recording)
    assert [name for name, _ in estimate.unpriced] == ["far"]
    assert "storage.ASIA.STANDARD" in estimate.unpriced[0][1]


def test_uptime_checks_logging_and_scheduler_jobs_after_their_free_allowances() -> None:
    b = Builder()
    for name in ("a", "b", "c", "d", "e"):
        b.add("gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig", f"uptime-{name}", {"period": "60s"})
    b.add("gcp:cloudscheduler/job:Job", "start")
    b.add("gcp:cloudscheduler/job:Job", "stop")
    estimate = priced(b.recording, QUIET.model_copy(update={"log_gb": 80}))
    executions = 5 * 2_628_000 / 60 * 6  # six checker locations by default
    lines = by_resource(estimate)
    assert sum(usd for name, usd in lines.items() if name.startswith("uptime-")) == pytest.approx(
        (executions / 1000 - 1000) * 0.30
    )
    assert lines["cloud-logging"] == pytest.approx(15.0)
    assert lines["start"] == lines["stop"] == 0  # three jobs a month are free


def test_pubsub_topics_and_subscriptions_are_priced_by_the_data_they_carry() -> None:
    assert TABLE["pubsub.throughput"].cost(10) == 0  # the first 10 GiB a month are free
    assert TABLE["pubsub.throughput"].cost(10 + 1024) == pytest.approx(40)  # then $40 per TiB
    b = Builder()
    b.add("gcp:pubsub/topic:Topic", "orders", {"name": "acme-prod-orders"})
    b.add("gcp:pubsub/subscription:Subscription", "orders-worker", {"topic": "projects/acme/topics/acme-prod-orders"})
    b.add("gcp:pubsub/subscription:Subscription", "orders-audit", {"topic": "acme-prod-orders"})
    lines = by_resource(priced(b.recording, QUIET.model_copy(update={"pubsub_gib": 20})))
    # 20 GiB published, then delivered to each of the two subscriptions: 60 GiB, of which 10 are free.
    assert sum(lines.values()) == pytest.approx((60 - 10) * 40 / 1024)
    assert lines["orders"] == pytest.approx(lines["orders-worker"]) == pytest.approx(lines["orders-audit"])


def test_the_budget_topic_is_priced_by_its_notifications_not_the_profile() -> None:
    b = Builder()
    b.add("gcp:pubsub/topic:Topic", "budget-topic", {"name": "acme-prod-budget-alerts"})
    topic = "projects/acme-platform-prod/topics/acme-prod-budget-alerts"
    b.add("gcp:billing/budget:Budget", "budget", {"allUpdatesRule": {"pubsubTopic": topic}})
    estimate = priced(b.recording, QUIET.model_copy(update={"pubsub_gib": 500}))
    (line,) = [line for line in estimate.lines if line.price == "pubsub.throughput"]
    assert line.resource == "budget-topic"
    assert line.quantity == pytest.approx(3 * 730 * 1000 / 2**30)  # three an hour, 1,000 bytes billed each
    assert line.usd == 0  # far inside the free 10 GiB


def test_prod_prices_its_budget_topic_at_the_pubsub_price() -> None:
    program = program_of("prod")
    budget = program.one("gcp:billing/budget:Budget")
    (topic,) = [
        t
        for t in program.of("gcp:pubsub/topic:Topic")
        if t.outputs["id"] == budget.inputs["allUpdatesRule"]["pubsubTopic"]
    ]
    estimate = stack_estimate("prod", program, config_of("prod")).cost
    assert estimate is not None
    (line,) = [line for line in estimate.lines if line.resource == topic.name]
    assert line.price == "pubsub.throughput"
    assert "budget notifications" in line.item
    assert line.quantity == pytest.approx(3 * 730 * 1000 / 2**30)  # three an hour at the 1,000-byte minimum
    assert line.usd < 0.01  # its share of whatever the stack's topics carry beyond the free 10 GiB


def test_the_cloudflare_plan_and_workers_are_priced_when_the_stack_has_an_edge() -> None:
    b = Builder()
    edge = b.component("Edge", "edge")
    b.add("cloudflare:index/zoneSubscription:ZoneSubscription", "edge-plan", {"ratePlan": {"id": "pro"}}, parent=edge)
    b.add("cloudflare:index/workersScript:WorkersScript", "edge-worker", parent=edge)
    profile = QUIET.model_copy(update={"requests_per_month": 20_000_000, "worker_cpu_ms": 3})
    estimate = priced(b.recording, profile)
    # The plan, Workers Paid, requests beyond 10 M, CPU time beyond 30 M ms (20 M requests x 3 ms).
    assert dict(estimate.by_component())["edge"] == pytest.approx(20 + 5 + (20 - 10) * 0.30 + (60 - 30) * 0.02)
    assert not priced(Builder().recording, profile, edge_plan="business").total  # no edge, no Cloudflare bill


def test_unknown_types_are_reported_and_free_types_are_not() -> None:
    b = Builder()
    b.add("gcp:compute/instance:Instance", "vm")
    b.add("gcp:compute/firewall:Firewall", "deny-all")
    b.add("gcp:projects/iAMMember:IAMMember", "grant")
    assert priced(b.recording).unpriced == (("vm", "no price model for gcp:compute/instance:Instance"),)


def test_the_estimate_warns_above_the_budget_the_program_creates() -> None:
    b = Builder()
    b.add("gcp:redis/instance:Instance", "cache", {"tier": "BASIC", "memorySizeGb": 1})
    assert priced(b.recording).over_budget == 0
    b.add("gcp:billing/budget:Budget", "budget", {"amount": {"specifiedAmount": {"units": "30"}}})
    estimate = priced(b.recording, QUIET.model_copy(update={"budget_usd": 1000}))
    assert estimate.budget_usd == 30  # the stack's own billing budget wins over the profile's fallback
    assert estimate.over_budget == pytest.approx(730 * 0.051 - 30)


def test_the_breakdown_ranks_components_and_names_what_dominates() -> None:
    b = Builder()
    _database(b)
    b.add("gcp:redis/instance:Instance", "cache", {"tier": "BASIC", "memorySizeGb": 1})
    ranked = priced(b.recording).by_component()
    assert [name for name, _ in ranked][:2] == ["database", "cache"]
    assert sum(usd for _, usd in ranked) == pytest.approx(priced(b.recording).total)


def test_every_resource_of_every_stack_is_priced_or_known_to_be_free(program: Recording, stack: str) -> None:
    estimate = stack_estimate(stack, program, config_of(stack)).cost
    assert estimate is not None
    assert estimate.unpriced == ()


def test_dev_costs_at_most_about_60_dollars_a_month() -> None:
    estimate = stack_estimate("dev", program_of("dev"), config_of("dev")).cost
    assert estimate is not None
    assert estimate.total <= 60, estimate.by_component()


def test_dev_stops_its_database_out_of_hours() -> None:
    office_hours = config_of("dev").schedule.database_office_hours
    assert office_hours is not None
    assert office_hours.running_fraction < 0.5
    assert config_of("prod").schedule.database_office_hours is None


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("requests_per_month", -1, r"estimates\.requests_per_month"),
        ("cloudflare_plan", "pro", r"estimates\.cloudflare_plan: is no longer read.*edge\.plan"),
        ("route_share", {"api": 1, "shop": 1}, r"estimates\.route_share\.shop: 'shop' is not one of services"),
        (
            "route_share",
            {"api": 1},
            r"estimates\.route_share: give every service .*missing: auth, platform, orders, analytics",
        ),
        ("route_share", {"api": -1}, r"estimates\.route_share\.api"),
        ("traffic", 1, r"estimates\.traffic is not a known key"),
    ],
)
def test_a_bad_usage_profile_names_the_key(key: str, value: object, message: str) -> None:
    raw = raw_config("dev")
    raw["estimates"] = {**dict(raw.get("estimates") or {}), key: value}  # type: ignore[call-overload]
    with pytest.raises(pulumi.RunError, match=message):
        stack_config.parse(raw, stack_file="Pulumi.dev.yaml")


def test_the_config_examples_in_the_docs_are_valid() -> None:
    text = (ROOT / "docs" / "estimates.md").read_text()
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)]
    examples = {k.removeprefix("platform:"): v for block in blocks for k, v in block.items()}
    assert set(examples) == {"estimates", "schedule"}
    config = stack_config.parse({**raw_config("dev"), **examples}, stack_file="docs/estimates.md")
    assert config.estimates.route_share == {"api": 0.9, "auth": 0.1, "platform": 0.2, "orders": 0.45, "analytics": 0.02}
    assert config.schedule.database_office_hours is not None


def test_a_small_platform_totals_its_hand_computed_parts() -> None:
    """A dev-shaped platform: the sum a reviewer can redo by hand from the price table."""
    b = Builder()
    b.add(SQL, "db", {"settings": {"tier": "db-f1-micro", "diskSize": 10, "backupConfiguration": {"enabled": True}}})
    b.add("gcp:redis/instance:Instance", "redis", {"tier": "BASIC", "memorySizeGb": 1})
    _service(b, "web", minimum=0, cpu="1", memory="512Mi", cpu_idle=True)
    b.add("gcp:compute/globalForwardingRule:GlobalForwardingRule", "https")
    b.add("gcp:compute/securityPolicy:SecurityPolicy", "armor", {"rules": [{"priority": p} for p in range(5)]})
    b.add("gcp:compute/routerNat:RouterNat", "nat")
    profile = QUIET.model_copy(update={"requests_per_month": 200_000, "egress_gb": 2, "nat_gb": 1, "nat_instances": 1})
    hours = 730 * 60 / 168
    estimate = priced(b.recording, profile, database_hours=hours, database_schedule="office hours")
    database = hours * 0.0105 + 10 * 0.17 + 10 * 0.08
    redis = 730 * 0.051
    load_balancer = 730 * 0.025 + 2 * 0.008 + 2 * 0.12
    armor = 5 + 5 + 0.2 * 0.75
    nat = 730 * 0.0014 + 1 * 0.045 + 730 * 0.005  # the gateway, its data and the address it allocates itself
    assert estimate.total == pytest.approx(database + redis + load_balancer + armor + nat)  # Cloud Run: free tier
    assert estimate.total == pytest.approx(75.8405, abs=0.001)


def test_a_secret_notification_topic_is_priced_by_secret_managers_notices_not_the_profile() -> None:
    """The rotation topic carries a few notices a month per secret, not the profile's `pubsub_gib` of messages."""
    program = program_of("prod")
    estimate = cost.estimate(program, TABLE, config_of("prod").estimates)
    notices = [line for line in estimate.lines if line.resource in ("app-secrets-rotation", "app-secrets-rotation-due")]
    assert len(notices) == 2
    for line in notices:
        assert "10 Secret Manager notices" in line.item
        assert line.quantity == pytest.approx(10 * 1000 / 2**30)
