"""Observability: what on-call is told, when, and where; checked on the inputs the engine receives, per stack."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pulumi
import pytest

import stack_config
from components.audit_logs import AuditLogsArgs
from components.backup.watch import FAILURE_RUNBOOK, failure_filter
from components.budget import SKIPPED
from components.cloud_run import ServiceArgs
from components.cloud_run.watch import watch_service
from components.database.watch import watch_database
from components.load_balancer import LoadBalancerArgs
from components.observability import ChannelSecrets, Chart, Observability, ObservabilityArgs, Watched
from components.observability.dashboard import dashboard_document
from components.observability.signals import Alert, log_match
from components.redis import watch_redis
from components.routing import route_of
from offline.engine import SECRET_MASK, Recording, run
from offline.plan import render
from tests.conftest import ALL_STACKS, STACKS, config_of, context_of, program_of, raw_config
from tests.docs import yaml_blocks

ROOT = Path(__file__).resolve().parent.parent
ALERT = "gcp:monitoring/alertPolicy:AlertPolicy"
API_SERVICE = "acme-api"
DB_INSTANCE = "acme-db"
REDIS_ID = "projects/p/locations/europe-west1/instances/acme-cache"

_recordings: dict[str, Recording] = {}


def watched(stack: str) -> list[Watched]:
    """A public and a private service, a database with a replica, Redis and backups, as the workloads publish them."""
    config = config_of(stack)
    alerts = config.observability.alerts
    api = ServiceArgs(image="api:1.0.0", max_instances=20, latency_p99_ms=800, public=True, ingress="all")
    worker = ServiceArgs(image="worker:1.0.0", max_instances=5, latency_p99_ms=5000)
    return [
        watch_service("api", API_SERVICE, api, alerts.cloud_run, "api.acme.example"),
        watch_service("worker", "acme-worker", worker, alerts.cloud_run, None),
        watch_database(config.gcp.project, DB_INSTANCE, {"read": "acme-db-read"}, 200, alerts.cloud_sql),
        watch_redis(REDIS_ID, alerts.redis),
        Watched(
            "backup",
            alerts=(
                Alert(
                    "backup-failure",
                    "Backup failed",
                    [log_match("x", failure_filter("p", ["w"], ["j"]))],
                    FAILURE_RUNBOOK,
                ),
            ),
        ),
    ]


def wired(stack: str, secrets: ChannelSecrets | None = None) -> Recording:
    """The component watching what `watched` publishes, as the program wires it."""
    if secrets is None and stack in _recordings:
        return _recordings[stack]
    config = config_of(stack)

    def build() -> None:
        Observability(
            "observability",
            config.observability,
            ctx=context_of(stack, protect=config.protection.protect),
            secrets=secrets
            or ChannelSecrets(
                slack_token=pulumi.Output.secret("xoxb-token"),
                pagerduty_service_key=pulumi.Output.secret("pd-key"),
                webhook_url=pulumi.Output.secret("https://hooks.example/abc"),
            ),
            watched=watched(stack),
        )

    recording = run(build, stack=stack, project_id=config.gcp.project, region=config.gcp.region)
    if secrets is None:
        _recordings[stack] = recording
    return recording


def alert(recording: Recording, key: str) -> dict[str, Any]:
    return recording.named(f"observability-{key}").inputs


def threshold_of(policy: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return dict(policy["conditions"][index]["conditionThreshold"])


# Notification channels -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_an_email_channel_exists_per_configured_address(stack: str) -> None:
    emails = config_of(stack).observability.channels.emails
    channels = wired(stack).of("gcp:monitoring/notificationChannel:NotificationChannel", type="email")
    assert sorted(c.inputs["labels"]["email_address"] for c in channels) == sorted(emails.values())


def test_prod_pages_through_slack_and_pagerduty_with_secret_tokens() -> None:
    recording = wired("prod")
    slack = recording.one("gcp:monitoring/notificationChannel:NotificationChannel", type="slack")
    assert slack.inputs["labels"] == {"channel_name": "#platform-alerts"}
    assert slack.inputs["sensitiveLabels"] == {"authToken": SECRET_MASK}  # reaches the engine as a Pulumi secret only
    pagerduty = recording.one("gcp:monitoring/notificationChannel:NotificationChannel", type="pagerduty")
    assert pagerduty.inputs["sensitiveLabels"] == {"serviceKey": SECRET_MASK}
    assert not wired("dev").of("gcp:monitoring/notificationChannel:NotificationChannel", type="slack")


@pytest.mark.parametrize("stack", STACKS)
def test_every_alert_notifies_every_channel(stack: str) -> None:
    recording = wired(stack)
    channels = {c.name for c in recording.of("gcp:monitoring/notificationChannel:NotificationChannel")}
    for policy in recording.of(ALERT):
        assert len(policy.inputs["notificationChannels"]) == len(channels), policy.name


def test_a_channel_without_its_secret_stops_the_program_naming_the_key() -> None:
    with pytest.raises(pulumi.RunError, match=r"slack_channel needs the secret platform:observability_slack_token"):
        wired("prod", secrets=ChannelSecrets())


def test_channel_secrets_are_declared_so_the_unknown_key_check_accepts_them() -> None:
    assert "observability_slack_token" in stack_config.SECRET_KEYS
    assert "observability_pagerduty_service_key" in stack_config.SECRET_KEYS


# Uptime checks ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_public_services_get_an_uptime_check_every_minute_from_three_regions(stack: str) -> None:
    (check,) = wired(stack).of("gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig")
    assert check.name == "observability-api-uptime"  # the private worker has none
    assert check.inputs["period"] == "60s"
    assert len(set(check.inputs["selectedRegions"])) >= 3
    assert check.inputs["httpCheck"]["path"] == "/health"  # not /healthz: Cloud Run reserves some paths ending in z
    assert check.inputs["httpCheck"]["useSsl"] is True
    assert check.inputs["httpCheck"]["acceptedResponseStatusCodes"] == [{"statusValue": 200}]
    assert "contentMatchers" not in check.inputs
    assert check.inputs["monitoredResource"]["labels"]["host"] == "api.acme.example"


@pytest.mark.parametrize("stack", STACKS)
def test_a_failing_uptime_check_alerts(stack: str) -> None:
    recording = wired(stack)
    check = recording.named("observability-api-uptime")
    condition = threshold_of(alert(recording, "api-uptime-failing"))
    assert f'metric.label.check_id="{check.outputs["uptimeCheckId"]}"' in condition["filter"]
    assert condition["aggregations"][0]["crossSeriesReducer"] == "REDUCE_COUNT_FALSE"


def test_uptime_checks_need_three_regions() -> None:
    raw = raw_config("dev")
    raw["observability"]["uptime"] = {"regions": ["EUROPE", "USA"]}  # type: ignore[index]
    with pytest.raises(pulumi.RunError, match=r"observability\.uptime\.regions: uptime checks need at least 3"):
        stack_config.parse(raw, stack_file="Pulumi.dev.yaml")


# Alert policies ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_cloud_run_5xx_ratio_alerts_above_the_configured_ratio_for_five_minutes(stack: str) -> None:
    ratio = config_of(stack).observability.alerts.cloud_run.error_ratio
    condition = threshold_of(alert(wired(stack), "api-5xx-ratio"))
    assert condition["thresholdValue"] == ratio
    assert condition["duration"] == "300s"
    assert 'response_code_class="5xx"' in condition["filter"]
    assert f'service_name="{API_SERVICE}"' in condition["denominatorFilter"]
    assert "5xx" not in condition["denominatorFilter"]


def test_prod_alerts_on_one_percent_of_5xx() -> None:
    assert threshold_of(alert(wired("prod"), "api-5xx-ratio"))["thresholdValue"] == 0.01


@pytest.mark.parametrize("stack", STACKS)
def test_cloud_run_latency_cpu_and_max_instances_alert_on_their_targets(stack: str) -> None:
    recording = wired(stack)
    latency = threshold_of(alert(recording, "api-latency-p99"))
    assert (latency["thresholdValue"], latency["aggregations"][0]["perSeriesAligner"]) == (800, "ALIGN_PERCENTILE_99")
    cpu = threshold_of(alert(recording, "api-cpu"))
    assert cpu["thresholdValue"] == 0.8
    assert cpu["duration"] == "300s"
    assert "container/cpu/utilizations" in cpu["filter"]
    instances = threshold_of(alert(recording, "worker-instances-at-max"))
    assert (instances["thresholdValue"], instances["comparison"]) == (5, "COMPARISON_GE")


@pytest.mark.parametrize("stack", STACKS)
def test_cloud_sql_alerts_on_cpu_memory_disk_connections_and_replica_lag(stack: str) -> None:
    recording = wired(stack)
    t = config_of(stack).observability.alerts.cloud_sql
    database_id = f'database_id="{config_of(stack).gcp.project}:{DB_INSTANCE}"'
    expected = {"cpu": t.cpu_utilization, "memory": t.memory_utilization, "disk": t.disk_utilization}
    for key, value in expected.items():
        condition = threshold_of(alert(recording, f"database-{key}"))
        assert condition["thresholdValue"] == value, key
        assert database_id in condition["filter"], key
    assert threshold_of(alert(recording, "database-connections"))["thresholdValue"] == int(200 * t.connections_ratio)
    lag = threshold_of(alert(recording, "database-replica-lag"))
    assert lag["thresholdValue"] == t.replica_lag_seconds
    assert "acme-db-read" in lag["filter"]


@pytest.mark.parametrize("stack", STACKS)
def test_redis_alerts_above_eighty_percent_memory(stack: str) -> None:
    condition = threshold_of(alert(wired(stack), "redis-memory"))
    assert condition["thresholdValue"] == 0.8
    assert f'instance_id="{REDIS_ID}"' in condition["filter"]


@pytest.mark.parametrize("stack", STACKS)
def test_a_failed_backup_or_export_alerts_from_the_logs(stack: str) -> None:
    policy = alert(program_of(stack), "backup-failure")
    log_filter = policy["conditions"][0]["conditionMatchedLog"]["filter"]
    # What it matches is tested against the log entries Google writes in tests/test_backup_watch.py.
    names = [program_of(stack).named(f"backup-{kind}-workflow").inputs["name"] for kind in ("database", "redis")]
    assert log_filter == failure_filter(config_of(stack).gcp.project, names, names)
    assert policy["alertStrategy"]["notificationRateLimit"]["period"] == "3600s"  # log-based alerts require one


@pytest.mark.parametrize("stack", STACKS)
def test_every_alert_says_what_it_means_and_links_its_runbook(stack: str) -> None:
    policies = wired(stack).of(ALERT)
    assert len(policies) >= 12
    for policy in policies:
        doc = policy.inputs["documentation"]
        assert "What it means:" in doc["content"], policy.name
        assert "First steps:" in doc["content"], policy.name
        (link,) = doc["links"]
        assert link["url"].startswith("https://github.com/acme/platform/blob/main/docs/"), policy.name


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_every_runbook_link_points_at_a_section_that_exists(stack: str) -> None:
    base = config_of(stack).observability.alerts.runbook_base_url
    policies = program_of(stack).of(ALERT)
    assert policies
    for policy in policies:
        (link,) = policy.inputs["documentation"]["links"]
        page, anchor = link["url"].removeprefix(f"{base}/").split("#")
        text = (ROOT / "docs" / page).read_text()
        anchors = {_anchor(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)}
        assert anchor in anchors, f"{policy.name}: #{anchor} not in docs/{page}"


def _anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    return re.sub(r"[^a-z0-9 -]", "", heading.strip().lower()).replace(" ", "-")


# SLOs ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_public_services_have_availability_and_latency_slos_over_28_days(stack: str) -> None:
    slo = config_of(stack).observability.slo
    recording = wired(stack)
    availability = recording.named("observability-api-availability").inputs
    assert (availability["goal"], availability["rollingPeriodDays"]) == (slo.availability_goal, 28)
    ratio = availability["requestBasedSli"]["goodTotalRatio"]
    assert 'response_code_class="5xx"' in ratio["badServiceFilter"]
    latency = recording.named("observability-api-latency").inputs
    assert latency["goal"] == slo.latency_goal
    assert latency["requestBasedSli"]["distributionCut"]["range"]["max"] == 800
    assert not [r for r in recording.of("gcp:monitoring/slo:Slo") if "worker" in r.name]


def test_prod_promises_three_nines() -> None:
    assert wired("prod").named("observability-api-availability").inputs["goal"] == 0.999


def test_prod_slos_have_fast_and_slow_multi_window_burn_rate_alerts() -> None:
    recording = wired("prod")
    slo_name = recording.named("observability-api-availability").outputs["name"]
    fast = alert(recording, "api-availability-fast-burn")
    assert fast["combiner"] == "AND"
    assert [c["conditionThreshold"]["filter"] for c in fast["conditions"]] == [
        f'select_slo_burn_rate("{slo_name}", "3600s")',
        f'select_slo_burn_rate("{slo_name}", "300s")',
    ]
    assert {c["conditionThreshold"]["thresholdValue"] for c in fast["conditions"]} == {14.4}
    slow = alert(recording, "api-availability-slow-burn")
    assert 'select_slo_burn_rate("' in slow["conditions"][0]["conditionThreshold"]["filter"]
    assert '"21600s")' in slow["conditions"][0]["conditionThreshold"]["filter"]
    assert {c["conditionThreshold"]["thresholdValue"] for c in slow["conditions"]} == {6}
    assert alert(recording, "api-latency-fast-burn")


def test_dev_has_slos_without_burn_rate_pages() -> None:
    recording = wired("dev")
    assert recording.of("gcp:monitoring/slo:Slo")
    assert not [r for r in recording.of(ALERT) if r.name.endswith("-burn")]


# Dashboard ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_the_dashboard_is_valid_json_with_charts_per_service_database_and_redis(stack: str) -> None:
    document = json.loads(wired(stack).named("observability-dashboard").inputs["dashboardJson"])
    titles = [t["widget"]["title"] for t in document["mosaicLayout"]["tiles"]]
    for service in ("api", "worker"):
        for chart in ("requests/s", "5xx/s", "p99 latency", "instances"):
            assert f"{service}: {chart}" in titles
    assert {"Cloud SQL: CPU", "Cloud SQL: connections", "Redis: memory usage ratio"} <= set(titles)
    for tile in document["mosaicLayout"]["tiles"]:
        assert tile["xPos"] + tile["width"] <= document["mosaicLayout"]["columns"]
        assert tile["widget"]["xyChart"]["dataSets"][0]["timeSeriesQuery"]["timeSeriesFilter"]["filter"]


def test_the_dashboard_lays_out_exactly_the_published_charts_two_a_row() -> None:
    charts = [
        Chart("a", "filter-a", "ALIGN_RATE", "REDUCE_SUM"),
        Chart("b", "filter-b", "ALIGN_MEAN", "REDUCE_MAX", ("metric.label.x",)),
        Chart("c", "filter-c", "ALIGN_MAX", "REDUCE_SUM"),
    ]
    document = dashboard_document("d", charts)
    tiles = document["mosaicLayout"]["tiles"]
    assert [t["widget"]["title"] for t in tiles] == ["a", "b", "c"]
    assert [(t["xPos"], t["yPos"]) for t in tiles] == [(0, 0), (6, 0), (0, 4)]
    aggregation = tiles[1]["widget"]["xyChart"]["dataSets"][0]["timeSeriesQuery"]["timeSeriesFilter"]["aggregation"]
    assert aggregation["groupByFields"] == ["metric.label.x"]
    assert json.loads(json.dumps(document)) == document


@pytest.mark.parametrize("stack", STACKS)
def test_the_program_exports_the_dashboard_and_channels(stack: str) -> None:
    outputs = program_of(stack).outputs
    assert "/dashboards/" in outputs["dashboard_id"]
    assert (
        len(outputs["notification_channel_ids"])
        == len(config_of(stack).observability.channels.emails) + (stack == "prod") * 2
    )


# Logs, audit, budget ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_application_errors_are_counted_per_service(stack: str) -> None:
    metric = program_of(stack).one("gcp:logging/metric:Metric")
    assert "severity>=ERROR" in metric.inputs["filter"]
    assert metric.inputs["labelExtractors"] == {"service_name": "EXTRACT(resource.labels.service_name)"}


@pytest.mark.parametrize("stack", STACKS)
def test_logs_go_to_partitioned_bigquery_tables_the_sink_may_write(stack: str) -> None:
    recording = program_of(stack)
    sink = recording.one("gcp:logging/projectSink:ProjectSink")
    dataset = recording.named("observability-logs")
    assert sink.inputs["destination"] == f"bigquery.googleapis.com/{dataset.outputs['id']}"
    assert sink.inputs["bigqueryOptions"] == {"usePartitionedTables": True}
    assert sink.inputs["uniqueWriterIdentity"] is True
    grant = recording.named("observability-logs-sink-writer")
    assert grant.inputs["member"] == sink.outputs["writerIdentity"]
    assert grant.inputs["role"] == "roles/bigquery.dataEditor"
    assert grant.inputs["datasetId"] == dataset.inputs["datasetId"]
    assert dataset.protect is config_of(stack).protection.protect
    assert dataset.inputs["deleteContentsOnDestroy"] is False


@pytest.mark.parametrize("stack", STACKS)
def test_log_retention_comes_from_config(stack: str) -> None:
    bucket = program_of(stack).one("gcp:logging/projectBucketConfig:ProjectBucketConfig")
    assert bucket.inputs["bucketId"] == "_Default"
    assert bucket.inputs["retentionDays"] == config_of(stack).observability.logs.retention_days


@pytest.mark.parametrize("stack", STACKS)
def test_data_access_audit_logs_cover_every_service_holding_data(stack: str) -> None:
    configs = program_of(stack).of("gcp:projects/iAMAuditConfig:IAMAuditConfig")
    assert sorted(c.inputs["service"] for c in configs) == sorted(AuditLogsArgs().services)
    for c in configs:
        assert {x["logType"] for x in c.inputs["auditLogConfigs"]} == {"ADMIN_READ", "DATA_READ", "DATA_WRITE"}


def test_prod_budget_alerts_at_50_90_100_and_forecasted_100_to_channels_and_pubsub() -> None:
    recording = program_of("prod")
    budget = recording.one("gcp:billing/budget:Budget")
    assert budget.inputs["billingAccount"] == config_of("prod").budget.billing_account
    assert budget.inputs["amount"]["specifiedAmount"] == {"currencyCode": "EUR", "units": "5000"}
    assert [(r["thresholdPercent"], r["spendBasis"]) for r in budget.inputs["thresholdRules"]] == [
        (0.5, "CURRENT_SPEND"),
        (0.9, "CURRENT_SPEND"),
        (1, "CURRENT_SPEND"),
        (1, "FORECASTED_SPEND"),
    ]
    updates = budget.inputs["allUpdatesRule"]
    (topic,) = [t for t in recording.of("gcp:pubsub/topic:Topic") if t.outputs["id"] == updates["pubsubTopic"]]
    assert topic.inputs["labels"]["component"] == "observability"
    assert budget.name == "budget"
    assert budget.aliases  # adopted from the Observability component, never replaced
    assert topic.aliases
    assert len(updates["monitoringNotificationChannels"]) == 4
    assert budget.inputs["budgetFilter"]["projects"][0].startswith("projects/")
    assert recording.outputs["budget"].startswith("5000 EUR on billingAccounts/")


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_without_a_billing_account_the_budget_is_skipped_and_the_plan_says_so(stack: str) -> None:
    recording = program_of(stack)
    assert not recording.of("gcp:billing/budget:Budget")
    topics = recording.of("gcp:pubsub/topic:Topic")
    others = [t.name for t in topics if t.inputs["labels"]["component"] not in ("events", "app-secrets")]
    assert others == []  # no budget topic
    assert recording.outputs["budget"] == SKIPPED


def test_a_malformed_billing_account_names_the_key() -> None:
    raw = raw_config("dev")
    raw["budget"]["billing_account"] = "0123-4567"  # type: ignore[index]
    with pytest.raises(pulumi.RunError, match=r"budget\.billing_account: string should match"):
        stack_config.parse(raw, stack_file="Pulumi.dev.yaml")


def test_an_error_ratio_outside_zero_and_one_names_the_key() -> None:
    raw = raw_config("dev")
    raw["observability"]["alerts"]["cloud_run"]["error_ratio"] = 5  # type: ignore[index]
    with pytest.raises(pulumi.RunError, match=r"observability\.alerts\.cloud_run\.error_ratio"):
        stack_config.parse(raw, stack_file="Pulumi.dev.yaml")


def test_the_docs_config_example_is_valid_config() -> None:
    example = yaml_blocks("docs/observability.md")[0]["platform:observability"]
    assert ObservabilityArgs.model_validate(example).slo.availability_goal == 0.999


def test_the_plan_lists_alerts_uptime_checks_slos_and_budget_with_their_targets() -> None:
    text = render("prod", wired("prod"))
    for line in (
        "CRITICAL: run.googleapis.com/request_count ratio > 0.01 for 5 min",
        "GET https://api.acme.example/health every 60s from EUROPE, USA_VIRGINIA, ASIA_PACIFIC, expects 200",
        "availability goal 99.90% over 28 days",
        "select_slo_burn_rate 3600s > 14.4",
    ):
        assert line in text, line
    assert "5000 EUR at 50%, 90%, 100%, 100% forecasted -> 4 channels + Pub/Sub" in render("prod", program_of("prod"))


# The program: every Cloud Run service of the stack, wired ------------------------------------------------------------

UPTIME = "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig"
# Where users reach each public service behind the load balancer: the domain whose URL map sends /health to it.
LOAD_BALANCED_HOSTS = {
    # The gateway is the load balancer's default service: the first domain routes /health to it.
    "staging": {"api": "origin.example.net"},
    "prod": {"api": "origin.example.com"},
}


def public_services(stack: str) -> list[str]:
    return sorted(key for key, s in config_of(stack).services.items() if s.public)


def test_every_stack_has_public_and_internal_services_to_tell_apart() -> None:
    for stack in STACKS:
        services = config_of(stack).services
        assert public_services(stack), stack
        assert len(public_services(stack)) < len(services), stack


def test_each_public_service_has_an_uptime_check_every_minute_from_three_regions_on_its_health_path(
    stack: str, program: Recording
) -> None:
    services = config_of(stack).services
    checks = {r.name.removeprefix("observability-").removesuffix("-uptime"): r.inputs for r in program.of(UPTIME)}
    assert sorted(checks) == public_services(stack)  # internal services have no public URL to check
    for key, check in checks.items():
        assert check["period"] == "60s"
        assert len(set(check["selectedRegions"])) >= 3
        assert check["httpCheck"]["path"] == services[key].health_path
        assert check["httpCheck"]["acceptedResponseStatusCodes"] == [{"statusValue": 200}]
        assert (check["httpCheck"]["useSsl"], check["httpCheck"]["validateSsl"]) == (True, True)
        assert program.named(f"observability-{key}-uptime-failing").inputs["severity"] == "CRITICAL"


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_uptime_checks_of_load_balanced_services_call_the_domain_that_routes_to_them(stack: str) -> None:
    program = program_of(stack)
    hosts = {
        key: program.named(f"observability-{key}-uptime").inputs["monitoredResource"]["labels"]["host"]
        for key in public_services(stack)
    }
    assert hosts == LOAD_BALANCED_HOSTS[stack]
    assert set(hosts.values()) <= set(config_of(stack).load_balancer.domains)


def test_dev_uptime_checks_call_the_run_app_url_users_call() -> None:
    program = program_of("dev")
    for key in public_services("dev"):
        host = program.named(f"observability-{key}-uptime").inputs["monitoredResource"]["labels"]["host"]
        assert host == urlparse(program.named(f"{key}-service").outputs["uri"]).hostname
        assert host.endswith(".run.app")


def test_each_service_alerts_on_5xx_latency_cpu_and_max_instances_with_its_own_thresholds(
    stack: str, program: Recording
) -> None:
    config = config_of(stack)
    limits = config.observability.alerts.cloud_run
    naming = config.naming(stack)
    for key, service in config.services.items():
        selector = f'resource.label.service_name="{naming.physical(key, max_length=49)}"'
        errors = threshold_of(alert(program, f"{key}-5xx-ratio"))
        assert (errors["thresholdValue"], errors["duration"]) == (limits.error_ratio, "300s")
        assert selector in errors["filter"]
        assert selector in errors["denominatorFilter"]
        latency = threshold_of(alert(program, f"{key}-latency-p99"))
        assert latency["thresholdValue"] == service.latency_p99_ms
        assert latency["aggregations"][0]["perSeriesAligner"] == "ALIGN_PERCENTILE_99"
        cpu = threshold_of(alert(program, f"{key}-cpu"))
        assert (cpu["thresholdValue"], cpu["duration"]) == (0.8, "300s")
        at_max = threshold_of(alert(program, f"{key}-instances-at-max"))
        assert (at_max["thresholdValue"], at_max["comparison"]) == (service.max_instances, "COMPARISON_GE")
        for kind in ("latency-p99", "cpu", "instances-at-max"):
            assert selector in threshold_of(alert(program, f"{key}-{kind}"))["filter"]


def test_prod_alert_thresholds_are_the_promised_ones() -> None:
    program = program_of("prod")
    assert threshold_of(alert(program, "api-5xx-ratio"))["thresholdValue"] == 0.01
    assert threshold_of(alert(program, "api-latency-p99"))["thresholdValue"] == 500
    assert threshold_of(alert(program, "orders-instances-at-max"))["thresholdValue"] == 40


def test_each_public_service_has_slos_with_the_configured_goals(stack: str, program: Recording) -> None:
    config = config_of(stack)
    slos = {r.name for r in program.of("gcp:monitoring/slo:Slo")}
    assert slos == {f"observability-{k}-{kind}" for k in public_services(stack) for kind in ("availability", "latency")}
    for key in public_services(stack):
        availability = program.named(f"observability-{key}-availability").inputs
        assert availability["goal"] == config.observability.slo.availability_goal
        latency = program.named(f"observability-{key}-latency").inputs
        assert latency["requestBasedSli"]["distributionCut"]["range"]["max"] == config.services[key].latency_p99_ms
        burns = [
            r for r in program.of(ALERT) if r.name.startswith(f"observability-{key}-") and r.name.endswith("-burn")
        ]
        assert len(burns) == (4 if config.observability.slo.burn_rate_alerts else 0)


def test_prod_slos_promise_three_nines_with_burn_rate_pages() -> None:
    program = program_of("prod")
    for key in config_of("prod").load_balancer.services:
        assert program.named(f"observability-{key}-availability").inputs["goal"] == 0.999
        assert alert(program, f"{key}-availability-fast-burn")["severity"] == "CRITICAL"
        assert alert(program, f"{key}-latency-slow-burn")["severity"] == "WARNING"


def test_the_dashboard_charts_requests_errors_latency_and_instances_of_every_service(
    stack: str, program: Recording
) -> None:
    config = config_of(stack)
    document = json.loads(program.named("observability-dashboard").inputs["dashboardJson"])
    charts = {
        t["widget"]["title"]: t["widget"]["xyChart"]["dataSets"][0]["timeSeriesQuery"]["timeSeriesFilter"]["filter"]
        for t in document["mosaicLayout"]["tiles"]
    }
    for key in config.services:
        name = config.naming(stack).physical(key, max_length=49)
        for chart in ("requests/s", "5xx/s", "p99 latency", "instances"):
            assert f'service_name="{name}"' in charts[f"{key}: {chart}"]


# What a service publishes, and where users reach it -------------------------------------------------------------


def test_an_internal_service_is_watched_without_an_endpoint_or_slos() -> None:
    service = ServiceArgs(image="orders:1.0.0", max_instances=7, latency_p99_ms=300)
    published = watch_service(
        "orders", "acme-dev-orders", service, config_of("dev").observability.alerts.cloud_run, None
    )
    assert (published.endpoint, published.sli) == (None, None)
    assert [a.key for a in published.alerts] == [
        "orders-5xx-ratio",
        "orders-latency-p99",
        "orders-cpu",
        "orders-instances-at-max",
    ]


def test_a_public_service_is_checked_on_its_health_path_where_users_call_it() -> None:
    service = ServiceArgs(image="web:1.0.0", public=True, ingress="all", health_path="/ready", latency_p99_ms=250)
    published = watch_service(
        "web", "acme-dev-web", service, config_of("dev").observability.alerts.cloud_run, "w.run.app"
    )
    assert published.endpoint is not None
    assert published.sli is not None
    assert (published.endpoint.host, published.endpoint.path) == ("w.run.app", "/ready")
    assert published.sli.latency_target_ms == 250


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_a_load_balanced_service_is_called_on_the_first_domain_routing_its_health_path_to_it(stack: str) -> None:
    config = config_of(stack)
    assert {k: config.public_domain(k) for k in public_services(stack)} == LOAD_BALANCED_HOSTS[stack]
    assert all(config.public_domain(k) is None for k, s in config.services.items() if not s.public)


def test_a_load_balanced_service_reachable_only_under_a_path_prefix_names_the_key() -> None:
    raw = copy.deepcopy(raw_config("prod"))
    raw["load_balancer"].update(  # type: ignore[union-attr]
        services=["api", "analytics"],
        default_service="analytics",
        routes={"api-path": {"paths": ["/api/*"], "service": "api"}},
    )
    raw["services"]["analytics"].update(behind_load_balancer=True, ingress="internal-and-lb")  # type: ignore[index]
    with pytest.raises(pulumi.RunError, match=r"services\.api: no load_balancer domain routes /health to api"):
        stack_config.parse(raw, stack_file="Pulumi.prod.yaml")


def test_the_url_map_sends_a_path_to_its_longest_matching_rule() -> None:
    args = LoadBalancerArgs.model_validate(
        {
            "enabled": True,
            "domains": ["example.com"],
            "services": ["web", "api"],
            "default_service": "web",
            "routes": {
                "api": {"paths": ["/api/*"], "service": "api"},
                "health": {"paths": ["/api/healthz"], "service": "web"},
            },
        }
    )
    (matcher,) = args.routing()
    assert route_of(matcher, "/api/orders") == "api"
    assert route_of(matcher, "/api/healthz") == "web"
    assert route_of(matcher, "/api") == "web"  # /api/* matches below /api/ only
    assert route_of(matcher, "/healthz") == "web"


def test_a_latency_target_not_below_the_request_timeout_names_the_key() -> None:
    raw = raw_config("dev")
    raw["services"]["orders"]["latency_p99_ms"] = 300_000  # type: ignore[index]
    with pytest.raises(
        pulumi.RunError, match=r"services\.orders\.latency_p99_ms: latency_p99_ms \(300000\) is not below"
    ):
        stack_config.parse(raw, stack_file="Pulumi.dev.yaml")
