"""The Observability component: turns what each workload asks to be watched into alert policies that tell on-call what
broke and what to do, uptime checks and SLOs for the public endpoints, and one dashboard per stack; keeps logs."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_gcp as gcp

from components.context import StackContext
from components.observability.channels import ChannelSecrets, notification_channels
from components.observability.config import ObservabilityArgs
from components.observability.dashboard import dashboard_json
from components.observability.logs import logs
from components.observability.signals import Alert, Watched
from components.observability.uptime import burn_rate_alerts, slos, uptime_alert, uptime_check


class Observability(pulumi.ComponentResource):
    """Alerting, uptime checks, SLOs and a dashboard for the workloads in `watched` (each one's `Watched`), notifying
    every configured channel; logs kept for `logs.retention_days` and queryable in BigQuery."""

    notification_channel_ids: pulumi.Output[list[str]]
    dashboard_id: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: ObservabilityArgs,
        *,
        ctx: StackContext,
        secrets: ChannelSecrets,
        watched: Sequence[Watched],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:components:Observability", name, None, ctx.component(opts))
        self._name = name
        self._args = args
        self._ctx = ctx
        self._labels = ctx.labels("observability")
        self._monitoring = ctx.after(self, "monitoring.googleapis.com")

        self.channels = notification_channels(
            name, args.channels, secrets, naming=ctx.naming, labels=self._labels, opts=self._monitoring
        )
        self.channel_ids = [c.id for c in self.channels.values()]
        self.alert_policies: dict[str, gcp.monitoring.AlertPolicy] = {}
        self.uptime_checks: dict[str, gcp.monitoring.UptimeCheckConfig] = {}
        self.slos: dict[str, dict[str, gcp.monitoring.Slo]] = {}
        for workload in watched:
            self._watch(workload)

        self.logs = logs(name, args.logs, ctx=ctx, labels=self._labels, parent=self)
        charts = [self.logs.errors_chart(), *(chart for w in watched for chart in w.charts)]
        self.dashboard = gcp.monitoring.Dashboard(
            f"{name}-dashboard",
            dashboard_json=dashboard_json(ctx.naming.physical("platform"), charts),
            opts=self._monitoring,
        )

        self.notification_channel_ids = pulumi.Output.all(*self.channel_ids)
        self.dashboard_id = self.dashboard.id
        self.register_outputs(
            {"notification_channel_ids": self.notification_channel_ids, "dashboard_id": self.dashboard_id}
        )

    def _watch(self, workload: Watched) -> None:
        for alert in workload.alerts:
            self._alert(alert)
        if workload.endpoint is not None:
            check = uptime_check(
                self._name,
                workload.key,
                workload.endpoint,
                self._args.uptime,
                naming=self._ctx.naming,
                project=self._ctx.project,
                labels=self._labels,
                opts=self._monitoring,
            )
            self.uptime_checks[workload.key] = check
            self._alert(uptime_alert(workload.key, workload.endpoint, check))
        if workload.sli is not None:
            self.slos[workload.key] = slos(
                self._name,
                workload.key,
                workload.sli,
                self._args.slo,
                naming=self._ctx.naming,
                labels=self._labels,
                service_opts=self._monitoring,
                parent=self,
            )
            for alert in burn_rate_alerts(workload.key, self.slos[workload.key], self._args.slo):
                self._alert(alert)

    def _alert(self, alert: Alert) -> gcp.monitoring.AlertPolicy:
        policy = gcp.monitoring.AlertPolicy(
            f"{self._name}-{alert.key}",
            display_name=f"[{self._ctx.naming.environment}] {alert.title}",
            combiner=alert.combiner,
            conditions=list(alert.conditions),
            severity=alert.severity,
            notification_channels=self.channel_ids,
            documentation=alert.runbook.args(self._args.alerts.runbook_base_url),
            alert_strategy=gcp.monitoring.AlertPolicyAlertStrategyArgs(
                auto_close="86400s",
                notification_rate_limit=gcp.monitoring.AlertPolicyAlertStrategyNotificationRateLimitArgs(period="3600s")
                if alert.log_based
                else None,
            ),
            user_labels=self._labels,
            opts=self._monitoring,
        )
        self.alert_policies[alert.key] = policy
        return policy
