"""What a workload asks to be watched, as plain descriptors: alert conditions with their runbook, dashboard charts, an
uptime target and an SLO target. Workloads build them (they know their metrics); Observability turns them into
alert policies, uptime checks, SLOs and a dashboard without knowing what a workload is."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_gcp as gcp

Severity = Literal["CRITICAL", "ERROR", "WARNING"]
RUNBOOK_PAGE = "observability.md"


@dataclass(frozen=True)
class Runbook:
    """What an alert means, the first steps, and the runbook section (an anchor in docs/observability.md)."""

    meaning: str
    first_steps: str
    anchor: str
    page: str = RUNBOOK_PAGE

    def args(self, base_url: str) -> gcp.monitoring.AlertPolicyDocumentationArgs:
        url = f"{base_url}/{self.page}#{self.anchor}"
        return gcp.monitoring.AlertPolicyDocumentationArgs(
            mime_type="text/markdown",
            content=f"**What it means:** {self.meaning}\n\n**First steps:** {self.first_steps}\n\n**Runbook:** {url}",
            links=[gcp.monitoring.AlertPolicyDocumentationLinkArgs(display_name="Runbook", url=url)],
        )


@dataclass(frozen=True)
class Alert:
    """One alert policy: `key` names it in the stack (and in its logical name), `conditions` say when it fires."""

    key: str
    title: str
    conditions: Sequence[gcp.monitoring.AlertPolicyConditionArgs]
    runbook: Runbook
    severity: Severity = "ERROR"
    combiner: Literal["OR", "AND"] = "OR"
    log_based: bool = False  # matched log entries: notifications are rate limited


@dataclass(frozen=True)
class Chart:
    """A line chart of one metric filter on the stack's dashboard."""

    title: str
    filter: pulumi.Input[str]
    aligner: str
    reducer: str
    group_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Endpoint:
    """Where users call a public workload, for an uptime check: a host and a health path answered with 200."""

    host: pulumi.Input[str]
    path: str
    expected_status: int = 200
    expected_content: str | None = None


@dataclass(frozen=True)
class RequestSli:
    """Request-based service level indicators of a workload: all requests, the failed ones, and their latencies."""

    total: pulumi.Input[str]
    bad: pulumi.Input[str]
    latency: pulumi.Input[str]
    latency_target_ms: int


@dataclass(frozen=True)
class Watched:
    """Everything one workload asks Observability to watch. `key` names its uptime check and SLOs."""

    key: str
    alerts: Sequence[Alert] = ()
    charts: Sequence[Chart] = ()
    endpoint: Endpoint | None = None
    sli: RequestSli | None = None


def metric(where: pulumi.Input[str], metric_type: str, extra: str = "") -> pulumi.Input[str]:
    """A Cloud Monitoring filter for one metric on the resources `where` selects (plain text when `where` is)."""

    def text(w: str) -> str:
        return f'{w} AND metric.type="{metric_type}"' + (f" AND {extra}" if extra else "")

    if isinstance(where, str):
        return text(where)
    return pulumi.Output.from_input(where).apply(text)  # type: ignore[arg-type]


def threshold(
    display_name: str,
    filter_: pulumi.Input[str],
    value: float,
    duration: str,
    *,
    aligner: str = "ALIGN_MEAN",
    reducer: str = "REDUCE_MAX",
    comparison: str = "COMPARISON_GT",
    denominator: pulumi.Input[str] | None = None,
    group_by: Sequence[str] = (),
) -> gcp.monitoring.AlertPolicyConditionArgs:
    """A metric (or a ratio of two) crossing `value` for `duration`, aligned per minute; with `group_by`, each group
    (each region, say) is a time series of its own that crosses the threshold on its own."""
    settings: dict[str, Any] = {
        "alignment_period": "60s",
        "per_series_aligner": aligner,
        "cross_series_reducer": reducer,
    }
    if group_by:
        settings["group_by_fields"] = list(group_by)
    return gcp.monitoring.AlertPolicyConditionArgs(
        display_name=display_name,
        condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
            filter=filter_,
            comparison=comparison,
            threshold_value=value,
            duration=duration,
            aggregations=[gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(**settings)],
            denominator_filter=denominator,
            denominator_aggregations=[
                gcp.monitoring.AlertPolicyConditionConditionThresholdDenominatorAggregationArgs(**settings)
            ]
            if denominator is not None
            else None,
        ),
    )


def log_match(display_name: str, filter_: str) -> gcp.monitoring.AlertPolicyConditionArgs:
    """A condition that fires on every log entry matching `filter_`."""
    return gcp.monitoring.AlertPolicyConditionArgs(
        display_name=display_name,
        condition_matched_log=gcp.monitoring.AlertPolicyConditionConditionMatchedLogArgs(filter=filter_),
    )
