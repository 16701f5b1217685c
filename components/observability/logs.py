"""Logs: how long the project's _Default bucket keeps them, a BigQuery dataset that keeps warnings, errors and audit
logs queryable (one partitioned table per log), and a log-based metric of application errors per service."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.context import StackContext
from components.observability.config import LogsArgs
from components.observability.signals import Chart


@dataclass(frozen=True)
class LogResources:
    bucket: gcp.logging.ProjectBucketConfig
    dataset: gcp.bigquery.Dataset
    sink: gcp.logging.ProjectSink
    error_metric: gcp.logging.Metric

    def errors_chart(self) -> Chart:
        return Chart(
            "Application errors (logs)",
            self.error_metric.name.apply(lambda m: f'metric.type="logging.googleapis.com/user/{m}"'),
            "ALIGN_RATE",
            "REDUCE_SUM",
            ("metric.label.service_name",),
        )


def logs(
    name: str, args: LogsArgs, *, ctx: StackContext, labels: Mapping[str, str], parent: pulumi.Resource
) -> LogResources:
    logging_api = ctx.after(parent, "logging.googleapis.com")
    bucket = gcp.logging.ProjectBucketConfig(
        f"{name}-default-log-bucket",
        project=ctx.project,
        location="global",
        bucket_id="_Default",
        retention_days=args.retention_days,
        opts=logging_api,
    )
    expiration = args.bigquery_partition_expiration_days
    dataset = gcp.bigquery.Dataset(
        f"{name}-logs",
        dataset_id=ctx.naming.physical("logs").replace("-", "_"),
        location=ctx.region,
        description="Log sink: warnings, errors and audit logs, one partitioned table per log",
        default_partition_expiration_ms=expiration * 86_400_000 if expiration else None,
        delete_contents_on_destroy=False,
        deletion_policy="PREVENT" if ctx.deletion_protection else "DELETE",
        # Not under the stack's BigQuery key yet, even with CMEK (docs/observability.md): said so where policy sees it.
        labels={**labels, "encryption": "google-managed"},
        opts=ctx.stateful(parent, "bigquery.googleapis.com"),
    )
    sink = gcp.logging.ProjectSink(
        f"{name}-logs-to-bigquery",
        name=ctx.naming.physical("logs-bigquery"),
        destination=dataset.id.apply(lambda i: f"bigquery.googleapis.com/{i}"),
        filter=args.sink_filter,
        unique_writer_identity=True,
        bigquery_options=gcp.logging.ProjectSinkBigqueryOptionsArgs(use_partitioned_tables=True),
        opts=logging_api,
    )
    gcp.bigquery.DatasetIamMember(
        f"{name}-logs-sink-writer",
        dataset_id=dataset.dataset_id,
        role="roles/bigquery.dataEditor",
        member=sink.writer_identity,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return LogResources(bucket, dataset, sink, _error_metric(name, ctx, logging_api))


def _error_metric(name: str, ctx: StackContext, opts: pulumi.ResourceOptions) -> gcp.logging.Metric:
    return gcp.logging.Metric(
        f"{name}-app-errors",
        name=ctx.naming.physical("app-errors"),
        description="Application log entries at ERROR or above, per Cloud Run service",
        filter='resource.type="cloud_run_revision" AND severity>=ERROR',
        metric_descriptor=gcp.logging.MetricMetricDescriptorArgs(
            metric_kind="DELTA",
            value_type="INT64",
            labels=[
                gcp.logging.MetricMetricDescriptorLabelArgs(
                    key="service_name", value_type="STRING", description="Cloud Run service"
                )
            ],
        ),
        label_extractors={"service_name": "EXTRACT(resource.labels.service_name)"},
        opts=opts,
    )
