"""Operations types: monitoring (channels, uptime checks, alert policies, SLOs, dashboards), logging, audit config,
budgets, the workflows that run the scheduled exports, and BigQuery (the log sink's dataset, the warehouse's datasets
and tables)."""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Any

import pulumi_gcp as gcp
import yaml

from offline.catalog.common import duration, grant, to_member
from offline.catalog.facts import API_CALL, Facts, Inputs, MockContext, MockOutputs, inputs_only, named, token_of
from offline.estimate.pricing import DAYS, SECONDS, Context, Usage, transfer

if TYPE_CHECKING:
    from offline.engine import Resource

MONITORING_IS_FREE = "Cloud Monitoring's channels, services, SLOs and dashboards cost nothing"
LOG_METRIC = (
    "a log-based metric is chargeable Monitoring data, a few time series here: well inside the 150 MiB a month free"
    " per billing account"
)


def _hex(seed: str, length: int = 16) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


def _project_path(kind: str, key: str | None = None) -> MockOutputs:
    """`projects/P/{kind}/{id}` in both `id` and `name`, the id taken from an input or a stable hash."""

    def outputs(c: MockContext, name: str, i: Inputs) -> Inputs:
        ident = str(i.get(key) if key and i.get(key) else _hex(f"{c.project}/{kind}/{name}"))
        path = f"projects/{c.project}/{kind}/{ident}"
        return {"id": path, "name": path}

    return outputs


def _uptime(c: MockContext, name: str, i: Inputs) -> Inputs:
    check_id = f"{i.get('displayName', name)}-{_hex(name, 8)}"
    path = f"projects/{c.project}/uptimeCheckConfigs/{check_id}"
    return {"id": path, "name": path, "uptimeCheckId": check_id}


def _slo(c: MockContext, name: str, i: Inputs) -> Inputs:
    path = f"projects/{c.project_number}/services/{i.get('service')}/serviceLevelObjectives/{i.get('sloId')}"
    return {"id": path, "name": path}


def _dataset(c: MockContext, name: str, i: Inputs) -> Inputs:
    path = f"projects/{c.project}/datasets/{i.get('datasetId')}"
    return {"id": path, "selfLink": f"https://bigquery.googleapis.com/bigquery/v2/{path}"}


def _workflow(c: MockContext, name: str, i: Inputs) -> Inputs:
    workflow = named(i, name)
    region = i.get("region") or c.region
    return {
        "id": f"projects/{c.project}/locations/{region}/workflows/{workflow}",
        "name": workflow,
        "state": "ACTIVE",
        "revisionId": f"000001-{_hex(str(i.get('sourceContents')), 3)}",
    }


def _calls(node: Any) -> set[str]:
    """Every `call:` target in a workflow definition (connectors, HTTP methods, functions, subworkflows)."""
    if isinstance(node, dict):
        found = {str(node["call"])} if "call" in node else set()
        return found.union(*(_calls(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_calls(v) for v in node))
    return set()


def _workflow_summary(i: Inputs) -> str:
    source = i.get("sourceContents")
    calls = ", ".join(sorted(_calls(yaml.safe_load(source)))) if isinstance(source, str) else "(source not known)"
    return f"{i.get('region')}, runs as {i.get('serviceAccount')}; calls {calls}"


# A daily export execution takes about a hundred internal steps: its own steps, and the polling of a long-running
# operation (the connector's, or the workflow's own loop every 30 s), for an export of ten minutes or so.
WORKFLOW_STEPS_PER_EXECUTION = 100
WORKFLOW_EXECUTIONS_PER_MONTH = 31


BUCKET = "gcp:storage/bucket:Bucket"
EXPORT_TARGET = re.compile(r"gs://([a-z0-9._-]+)/(cloudsql|redis)/")


def _exported_gb(kind: str, ctx: Context) -> float:
    """What one execution exports: the database's data (gzip makes it smaller: an upper bound), or the Redis
    instance's memory (its RDB file is at most that)."""
    if kind == "cloudsql":
        if ctx.profile.database_gb is not None:
            return ctx.profile.database_gb
        disks = [
            float((r.inputs.get("settings") or {}).get("diskSize") or 10)
            for r in ctx.recording.of(token_of(gcp.sql.DatabaseInstance))
            if not r.inputs.get("masterInstanceName")
        ]
        return max(disks, default=10.0)
    return max(
        (float(r.inputs.get("memorySizeGb") or 1) for r in ctx.recording.of(token_of(gcp.redis.Instance))), default=1.0
    )


def _workflow_price(r: Resource, ctx: Context) -> list[Usage]:
    """Its internal steps; an export workflow also moves each day's export to the backup bucket, across regions
    when the bucket is in another one."""
    thousands = WORKFLOW_STEPS_PER_EXECUTION * WORKFLOW_EXECUTIONS_PER_MONTH / 1000
    usages = [Usage("internal steps", "workflows.internal_steps", thousands)]
    source = str(r.inputs.get("sourceContents") or "")
    for bucket_name, kind in sorted(set(EXPORT_TARGET.findall(source))):
        bucket = next((b for b in ctx.recording.of(BUCKET) if named(b.inputs, b.name) == bucket_name), None)
        location = str((bucket.inputs.get("location") if bucket else None) or ctx.region)
        gb = _exported_gb(kind, ctx)
        what = f"{'database' if kind == 'cloudsql' else 'Redis'} export of {gb:g} GB a day to {location.lower()}"
        usages += transfer(what, gb * WORKFLOW_EXECUTIONS_PER_MONTH, ctx.region, location)
    return usages


def _condition(c: Inputs) -> str:
    threshold = c.get("conditionThreshold")
    promql = c.get("conditionPrometheusQueryLanguage")
    if promql is not None:
        return f"PromQL {promql.get('query')} for {duration(promql.get('duration'))}"
    if threshold is None:
        return f"log match: {c.get('displayName')}"
    op = {"COMPARISON_GT": ">", "COMPARISON_GE": ">=", "COMPARISON_LT": "<", "COMPARISON_LE": "<="}
    filter_ = str(threshold.get("filter", ""))
    subject = filter_.split("(", 1)[0] + " " + filter_.split(",")[-1].strip(' ")') if "select_slo" in filter_ else ""
    what = subject or filter_.split('metric.type="')[-1].split('"')[0]
    ratio = " ratio" if threshold.get("denominatorFilter") else ""
    return (
        f"{what}{ratio} {op.get(threshold.get('comparison', ''), '?')} {threshold.get('thresholdValue')}"
        f" for {duration(threshold.get('duration'))}"
    )


def _alert(i: Inputs) -> str:
    joiner = " AND " if i.get("combiner") == "AND" else " OR "
    conditions = joiner.join(_condition(c) for c in i.get("conditions") or [])
    runbook = "runbook" if (i.get("documentation") or {}).get("links") else "NO runbook"
    channels = len(i.get("notificationChannels") or [])
    return f"{i.get('severity')}: {conditions}; {channels} channels, {runbook}"


def _uptime_summary(i: Inputs) -> str:
    http = i.get("httpCheck") or {}
    host = ((i.get("monitoredResource") or {}).get("labels") or {}).get("host")
    codes = ",".join(str(c.get("statusValue")) for c in http.get("acceptedResponseStatusCodes") or [])
    return (
        f"GET https://{host}{http.get('path')} every {i.get('period')} from {', '.join(i.get('selectedRegions', []))}"
        f", expects {codes or '2xx'}"
    )


def _slo_summary(i: Inputs) -> str:
    sli = i.get("requestBasedSli") or {}
    kind = "latency" if sli.get("distributionCut") else "availability"
    bound = (sli.get("distributionCut") or {}).get("range", {}).get("max")
    return f"{kind} goal {i.get('goal'):.2%} over {i.get('rollingPeriodDays')} days" + (
        f", requests under {bound} ms" if bound else ""
    )


def _budget(i: Inputs) -> str:
    amount = (i.get("amount") or {}).get("specifiedAmount") or {}
    rules = ", ".join(
        f"{r['thresholdPercent']:.0%}" + (" forecasted" if r.get("spendBasis") == "FORECASTED_SPEND" else "")
        for r in i.get("thresholdRules") or []
    )
    updates = i.get("allUpdatesRule") or {}
    to = f"{len(updates.get('monitoringNotificationChannels') or [])} channels" + (
        " + Pub/Sub" if updates.get("pubsubTopic") else ""
    )
    return f"{amount.get('units')} {amount.get('currencyCode')} at {rules} -> {to}"


def _channel(i: Inputs) -> str:
    labels = i.get("labels") or {}
    where = labels.get("email_address") or labels.get("channel_name") or ""
    return f"{i.get('type')} {where}".rstrip()


def _dashboard(i: Inputs) -> str:
    document = json.loads(i.get("dashboardJson") or "{}")
    return f"{document.get('displayName')}: {len(document.get('mosaicLayout', {}).get('tiles', []))} charts"


def _days(ms: object) -> str:
    return f"{int(str(ms)) // 86_400_000} days" if ms else "never"


def _dataset_summary(i: Inputs) -> str:
    return (
        f"{i.get('datasetId')} in {i.get('location')}, tables expire {_days(i.get('defaultTableExpirationMs'))}, "
        f"partitions expire {_days(i.get('defaultPartitionExpirationMs'))}, deletion {i.get('deletionPolicy')}"
        + (", CMEK" if i.get("defaultEncryptionConfiguration") else "")
    )


def _in_warehouse(i: Inputs) -> bool:
    return (i.get("labels") or {}).get("component") == "warehouse"


def _dataset_price(r: Resource, ctx: Context) -> list[Usage]:
    """Active storage: `warehouse_gb` for a warehouse dataset, `bigquery_gb` for any other. The warehouse's queries
    (`warehouse_query_tib`, on demand) are carried by its first dataset by logical name."""
    if not _in_warehouse(r.inputs):
        return [Usage("active storage", "bigquery.active_storage", ctx.profile.bigquery_gb)]
    usages = [
        Usage(f"{ctx.profile.warehouse_gb:g} GiB active storage", "bigquery.active_storage", ctx.profile.warehouse_gb)
    ]
    warehouse = [d for d in ctx.recording.of(r.type) if _in_warehouse(d.inputs)]
    if min(d.name for d in warehouse) == r.name:
        tib = ctx.profile.warehouse_query_tib
        usages.append(Usage(f"{tib:g} TiB scanned by queries", "bigquery.on_demand_query", tib))
    return usages


def _table(c: MockContext, name: str, i: Inputs) -> Inputs:
    path = f"projects/{c.project}/datasets/{i.get('datasetId')}/tables/{i.get('tableId')}"
    return {"id": path, "selfLink": f"https://bigquery.googleapis.com/bigquery/v2/{path}", "type": "TABLE"}


def _table_summary(i: Inputs) -> str:
    partitioning = i.get("timePartitioning") or {}
    on = partitioning.get("field") or "ingestion time"
    expire = _days(partitioning.get("expirationMs"))
    parts = [
        f"{i.get('datasetId')}.{i.get('tableId')}",
        f"partitioned by {partitioning.get('type')} on {on}, partitions expire {expire}"
        if partitioning
        else "NOT partitioned",
        f"clustered on {', '.join(i.get('clusterings') or []) or 'nothing'}",
        f"partition filter {'required' if i.get('requirePartitionFilter') else 'optional'}",
        f"deletion protection {'on' if i.get('deletionProtection') else 'OFF'}",
    ]
    return ", ".join(parts) + (", CMEK" if i.get("encryptionConfiguration") else "")


_UPTIME_CHECKERS = {"USA": 3}  # "USA" runs from three locations; the other regions from one each; default: all six


def _uptime_price(r: Resource, ctx: Context) -> list[Usage]:
    regions = r.inputs.get("selectedRegions") or ["USA", "EUROPE", "SOUTH_AMERICA", "ASIA_PACIFIC"]
    checkers = sum(_UPTIME_CHECKERS.get(region, 1) for region in regions)
    period = float(str(r.inputs.get("period")).removesuffix("s")) if r.inputs.get("period") else 60
    executions = SECONDS / period * checkers
    return [Usage(f"every {period:g} s from {checkers} checkers", "uptime.executions", executions / 1000)]


def _metric_references(condition: Inputs) -> int:
    """Alerting bills each metric a condition reads: a threshold (or absence) condition one, a ratio two; a
    log-match condition none."""
    for kind in ("conditionThreshold", "conditionAbsent"):
        if kind in condition:
            return 1 + bool((condition[kind] or {}).get("denominatorFilter"))
    return (
        1
        if any(k in condition for k in ("conditionMonitoringQueryLanguage", "conditionPrometheusQueryLanguage"))
        else 0
    )


def _alert_price(r: Resource, ctx: Context) -> list[Usage]:
    """Priced at the announced charge per metric reference; the price table marks it as not yet applied."""
    references = sum(_metric_references(c) for c in r.inputs.get("conditions") or [])
    return [Usage(f"{references} metric reference(s)", "monitoring.alert_reference", references)] if references else []


def _log_bucket_price(r: Resource, ctx: Context) -> list[Usage]:
    """Logs are kept 30 days within the ingestion price; each further day of the month's logs costs retention."""
    extra_days = max(0, int(r.inputs.get("retentionDays") or 30) - 30)
    if r.inputs.get("bucketId") != "_Default" or not extra_days:
        return []
    gib = ctx.profile.log_gb + ctx.profile.network_log_gb
    return [Usage(f"{gib:g} GiB kept {extra_days} more days", "logging.retention", gib * extra_days / DAYS)]


RECORDS = (
    Facts(
        gcp.monitoring.NotificationChannel,
        outputs=_project_path("notificationChannels"),
        summary=_channel,
        create_seconds=API_CALL,
        free=MONITORING_IS_FREE,
    ),
    Facts(
        gcp.monitoring.AlertPolicy,
        outputs=_project_path("alertPolicies"),
        summary=_alert,
        create_seconds=API_CALL,
        price=_alert_price,
        label=lambda i: "alerts",
    ),
    Facts(
        gcp.monitoring.Dashboard,
        outputs=lambda c, name, i: {
            "id": f"projects/{c.project_number}/dashboards/{_hex(name, 8)}-{_hex(c.project, 4)}"
        },
        summary=_dashboard,
        create_seconds=API_CALL,
        free=MONITORING_IS_FREE,
        label=lambda i: "dashboard",
    ),
    Facts(
        gcp.monitoring.UptimeCheckConfig,
        outputs=_uptime,
        summary=_uptime_summary,
        create_seconds=API_CALL,
        price=_uptime_price,
        label=lambda i: "uptime checks",
    ),
    Facts(
        gcp.monitoring.CustomService,
        outputs=_project_path("services", "serviceId"),
        summary=lambda i: f"service {i.get('serviceId')}",
        create_seconds=API_CALL,
        free=MONITORING_IS_FREE,
    ),
    Facts(gcp.monitoring.Slo, outputs=_slo, summary=_slo_summary, create_seconds=API_CALL, free=MONITORING_IS_FREE),
    Facts(
        gcp.logging.Metric,
        outputs=lambda c, name, i: {"id": named(i, name)},
        summary=lambda i: f"counts {i.get('filter')}",
        create_seconds=API_CALL,
        free=LOG_METRIC,
    ),
    Facts(
        gcp.logging.ProjectSink,
        outputs=lambda c, name, i: {
            "id": f"projects/{c.project}/sinks/{named(i, name)}",
            "writerIdentity": f"serviceAccount:service-{c.project_number}@gcp-sa-logging.iam.gserviceaccount.com",
        },
        summary=lambda i: (
            f"{i.get('destination')}, partitioned {(i.get('bigqueryOptions') or {}).get('usePartitionedTables')}"
            f", filter {i.get('filter')}"
        ),
        create_seconds=API_CALL,
        free=(
            "routing logs costs nothing; the destination bills their storage (priced per dataset) and BigQuery's"
            " streaming inserts (not modelled)"
        ),
    ),
    Facts(
        gcp.logging.ProjectBucketConfig,
        outputs=lambda c, name, i: {
            "id": f"projects/{c.project}/locations/{i.get('location')}/buckets/{i.get('bucketId')}",
            "name": f"projects/{c.project}/locations/{i.get('location')}/buckets/{i.get('bucketId')}",
        },
        summary=lambda i: f"log bucket {i.get('bucketId')} keeps {i.get('retentionDays')} days",
        create_seconds=API_CALL,
        price=_log_bucket_price,
    ),
    Facts(
        gcp.bigquery.Dataset,
        outputs=_dataset,
        summary=_dataset_summary,
        create_seconds=API_CALL,
        price=_dataset_price,
        label=lambda i: "BigQuery warehouse" if _in_warehouse(i) else "BigQuery logs",
    ),
    Facts(
        gcp.bigquery.Table,
        outputs=_table,
        summary=_table_summary,
        create_seconds=API_CALL,
        free="a table's storage and queries are priced on its dataset",
    ),
    grant(gcp.bigquery.DatasetIamMember, to_member),
    grant(gcp.bigquery.IamMember, lambda i: f"{to_member(i)} on table {i.get('tableId')}"),
    Facts(
        gcp.projects.IAMAuditConfig,
        outputs=inputs_only,
        summary=lambda i: f"{i.get('service')}: {', '.join(c['logType'] for c in i.get('auditLogConfigs') or [])}",
        create_seconds=API_CALL,
        free="the audit logs it turns on are priced as log ingestion, stack-wide",
    ),
    Facts(
        gcp.billing.Budget,
        outputs=lambda c, name, i: {
            "id": f"billingAccounts/{i.get('billingAccount')}/budgets/{_hex(name)}",
            "name": f"billingAccounts/{i.get('billingAccount')}/budgets/{_hex(name)}",
        },
        summary=_budget,
        create_seconds=API_CALL,
        free="budgets cost nothing; the messages they publish are priced on their Pub/Sub topic",
    ),
    Facts(
        gcp.workflows.Workflow,
        outputs=_workflow,
        summary=_workflow_summary,
        create_seconds=API_CALL,
        price=_workflow_price,
        label=lambda i: "Workflows",
    ),
)
