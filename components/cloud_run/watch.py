"""What to watch on a Cloud Run service: 5xx ratio, p99 latency, CPU and instances at max; where users call it, an
uptime check and request-based SLOs; four dashboard charts."""

from __future__ import annotations

from typing import Any

import pulumi

from components.cloud_run.config import ServiceArgs
from components.observability.config import CloudRunAlertsArgs
from components.observability.signals import Alert, Chart, Endpoint, RequestSli, Runbook, Watched, metric, threshold

REQUESTS = "run.googleapis.com/request_count"
LATENCIES = "run.googleapis.com/request_latencies"
CPU = "run.googleapis.com/container/cpu/utilizations"
INSTANCES = "run.googleapis.com/container/instance_count"
ERRORS = 'metric.label.response_code_class="5xx"'
# A service runs a copy in each serving region under one name: its alerts and charts are per region, so a failing
# region fires on its own (and the other's traffic does not dilute its error ratio). The SLOs stay across regions:
# they are what users get.
BY_REGION = ("resource.label.location",)

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
            Chart(
                f"{key}: requests/s",
                requests,
                "ALIGN_RATE",
                "REDUCE_SUM",
                ("metric.label.response_code_class", *BY_REGION),
            ),
            Chart(f"{key}: 5xx/s", metric(where, REQUESTS, ERRORS), "ALIGN_RATE", "REDUCE_SUM", BY_REGION),
            Chart(f"{key}: p99 latency", metric(where, LATENCIES), "ALIGN_PERCENTILE_99", "REDUCE_MAX", BY_REGION),
            Chart(f"{key}: instances", metric(where, INSTANCES), "ALIGN_MAX", "REDUCE_SUM", BY_REGION),
        ),
        endpoint=Endpoint(public_host, args.health_path) if public_host is not None else None,
        sli=RequestSli(requests, metric(where, REQUESTS, ERRORS), metric(where, LATENCIES), args.latency_p99_ms)
        if public_host is not None
        else None,
    )


def _alerts(key: str, where: str, args: ServiceArgs, t: CloudRunAlertsArgs) -> tuple[Alert, ...]:
    duration = f"{t.duration_seconds}s"

    def alert(
        kind: str, title: str, condition: str, filter_: pulumi.Input[str], value: float, runbook: str, **how: Any
    ) -> Alert:
        severity = how.pop("severity", "ERROR")
        conditions = [threshold(f"{condition} for {duration}", filter_, value, duration, group_by=BY_REGION, **how)]
        return Alert(f"{key}-{kind}", f"Cloud Run {key}: {title}", conditions, RUNBOOK[runbook], severity)

    ratio, cpu, latency, most = t.error_ratio, t.cpu_utilization, args.latency_p99_ms, args.max_instances
    percentile = {"aligner": "ALIGN_PERCENTILE_99", "reducer": "REDUCE_MAX"}
    return (
        alert(
            "5xx-ratio",
            f"5xx ratio above {ratio:.0%}",
            f"5xx ratio > {ratio:.0%}",
            metric(where, REQUESTS, ERRORS),
            ratio,
            "5xx",
            severity="CRITICAL",
            aligner="ALIGN_RATE",
            reducer="REDUCE_SUM",
            denominator=metric(where, REQUESTS),
        ),
        alert(
            "latency-p99",
            f"p99 latency above {latency} ms",
            f"p99 latency > {latency} ms",
            metric(where, LATENCIES),
            latency,
            "latency",
            **percentile,
        ),
        alert(
            "cpu",
            f"CPU above {cpu:.0%}",
            f"CPU utilization > {cpu:.0%}",
            metric(where, CPU),
            cpu,
            "cpu",
            severity="WARNING",
            **percentile,
        ),
        alert(
            "instances-at-max",
            f"instance count at max ({most})",
            f"instances >= {most}",
            metric(where, INSTANCES),
            most,
            "max-instances",
            severity="WARNING",
            aligner="ALIGN_MAX",
            reducer="REDUCE_SUM",
            comparison="COMPARISON_GE",
        ),
    )
