"""The billing model: how Cloud Run, Cloud SQL, Cloud Armor, NAT, logs, exports and the edge are billed, beyond the
price table's figures."""

from __future__ import annotations

import math

import pulumi
import pytest

import stack_config
from components.backup.workflows import database_workflow, to_yaml
from offline.catalog.compute import fleet
from offline.estimate import cost, prices
from offline.estimate.report import estimate as stack_estimate
from stack_config import EstimatesArgs
from tests.conftest import config_of, program_of, raw_config
from tests.records import Builder
from tests.test_estimate_cost import QUIET, SQL, _service, by_resource, priced

S = 730 * 3600
RUN = "gcp:cloudrunv2/service:Service"
TABLE = prices.load("europe-west1")


# --- Cloud Run ---------------------------------------------------------------------------------------------------


def test_at_low_load_each_request_is_alone_on_an_instance() -> None:
    instances, busy, idle = fleet(0.01, concurrency=80, minimum=0, maximum=100)
    assert instances == 1
    assert busy == pytest.approx(1 - math.exp(-0.01))  # ~ the load itself
    assert idle == 0


def test_at_high_load_instances_fill_to_the_autoscalers_target_concurrency() -> None:
    instances, busy, _ = fleet(480.0, concurrency=80, minimum=0, maximum=100)
    assert instances == 10  # 480 requests in flight at 60 % of 80 each
    assert busy == pytest.approx(10, rel=1e-4)
    assert fleet(480.0, concurrency=80, minimum=0, maximum=4)[0] == 4  # never above the maximum


def test_minimum_instances_are_idle_only_while_they_serve_nothing() -> None:
    instances, busy, idle = fleet(0.5, concurrency=80, minimum=2, maximum=10)
    assert instances == 2
    assert busy + idle == pytest.approx(2)  # each of the two is either busy or idle, billed once
    assert busy == pytest.approx(2 * (1 - math.exp(-0.25)))


def test_concurrency_shares_instance_time_between_requests() -> None:
    profile = QUIET.model_copy(update={"requests_per_month": 100_000_000, "avg_request_ms": 200})
    alone, shared = Builder(), Builder()
    _service(alone, "api", minimum=0, cpu="1", memory="512Mi", cpu_idle=True, concurrency=1)
    _service(shared, "api", minimum=0, cpu="1", memory="512Mi", cpu_idle=True, concurrency=80)
    load = 100_000_000 / S * 0.2  # 7.6 requests in flight
    assert by_resource(priced(alone.recording, profile))["api"] == pytest.approx(
        (load * S - 180_000) * 0.000024 + (0.5 * load * S - 360_000) * 0.0000025 + (100 - 2) * 0.40, rel=1e-3
    )
    assert (
        by_resource(priced(shared.recording, profile))["api"] < by_resource(priced(alone.recording, profile))["api"] / 3
    )


def test_instance_based_billing_charges_each_instance_second_once() -> None:
    """CPU always allocated: the minimum instances all month, and the requests they serve are not added on top."""
    b = Builder()
    _service(b, "api", minimum=2, cpu="2", memory="1Gi", cpu_idle=False)
    quiet = priced(b.recording, QUIET)
    busy = priced(b.recording, QUIET.model_copy(update={"requests_per_month": 30_000_000, "avg_request_ms": 150}))
    monthly = (2 * 2 * S - 240_000) * 0.000018 + (2 * 1 * S - 450_000) * 0.000002
    assert quiet.total == busy.total == pytest.approx(monthly)
    assert not [line for line in busy.lines if line.price.startswith(("run.idle", "run.request"))]


def test_request_based_minimum_instances_pay_the_idle_rate_only_while_idle() -> None:
    b = Builder()
    _service(b, "web", minimum=1, cpu="1", memory="512Mi", cpu_idle=True)
    profile = QUIET.model_copy(update={"requests_per_month": 2_628_000, "avg_request_ms": 100})  # load 0.1
    lines = {line.price: line.quantity for line in priced(b.recording, profile).lines}
    busy = 1 - math.exp(-0.1)
    assert lines["run.request.cpu"] == pytest.approx(busy * S)
    assert lines["run.idle.cpu"] == pytest.approx((1 - busy) * S)
    assert lines["run.request.cpu"] + lines["run.idle.cpu"] == pytest.approx(S)  # one instance, each second once


def test_the_edges_requests_fan_out_to_the_services_by_route_share() -> None:
    b = Builder()
    for name in ("web", "api", "orders"):
        _service(b, name, minimum=0, cpu="1", memory="512Mi", cpu_idle=True)
    shares = {"web": 0.4, "api": 0.6, "orders": 0.45}
    profile = QUIET.model_copy(update={"requests_per_month": 10_000_000, "route_share": shares})
    requests = {
        line.resource: line.quantity for line in priced(b.recording, profile).lines if line.price == "run.requests"
    }
    assert requests == pytest.approx({"web": 4.0, "api": 6.0, "orders": 4.5})
    even = {
        line.resource: line.quantity
        for line in priced(b.recording, profile.model_copy(update={"route_share": {}})).lines
        if line.price == "run.requests"
    }
    assert even == pytest.approx({name: 10 / 3 for name in shares})  # no shares: an even split, not 10 M each


def test_cloud_armor_and_the_worker_see_the_edges_requests_once() -> None:
    program = program_of("prod")
    result = stack_estimate("prod", program, config_of("prod")).cost
    assert result is not None
    edge = config_of("prod").estimates.requests_per_month / 1e6
    armor = [line for line in result.lines if line.price == "armor.requests"]
    assert len(armor) == 2  # the edge policy and the backend policy each evaluate every request
    assert all(line.quantity == edge for line in armor)
    (worker,) = [line for line in result.lines if line.price == "cloudflare.workers_requests"]
    assert worker.quantity == edge


# --- Cloud SQL ---------------------------------------------------------------------------------------------------


def _plus(b: Builder, name: str, *, region: str = "europe-west1", ha: bool = False, **settings: object) -> None:
    inputs = {
        "region": region,
        "settings": {
            "tier": "db-perf-optimized-N-2",
            "edition": "ENTERPRISE_PLUS",
            "availabilityType": "REGIONAL" if ha else "ZONAL",
            "diskSize": 50,
            **settings,
        },
    }
    if name != "primary":
        inputs["masterInstanceName"] = "primary"
    b.add(SQL, name, inputs)


def test_the_enterprise_plus_data_cache_is_billed_unless_turned_off() -> None:
    on, off = Builder(), Builder()
    _plus(on, "primary", ha=True)
    _plus(off, "primary", ha=True, dataCacheConfig={"dataCacheEnabled": False})
    difference = priced(on.recording).total - priced(off.recording).total
    assert difference == pytest.approx(2 * 375 * 0.16)  # 375 GB on the primary and on its HA standby


def test_prod_states_its_data_cache_and_its_instances_ask_for_it() -> None:
    assert config_of("prod").database.data_cache is True
    for instance in program_of("prod").of(SQL):
        assert instance.inputs["settings"]["dataCacheConfig"] == {"dataCacheEnabled": True}
    for instance in program_of("staging").of(SQL):  # Enterprise edition: no data cache to ask for
        assert "dataCacheConfig" not in instance.inputs["settings"]


def test_a_data_cache_on_the_enterprise_edition_is_refused() -> None:
    raw = raw_config("staging")
    raw["database"] = {**raw["database"], "data_cache": True}
    with pytest.raises(pulumi.RunError, match=r"database\.data_cache: the data cache is an Enterprise Plus feature"):
        stack_config.parse(raw, stack_file="Pulumi.staging.yaml")


def test_a_replica_in_another_region_is_priced_there_and_pays_for_what_it_replicates() -> None:
    b = Builder()
    _plus(b, "primary")
    _plus(b, "dr", region="europe-west4")
    profile = QUIET.model_copy(update={"database_change_gb_per_day": 2})
    lines = [line for line in priced(b.recording, profile).lines if line.resource == "dr"]
    netherlands = prices.load("europe-west4")
    assert {line.price: line.region for line in lines} == {
        "sql.enterprise_plus.vcpu": "europe-west4",
        "sql.enterprise_plus.memory": "europe-west4",
        "sql.data_cache": "europe-west4",
        "sql.storage.PD_SSD": "europe-west4",
        "network.inter_region": "europe-west1",  # billed where the data leaves
    }
    usd = {line.price: line.usd for line in lines}
    assert usd["sql.enterprise_plus.vcpu"] == pytest.approx(
        2 * 730 * netherlands["sql.enterprise_plus.vcpu"].unit_price
    )
    assert usd["network.inter_region"] == pytest.approx(2 * 730 / 24 * 0.02)


def test_backups_keep_one_copy_of_the_data_plus_each_days_changes_and_logs() -> None:
    b = Builder()
    backups = {
        "enabled": True,
        "pointInTimeRecoveryEnabled": True,
        "transactionLogRetentionDays": 14,
        "backupRetentionSettings": {"retainedBackups": 30},
        "location": "europe-west4",
    }
    _plus(b, "primary", backupConfiguration=backups)
    profile = QUIET.model_copy(update={"database_gb": 40, "database_change_gb_per_day": 2})
    (line,) = [line for line in priced(b.recording, profile).lines if line.price == "sql.backup"]
    assert line.quantity == 40 + 29 * 2 + 14 * 2
    assert line.region == "europe-west4"  # priced where the backups are kept
    assert line.usd == pytest.approx(126 * 0.088)


def test_daily_exports_to_another_region_pay_for_moving_there() -> None:
    def exported(bucket_location: str) -> tuple[cost.Line, ...]:
        b = Builder()
        b.add(SQL, "primary", {"settings": {"tier": "db-f1-micro", "diskSize": 10}})
        b.add("gcp:storage/bucket:Bucket", "backup-bucket", {"name": "acme-backups", "location": bucket_location})
        source = to_yaml(database_workflow("acme", "acme-backups", "acme-db", ["app"], 3600))
        b.add("gcp:workflows/workflow:Workflow", "export", {"sourceContents": source})
        return priced(b.recording, QUIET.model_copy(update={"database_gb": 4})).lines

    (transfer,) = [line for line in exported("EUROPE-WEST4") if line.price == "network.inter_region"]
    assert transfer.resource == "export"
    assert transfer.quantity == pytest.approx(4 * 31)  # a 4 GB export on each of the month's executions
    assert not [line for line in exported("EUROPE-WEST1") if line.price.startswith("network.")]


# --- Network, logs, images, alerting --------------------------------------------------------------------------------


def test_auto_allocated_nat_addresses_are_billed_like_static_ones() -> None:
    auto, manual = Builder(), Builder()
    auto.add("gcp:compute/routerNat:RouterNat", "nat", {"natIpAllocateOption": "AUTO_ONLY", "minPortsPerVm": 64})
    manual.add("gcp:compute/routerNat:RouterNat", "nat", {"natIpAllocateOption": "MANUAL_ONLY"})
    profile = QUIET.model_copy(update={"nat_instances": 1})
    assert priced(auto.recording, profile).total - priced(manual.recording, profile).total == pytest.approx(730 * 0.005)
    many = QUIET.model_copy(update={"nat_instances": 2000})  # 2,000 x 64 ports need two addresses
    (ips,) = [line for line in priced(auto.recording, many).lines if line.price == "nat.ip"]
    assert ips.quantity == 2 * 730


def test_flow_and_firewall_logs_are_billed_without_a_free_allotment() -> None:
    b = Builder()
    b.add("gcp:compute/subnetwork:Subnetwork", "app", {"logConfig": {"aggregationInterval": "INTERVAL_5_SEC"}})
    profile = QUIET.model_copy(update={"network_log_gb": 2})
    assert priced(b.recording, profile).total == pytest.approx(2 * 0.25)
    silent = Builder()
    silent.add("gcp:compute/subnetwork:Subnetwork", "app", {})
    assert priced(silent.recording, profile).total == 0


def test_logs_kept_beyond_thirty_days_pay_retention() -> None:
    b = Builder()
    b.add("gcp:logging/projectBucketConfig:ProjectBucketConfig", "logs", {"bucketId": "_Default", "retentionDays": 90})
    profile = QUIET.model_copy(update={"log_gb": 40, "network_log_gb": 20})  # ingestion inside the free 50 GiB
    assert priced(b.recording, profile).total == pytest.approx((40 + 20) * 60 / (730 / 24) * 0.01)


def test_each_new_image_is_scanned_once_when_scanning_is_on() -> None:
    def repository(enablement: str) -> float:
        b = Builder()
        b.add("gcp:projects/service:Service", "api", {"service": "containerscanning.googleapis.com"})
        b.add(
            "gcp:artifactregistry/repository:Repository",
            "r",
            {"vulnerabilityScanningConfig": {"enablementConfig": enablement}},
        )
        return priced(b.recording, QUIET.model_copy(update={"images_pushed_per_month": 20})).total

    assert repository("INHERITED") == pytest.approx(20 * 0.26)
    assert repository("DISABLED") == 0


def test_alerting_is_priced_beside_the_total_not_in_it() -> None:
    b = Builder()
    conditions = [
        {"conditionThreshold": {"filter": "a"}},
        {"conditionThreshold": {"filter": "a", "denominatorFilter": "b"}},  # a ratio reads two metrics
        {"conditionMatchedLog": {"filter": "c"}},
    ]
    b.add("gcp:monitoring/alertPolicy:AlertPolicy", "alerts", {"conditions": conditions})
    result = priced(b.recording)
    assert result.total == 0
    (announced,) = result.announced
    assert (announced.price, announced.quantity, announced.starts) == ("monitoring.alert_reference", 3, "2027-09-01")
    assert announced.usd == pytest.approx(3 * 0.35)


# --- Free tiers and the edge ------------------------------------------------------------------------------------------


def test_a_stack_sharing_its_billing_account_counts_none_of_its_free_tiers() -> None:
    b = Builder()
    b.add("gcp:cloudscheduler/job:Job", "a")
    b.add("gcp:cloudscheduler/job:Job", "b")
    b.add("gcp:logging/projectBucketConfig:ProjectBucketConfig", "logs", {"bucketId": "_Default", "retentionDays": 30})
    alone = priced(b.recording, QUIET.model_copy(update={"log_gb": 40}))
    shared = priced(b.recording, QUIET.model_copy(update={"log_gb": 40, "shares_billing_account": True}))
    assert alone.total == 0  # three jobs a month free on the billing account; 50 GiB of logs free per project
    assert shared.total == pytest.approx(2 * 0.10)  # the account's free jobs go elsewhere; the project's logs do not
    assert "other projects" in shared.free_tiers
    assert "counted in this stack" in alone.free_tiers


def test_dev_and_staging_leave_the_billing_accounts_free_tiers_to_prod() -> None:
    assert config_of("dev").estimates.shares_billing_account
    assert config_of("staging").estimates.shares_billing_account
    assert not config_of("prod").estimates.shares_billing_account


@pytest.mark.parametrize(("stack", "plan"), [("dev", "free"), ("staging", "pro"), ("prod", "business")])
def test_the_cloudflare_plan_priced_is_the_zones_edge_plan(stack: str, plan: str) -> None:
    edge = config_of(stack).edge
    assert edge is not None
    assert edge.plan == plan
    result = stack_estimate(stack, program_of(stack), config_of(stack)).cost
    assert result is not None
    assert [line.price for line in result.lines if line.price.startswith("cloudflare.plan.")] == [
        f"cloudflare.plan.{plan}"
    ]


def test_an_edge_without_a_known_plan_is_listed_as_not_priced() -> None:
    b = Builder()
    b.add("cloudflare:index/workersScript:WorkersScript", "edge-worker")
    result = cost.estimate(b.recording, TABLE, EstimatesArgs())
    assert result.unpriced == (("cloudflare", "the stack has Cloudflare resources but no plan: set edge.plan"),)
