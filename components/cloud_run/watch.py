"""What to watch on a Cloud Run service: 5xx ratio, p99 latency, CPU and instances at max; where users call it, an
uptime check and request-based SLOs; four dashboard charts."""

from __future__ import annotations

import pulumi

from components.cloud_run.config import ServiceArgs
from components.observability.config import CloudRunAlertsArgs
from components.observability.signals import Alert, Chart, Endpoint, RequestSli, Runbook, Watched, metric, threshold

REQUESTS = "run.googleapis.com/request_count"
LATENCIES = "run.googleapis.com/request_latencies"
CPU = "run.googleapis.com/container/cpu/utilizations"
INSTANCES = "run.googleapis.com/container/instance_count"
ERRORS = 'metric.label.response_code_class="5xx"'

RUNBOOK = {
    "5xx": Runbook(
        "More than the allowed share of requests to the service end in a server error; users see failures.",
        "Check the service's recent revisions and error logs; roll traffic back to the last good revision if a "
        "deploy started it.",
        "cloud-run-5xx-ratio",
    ),
    "latency": Runbook(
        "The slowest 1% of requests take longer than the service's latency target.",
        "Look at the dashboard for database latency, CPU and instance count; check slow queries and upstream calls.",
        "cloud-run-p99-latency",
    ),
    "cpu": Runbook(
        "Instances are CPU-bound; latency will follow.",
        "Check whether traffic grew or a deploy made requests costlier; raise CPU or max instances if it is load.",
        "cloud-run-cpu",
    ),
    "max-instances": Runbook(
        "The service runs at its max instance count; extra requests queue and may fail with 429/503.",
        "Confirm the traffic is legitimate (Cloud Armor logs); raise max_instances if the database can take it.",
        "cloud-run-instances-at-max",
    ),
}


def watch_service(
    key: str, service_name: str, args: ServiceArgs, t: CloudRunAlertsArgs, public_host: pulumi.Input[str] | None
) -> Watched:
    """`service_name` is the Cloud Run service's name; `public_host` is where users call it (None: internal)."""
    where = f'resource.type="cloud_run_revision" AND resource.label.service_name="{service_name}"'
    requests = metric(where, REQUESTS)
    return Watched(
        key=key,
        alerts=_alerts(key, where, args, t),
        charts=(
            Chart(f"{key}: requests/s", requests, "ALIGN_RATE", "REDUCE_SUM", ("metric.label.response_code_class",)),
            Chart(f"{key}: 5xx/s", metric(where, REQUESTS, ERRORS), "ALIGN_RATE", "REDUCE_SUM"),
            Chart(f"{key}: p99 latency", metric(where, LATENCIES), "ALIGN_PERCENTILE_99", "REDUCE_MAX"),
            Chart(f"{key}: instances", metric(where, INSTANCES), "ALIGN_MAX", "REDUCE_SUM"),
        ),
        endpoint=Endpoint(public_host, args.health_path) if public_host is not None else None,
        sli=RequestSli(requests, metric(where, REQUESTS, ERRORS), metric(where, LATENCIES), args.latency_p99_ms)
        if public_host is not None
        else None,
    )


def _alerts(key: str, where: str, args: ServiceArgs, t: CloudRunAlertsArgs) -> tuple[Alert, ...]:
    duration = f"{t.duration_seconds}s"
    return (
        Alert(
            f"{key}-5xx-ratio",
            f"Cloud Run {key}: 5xx ratio above {t.error_ratio:.0%}",
            [
                threshold(
                    f"5xx ratio > {t.error_ratio:.0%} for {duration}",
                    metric(where, REQUESTS, ERRORS),
                    t.error_ratio,
                    duration,
                    aligner="ALIGN_RATE",
                    reducer="REDUCE_SUM",
                    denominator=metric(where, REQUESTS),
                )
            ],
            RUNBOOK["5xx"],
            "CRITICAL",
        ),
        Alert(
            f"{key}-latency-p99",
            f"Cloud Run {key}: p99 latency above {args.latency_p99_ms} ms",
            [
                threshold(
                    f"p99 latency > {args.latency_p99_ms} ms for {duration}",
                    metric(where, LATENCIES),
                    args.latency_p99_ms,
                    duration,
                    aligner="ALIGN_PERCENTILE_99",
                    reducer="REDUCE_MAX",
                )
            ],
            RUNBOOK["latency"],
        ),
        Alert(
            f"{key}-cpu",
            f"Cloud Run {key}: CPU above {t.cpu_utilization:.0%}",
            [
                threshold(
                    f"CPU utilization > {t.cpu_utilization:.0%} for {duration}",
                    metric(where, CPU),
                    t.cpu_utilization,
                    duration,
                    aligner="ALIGN_PERCENTILE_99",
                    reducer="REDUCE_MAX",
                )
            ],
            RUNBOOK["cpu"],
            "WARNING",
        ),
        Alert(
            f"{key}-instances-at-max",
            f"Cloud Run {key}: instance count at max ({args.max_instances})",
            [
                threshold(
                    f"instances >= {args.max_instances} for {duration}",
                    metric(where, INSTANCES),
                    args.max_instances,
                    duration,
                    aligner="ALIGN_MAX",
                    reducer="REDUCE_SUM",
                    comparison="COMPARISON_GE",
                )
            ],
            RUNBOOK["max-instances"],
            "WARNING",
        ),
    )
