"""Uptime checks on the endpoints users call, and request-based SLOs (availability and latency) with multi-window
burn-rate alerts (SRE workbook): a long window that proves the budget is burning and a short one (1/12 of it) that
proves it still is, so the alert resolves soon after the cause is fixed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import pulumi
import pulumi_gcp as gcp

from components.naming import Naming
from components.observability.config import SloArgs, UptimeArgs
from components.observability.signals import Alert, Endpoint, RequestSli, Runbook

FAST_BURN_WINDOWS = (3600, 300)
SLOW_BURN_WINDOWS = (21600, 1800)

UPTIME_RUNBOOK = Runbook(
    "The public health endpoint fails from more than one region: the service is down or unreachable.",
    "Call the health path yourself; check the load balancer, DNS and certificate, then the service's logs.",
    "uptime-check-failing",
)
SLO_BURN_RUNBOOK = Runbook(
    "The service is spending its error budget faster than the SLO allows (fast: hours to exhaustion).",
    "Treat a fast burn as an incident; find the failing requests on the dashboard and roll back recent changes.",
    "slo-burn-rate",
)


def uptime_check(
    name: str,
    key: str,
    endpoint: Endpoint,
    args: UptimeArgs,
    *,
    naming: Naming,
    project: str,
    labels: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> gcp.monitoring.UptimeCheckConfig:
    """An HTTPS check of `endpoint` from the configured regions, expecting its status (and content, if set)."""
    return gcp.monitoring.UptimeCheckConfig(
        f"{name}-{key}-uptime",
        display_name=naming.physical(key, "uptime"),
        period=args.period,
        timeout=f"{args.timeout_seconds}s",
        selected_regions=list(args.regions),
        checker_type="STATIC_IP_CHECKERS",
        http_check=gcp.monitoring.UptimeCheckConfigHttpCheckArgs(
            path=endpoint.path,
            port=443,
            use_ssl=True,
            validate_ssl=True,
            request_method="GET",
            accepted_response_status_codes=[
                gcp.monitoring.UptimeCheckConfigHttpCheckAcceptedResponseStatusCodeArgs(
                    status_value=endpoint.expected_status
                )
            ],
        ),
        content_matchers=[
            gcp.monitoring.UptimeCheckConfigContentMatcherArgs(content=endpoint.expected_content, matcher="CONTAINS")
        ]
        if endpoint.expected_content
        else None,
        monitored_resource=gcp.monitoring.UptimeCheckConfigMonitoredResourceArgs(
            type="uptime_url", labels={"project_id": project, "host": endpoint.host}
        ),
        user_labels=dict(labels),
        opts=opts,
    )


def uptime_alert(key: str, endpoint: Endpoint, check: gcp.monitoring.UptimeCheckConfig) -> Alert:
    """Fires when the check fails from more than one region (one region failing is the checker's network)."""
    failing = check.uptime_check_id.apply(
        lambda i: (
            f'resource.type="uptime_url" AND metric.type="monitoring.googleapis.com/uptime_check/check_passed"'
            f' AND metric.label.check_id="{i}"'
        )
    )
    condition = gcp.monitoring.AlertPolicyConditionArgs(
        display_name=f"{endpoint.path} fails from more than one region",
        condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
            filter=failing,
            comparison="COMPARISON_GT",
            threshold_value=1,
            duration="60s",
            aggregations=[
                gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                    alignment_period="1200s",
                    per_series_aligner="ALIGN_NEXT_OLDER",
                    cross_series_reducer="REDUCE_COUNT_FALSE",
                    group_by_fields=["resource.label.*"],
                )
            ],
        ),
    )
    return Alert(f"{key}-uptime-failing", f"Uptime check {key} failing", [condition], UPTIME_RUNBOOK, "CRITICAL")


def slos(
    name: str,
    key: str,
    sli: RequestSli,
    args: SloArgs,
    *,
    naming: Naming,
    labels: Mapping[str, str],
    service_opts: pulumi.ResourceOptions,
    parent: pulumi.Resource,
) -> dict[str, gcp.monitoring.Slo]:
    """A Cloud Monitoring service for the workload, with an availability SLO (not 5xx) and a latency SLO."""
    custom = gcp.monitoring.CustomService(
        f"{name}-{key}-service",
        service_id=naming.physical(key),
        display_name=f"{naming.physical(key)} (Cloud Run)",
        user_labels=dict(labels),
        opts=service_opts,
    )

    def slo(
        kind: str, goal: float, display_name: str, request_sli: gcp.monitoring.SloRequestBasedSliArgs
    ) -> gcp.monitoring.Slo:
        return gcp.monitoring.Slo(
            f"{name}-{key}-{kind}",
            service=custom.service_id,
            slo_id=kind,
            display_name=display_name,
            goal=goal,
            rolling_period_days=args.rolling_period_days,
            request_based_sli=request_sli,
            user_labels=dict(labels),
            opts=pulumi.ResourceOptions(parent=parent),
        )

    ratio = gcp.monitoring.SloRequestBasedSliGoodTotalRatioArgs(
        bad_service_filter=sli.bad, total_service_filter=sli.total
    )
    cut = gcp.monitoring.SloRequestBasedSliDistributionCutArgs(
        distribution_filter=sli.latency,
        range=gcp.monitoring.SloRequestBasedSliDistributionCutRangeArgs(min=0, max=sli.latency_target_ms),
    )
    return {
        "availability": slo(
            "availability",
            args.availability_goal,
            f"{key}: {args.availability_goal:.2%} of requests succeed (not 5xx)",
            gcp.monitoring.SloRequestBasedSliArgs(good_total_ratio=ratio),
        ),
        "latency": slo(
            "latency",
            args.latency_goal,
            f"{key}: {args.latency_goal:.2%} of requests faster than {sli.latency_target_ms} ms",
            gcp.monitoring.SloRequestBasedSliArgs(distribution_cut=cut),
        ),
    }


def burn_rate_alerts(key: str, slos: Mapping[str, gcp.monitoring.Slo], args: SloArgs) -> list[Alert]:
    """Per SLO, a fast burn that pages and a slow burn that warns; each fires only while both its windows burn."""
    if not args.burn_rate_alerts:
        return []
    return [
        alert
        for kind, slo in slos.items()
        for alert in (
            _burn_rate_alert(key, kind, slo, "fast", args.fast_burn_rate, FAST_BURN_WINDOWS, "CRITICAL"),
            _burn_rate_alert(key, kind, slo, "slow", args.slow_burn_rate, SLOW_BURN_WINDOWS, "WARNING"),
        )
    ]


def burn_rate_filter(slo_name: str, window_seconds: int) -> str:
    return f'select_slo_burn_rate("{slo_name}", "{window_seconds}s")'


def _burn_rate_alert(
    key: str,
    kind: str,
    slo: gcp.monitoring.Slo,
    speed: str,
    rate: float,
    windows: tuple[int, int],
    severity: Literal["CRITICAL", "WARNING"],
) -> Alert:
    conditions = [
        gcp.monitoring.AlertPolicyConditionArgs(
            display_name=f"burn rate over {window // 60} min > {rate}",
            condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                filter=slo.name.apply(lambda n, w=window: burn_rate_filter(n, w)),  # type: ignore[misc]
                comparison="COMPARISON_GT",
                threshold_value=rate,
                duration="0s",
            ),
        )
        for window in windows
    ]
    return Alert(
        f"{key}-{kind}-{speed}-burn",
        f"SLO {key} {kind}: {speed} error-budget burn (> {rate}x)",
        conditions,
        SLO_BURN_RUNBOOK,
        severity,
        combiner="AND",
    )
