"""Operations types: monitoring (channels, uptime checks, alert policies, SLOs, dashboards), logging, audit config,
budgets, the backup bucket, scheduled exports and the Backup and DR vault."""

from __future__ import annotations

import hashlib
import json

from offline.catalog import Inputs, MockContext, MockOutputs, Summary, named


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


MOCK_OUTPUTS: dict[str, MockOutputs] = {
    "gcp:monitoring/notificationChannel:NotificationChannel": _project_path("notificationChannels"),
    "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig": _uptime,
    "gcp:monitoring/alertPolicy:AlertPolicy": _project_path("alertPolicies"),
    "gcp:monitoring/customService:CustomService": _project_path("services", "serviceId"),
    "gcp:monitoring/slo:Slo": _slo,
    "gcp:monitoring/dashboard:Dashboard": lambda c, name, i: {
        "id": f"projects/{c.project_number}/dashboards/{_hex(name, 8)}-{_hex(c.project, 4)}"
    },
    "gcp:logging/metric:Metric": lambda c, name, i: {"id": named(i, name)},
    "gcp:logging/projectSink:ProjectSink": lambda c, name, i: {
        "id": f"projects/{c.project}/sinks/{named(i, name)}",
        "writerIdentity": f"serviceAccount:service-{c.project_number}@gcp-sa-logging.iam.gserviceaccount.com",
    },
    "gcp:logging/projectBucketConfig:ProjectBucketConfig": lambda c, name, i: {
        "id": f"projects/{c.project}/locations/{i.get('location')}/buckets/{i.get('bucketId')}",
        "name": f"projects/{c.project}/locations/{i.get('location')}/buckets/{i.get('bucketId')}",
    },
    "gcp:bigquery/dataset:Dataset": _dataset,
    "gcp:pubsub/topic:Topic": lambda c, name, i: {"id": f"projects/{c.project}/topics/{named(i, name)}"},
    "gcp:billing/budget:Budget": lambda c, name, i: {
        "id": f"billingAccounts/{i.get('billingAccount')}/budgets/{_hex(name)}",
        "name": f"billingAccounts/{i.get('billingAccount')}/budgets/{_hex(name)}",
    },
    "gcp:backupdisasterrecovery/backupVault:BackupVault": lambda c, name, i: {
        "id": f"projects/{c.project}/locations/{i.get('location')}/backupVaults/{i.get('backupVaultId')}",
        "name": f"projects/{c.project}/locations/{i.get('location')}/backupVaults/{i.get('backupVaultId')}",
    },
}


def _duration(seconds: str | None) -> str:
    value = int(str(seconds or "0s").removesuffix("s"))
    if value and value % 86400 == 0:
        return f"{value // 86400} days"
    return f"{value // 60} min" if value >= 60 else f"{value}s"


def _condition(c: Inputs) -> str:
    threshold = c.get("conditionThreshold")
    if threshold is None:
        return f"log match: {c.get('displayName')}"
    op = {"COMPARISON_GT": ">", "COMPARISON_GE": ">=", "COMPARISON_LT": "<", "COMPARISON_LE": "<="}
    filter_ = str(threshold.get("filter", ""))
    subject = filter_.split("(", 1)[0] + " " + filter_.split(",")[-1].strip(' ")') if "select_slo" in filter_ else ""
    what = subject or filter_.split('metric.type="')[-1].split('"')[0]
    ratio = " ratio" if threshold.get("denominatorFilter") else ""
    return (
        f"{what}{ratio} {op.get(threshold.get('comparison', ''), '?')} {threshold.get('thresholdValue')}"
        f" for {_duration(threshold.get('duration'))}"
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


SUMMARIES: dict[str, Summary] = {
    "gcp:monitoring/notificationChannel:NotificationChannel": _channel,
    "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig": _uptime_summary,
    "gcp:monitoring/alertPolicy:AlertPolicy": _alert,
    "gcp:monitoring/customService:CustomService": lambda i: f"service {i.get('serviceId')}",
    "gcp:monitoring/slo:Slo": _slo_summary,
    "gcp:monitoring/dashboard:Dashboard": _dashboard,
    "gcp:logging/metric:Metric": lambda i: f"counts {i.get('filter')}",
    "gcp:logging/projectSink:ProjectSink": lambda i: (
        f"{i.get('destination')}, partitioned {(i.get('bigqueryOptions') or {}).get('usePartitionedTables')}"
        f", filter {i.get('filter')}"
    ),
    "gcp:logging/projectBucketConfig:ProjectBucketConfig": lambda i: (
        f"log bucket {i.get('bucketId')} keeps {i.get('retentionDays')} days"
    ),
    "gcp:bigquery/dataset:Dataset": lambda i: (
        f"{i.get('datasetId')} in {i.get('location')}, partitions expire after "
        f"{int(i['defaultPartitionExpirationMs']) // 86_400_000 if i.get('defaultPartitionExpirationMs') else 'never'}"
        f" days, deletion {i.get('deletionPolicy')}"
    ),
    "gcp:bigquery/datasetIamMember:DatasetIamMember": lambda i: f"{i.get('role')} to the log sink's writer identity",
    "gcp:projects/iAMAuditConfig:IAMAuditConfig": lambda i: (
        f"{i.get('service')}: {', '.join(c['logType'] for c in i.get('auditLogConfigs') or [])}"
    ),
    "gcp:pubsub/topic:Topic": lambda i: (
        f"{i.get('name')}, keeps messages {_duration(i.get('messageRetentionDuration'))}"
    ),
    "gcp:billing/budget:Budget": _budget,
    "gcp:backupdisasterrecovery/backupVault:BackupVault": lambda i: (
        f"{i.get('backupVaultId')} in {i.get('location')}, minimum retention "
        f"{int(str(i.get('backupMinimumEnforcedRetentionDuration', '0s')).removesuffix('s')) // 86400} days"
    ),
}
