"""Observability: notification channels, uptime checks, alert policies with runbook text, SLOs with burn-rate alerts,
a dashboard, log routing and retention, Data Access audit logs and a budget.

What the platform monitors (Cloud Run services, the Cloud SQL instance, the Redis instance) comes in as plain
parameters from the components that own them, so this component knows metrics and thresholds, not other resources.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

import pulumi
import pulumi_gcp as gcp
from pydantic import Field, StringConstraints, model_validator

from components.cloud_run import ServiceArgs
from components.config_types import Model, invalid
from components.load_balancer import LoadBalancerArgs, PathMatcher, plan_routing
from components.naming import Naming
from components.project_services import ProjectServices

Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,30}$")]
Ratio = Annotated[float, Field(gt=0, lt=1)]
Seconds = Annotated[int, Field(ge=60, le=86400)]

# Stack-config keys read as Pulumi secrets (listed in stack_config.SECRET_KEYS).
SLACK_TOKEN_KEY = "observability_slack_token"
PAGERDUTY_KEY = "observability_pagerduty_service_key"
WEBHOOK_URL_KEY = "observability_webhook_url"

AUDITED_SERVICES = (
    "cloudsql.googleapis.com",
    "redis.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
)
# Multi-window burn-rate alerts (SRE workbook): a long window that proves the budget is burning and a short one
# (1/12 of it) that proves it still is, so the alert resolves soon after the cause is fixed.
FAST_BURN_WINDOWS = (3600, 300)
SLOW_BURN_WINDOWS = (21600, 1800)
BUDGET_THRESHOLDS = ((0.5, "CURRENT_SPEND"), (0.9, "CURRENT_SPEND"), (1.0, "CURRENT_SPEND"), (1.0, "FORECASTED_SPEND"))
BUDGET_SKIPPED = "skipped: no billing account configured (observability.budget.billing_account)"
UPTIME_REGIONS = Literal["USA", "EUROPE", "SOUTH_AMERICA", "ASIA_PACIFIC", "USA_OREGON", "USA_IOWA", "USA_VIRGINIA"]
DATA_ACCESS_LOGS = ("ADMIN_READ", "DATA_READ", "DATA_WRITE")
NAMESPACE = "platform"


class ChannelsArgs(Model):
    emails: dict[Key, Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]] = Field(min_length=1)
    slack_channel: Annotated[str, StringConstraints(pattern=r"^#[a-z0-9_-]{1,80}$")] | None = None
    pagerduty: bool = False  # service key from the secret platform:observability_pagerduty_service_key
    webhook: bool = False  # URL (with its token) from the secret platform:observability_webhook_url


class CloudRunAlertsArgs(Model):
    error_ratio: Ratio = 0.01  # 5xx responses over all responses
    cpu_utilization: Ratio = 0.8
    duration_seconds: Seconds = 300


class CloudSqlAlertsArgs(Model):
    cpu_utilization: Ratio = 0.8
    memory_utilization: Ratio = 0.9
    disk_utilization: Ratio = 0.85
    connections_ratio: Ratio = 0.8  # of max_connections
    replica_lag_seconds: Annotated[int, Field(ge=1)] = 60
    duration_seconds: Seconds = 300


class RedisAlertsArgs(Model):
    memory_usage_ratio: Ratio = 0.8
    duration_seconds: Seconds = 300


class AlertsArgs(Model):
    runbook_base_url: Annotated[str, StringConstraints(pattern=r"^https://\S+[^/]$")]
    cloud_run: CloudRunAlertsArgs = CloudRunAlertsArgs()
    cloud_sql: CloudSqlAlertsArgs = CloudSqlAlertsArgs()
    redis: RedisAlertsArgs = RedisAlertsArgs()


class UptimeArgs(Model):
    period: Literal["60s", "300s", "600s", "900s"] = "60s"
    timeout_seconds: Annotated[int, Field(ge=1, le=60)] = 10
    regions: list[UPTIME_REGIONS] = ["EUROPE", "USA_VIRGINIA", "ASIA_PACIFIC"]

    @model_validator(mode="after")
    def _three_regions(self) -> UptimeArgs:
        if len(set(self.regions)) < 3:
            invalid("regions", "uptime checks need at least 3 distinct regions (Cloud Monitoring requires 3)")
        return self


class SloArgs(Model):
    availability_goal: Annotated[float, Field(ge=0.9, lt=1)] = 0.999
    latency_goal: Annotated[float, Field(ge=0.9, lt=1)] = 0.99  # share of requests faster than the service target
    rolling_period_days: Annotated[int, Field(ge=1, le=30)] = 28
    burn_rate_alerts: bool = True
    fast_burn_rate: Annotated[float, Field(gt=1)] = 14.4  # 2% of a 30-day budget in 1 hour
    slow_burn_rate: Annotated[float, Field(gt=1)] = 6.0  # 5% of a 30-day budget in 6 hours


class LogsArgs(Model):
    retention_days: Annotated[int, Field(ge=1, le=3650)] = 30  # the _Default log bucket
    bigquery_partition_expiration_days: Annotated[int, Field(ge=1)] | None = 365
    sink_filter: str = 'severity>=WARNING OR logName:"cloudaudit.googleapis.com"'


class BudgetArgs(Model):
    billing_account: Annotated[str, StringConstraints(pattern=r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$")] | None = None
    amount: Annotated[int, Field(gt=0)]
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "EUR"


class ObservabilityArgs(Model):
    channels: ChannelsArgs
    alerts: AlertsArgs
    uptime: UptimeArgs = UptimeArgs()
    slo: SloArgs = SloArgs()
    logs: LogsArgs = LogsArgs()
    budget: BudgetArgs


@dataclass(frozen=True)
class ChannelSecrets:
    """The secret halves of optional channels, read from stack config as Pulumi secrets."""

    slack_token: pulumi.Input[str] | None = None
    pagerduty_service_key: pulumi.Input[str] | None = None
    webhook_url: pulumi.Input[str] | None = None

    @staticmethod
    def from_config(config: pulumi.Config) -> ChannelSecrets:
        return ChannelSecrets(
            slack_token=config.get_secret(SLACK_TOKEN_KEY),
            pagerduty_service_key=config.get_secret(PAGERDUTY_KEY),
            webhook_url=config.get_secret(WEBHOOK_URL_KEY),
        )


@dataclass(frozen=True)
class MonitoredService:
    """A Cloud Run service as the compute tier creates it."""

    service_name: pulumi.Input[str]
    max_instances: int
    latency_p99_ms: int
    public: bool = False
    url: pulumi.Input[str] | None = None  # the URL users call: a load balancer domain, or the Cloud Run `uri`
    health_path: str = "/healthz"
    expected_status: int = 200
    expected_content: str | None = None

    def __post_init__(self) -> None:
        if self.public and self.url is None:
            raise ValueError("a public MonitoredService needs its url: uptime checks call it")
        if not self.health_path.startswith("/"):
            raise ValueError(f"health_path '{self.health_path}' must start with '/'")


def monitored(
    services: Mapping[str, ServiceArgs],
    load_balancer: LoadBalancerArgs,
    *,
    names: Mapping[str, pulumi.Input[str]],
    urls: Mapping[str, pulumi.Input[str]],
) -> dict[str, MonitoredService]:
    """What to watch on each Cloud Run service, from its config; `names` are the Cloud Run service names and `urls`
    their run.app URLs. A public service is checked where its users reach it (see `public_url`)."""
    return {
        key: MonitoredService(
            service_name=names[key],
            max_instances=service.max_instances,
            latency_p99_ms=service.latency_p99_ms,
            public=service.public,
            url=public_url(key, service, load_balancer, urls[key]) if service.public else None,
            health_path=service.health_path,
        )
        for key, service in services.items()
    }


def public_url(
    key: str, service: ServiceArgs, load_balancer: LoadBalancerArgs, run_url: pulumi.Input[str]
) -> pulumi.Input[str]:
    """The URL users call: the first load balancer domain whose URL map sends the health path to the service (its
    ingress refuses run.app requests from outside), else the service's own run.app URL."""
    if not service.behind_load_balancer:
        return run_url
    target = {host: route_of(m, service.health_path) for m in plan_routing(load_balancer) for host in m.hosts}
    hosts = [domain for domain in load_balancer.domains if target[domain] == key]
    if not hosts:
        raise pulumi.RunError(
            f"services.{key}: no load_balancer domain routes {service.health_path} to {key}, so its uptime check has "
            f"nowhere to call; give it a domain in load_balancer.routes.<name>.hosts (without paths)"
        )
    return f"https://{hosts[0]}"


def route_of(matcher: PathMatcher, path: str) -> str:
    """Where the URL map sends `path`: the longest matching path rule (`/x/*` matches below /x/), else the default."""
    matching = [
        (len(pattern), target)
        for patterns, target in matcher.rules
        for pattern in patterns
        if (path.startswith(pattern[:-1]) if pattern.endswith("/*") else path == pattern)
    ]
    return max(matching)[1] if matching else matcher.default


@dataclass(frozen=True)
class MonitoredDatabase:
    """The Cloud SQL primary (instance name, not connection name) and its read replicas."""

    instance: pulumi.Input[str]
    max_connections: int
    replicas: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)  # replica key -> instance name


@dataclass(frozen=True)
class MonitoredRedis:
    instance_id: pulumi.Input[str]  # `gcp.redis.Instance.id`: projects/P/locations/R/instances/NAME


class Observability(pulumi.ComponentResource):
    """Alerting that tells on-call what broke and what to do, SLOs for the public services, one dashboard per
    stack, logs kept and queryable in BigQuery, Data Access audit logs, and a budget on the billing account."""

    notification_channel_ids: pulumi.Output[list[str]]
    dashboard_id: pulumi.Output[str]
    budget_status: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: ObservabilityArgs,
        *,
        naming: Naming,
        project: str,
        region: str,
        apis: ProjectServices,
        secrets: ChannelSecrets,
        deletion_protection: bool,
        protect: bool,
        services: Mapping[str, MonitoredService],
        database: MonitoredDatabase | None = None,
        redis: MonitoredRedis | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:components:Observability", name, None, opts)
        self._name = name
        self._args = args
        self._naming = naming
        self._project = project
        self._region = region
        self._labels = naming.labels_for("observability")
        self._monitoring = pulumi.ResourceOptions(parent=self, depends_on=apis.require("monitoring.googleapis.com"))

        self.channels = self._channels(args.channels, secrets)
        self._channel_ids = [c.id for c in self.channels.values()]
        self.alert_policies: dict[str, gcp.monitoring.AlertPolicy] = {}
        for key, service in services.items():
            self._service_alerts(key, service)
        self.uptime_checks = {
            key: self._uptime_check(key, s, s.url) for key, s in services.items() if s.public and s.url is not None
        }
        self.slos = {key: self._slos(key, s) for key, s in services.items() if s.public}
        if database is not None:
            self._database_alerts(database)
        if redis is not None:
            self._redis_alerts(redis)
        self._backup_failure_alert()

        self.error_metric = self._error_metric(apis)
        self.dashboard = self._dashboard(services, database, redis)
        self._logs(args.logs, apis, deletion_protection=deletion_protection, protect=protect)
        self.audit_configs = self._audit_logs()
        self.budget = self._budget(args.budget, apis)

        self.notification_channel_ids = pulumi.Output.all(*self._channel_ids)
        self.dashboard_id = self.dashboard.id
        self.budget_status = pulumi.Output.from_input(
            BUDGET_SKIPPED
            if self.budget is None
            else f"{args.budget.amount} {args.budget.currency} on billingAccounts/{args.budget.billing_account}, "
            f"alerts at {', '.join(_threshold_text(p, basis) for p, basis in BUDGET_THRESHOLDS)}"
        )
        if self.budget is None:
            pulumi.log.info(f"budget {BUDGET_SKIPPED}", resource=self)
        self.register_outputs(
            {
                "notification_channel_ids": self.notification_channel_ids,
                "dashboard_id": self.dashboard_id,
                "budget_status": self.budget_status,
            }
        )

    # Notification channels ---------------------------------------------------------------------------------------

    def _channels(self, args: ChannelsArgs, secrets: ChannelSecrets) -> dict[str, gcp.monitoring.NotificationChannel]:
        def channel(key: str, kind: str, labels: Mapping[str, pulumi.Input[str]], **extra: Any) -> None:
            channels[key] = gcp.monitoring.NotificationChannel(
                f"{self._name}-{key}",
                display_name=f"{self._naming.physical(key)} ({kind})",
                type=kind,
                labels=labels,
                user_labels=self._labels,
                force_delete=False,
                opts=self._monitoring,
                **extra,
            )

        channels: dict[str, gcp.monitoring.NotificationChannel] = {}
        for key, address in args.emails.items():
            channel(f"email-{key}", "email", {"email_address": address})
        if args.slack_channel:
            token = _required(secrets.slack_token, SLACK_TOKEN_KEY, "observability.channels.slack_channel")
            channel(
                "slack",
                "slack",
                {"channel_name": args.slack_channel},
                sensitive_labels=gcp.monitoring.NotificationChannelSensitiveLabelsArgs(auth_token=token),
            )
        if args.pagerduty:
            service_key = _required(secrets.pagerduty_service_key, PAGERDUTY_KEY, "observability.channels.pagerduty")
            channel(
                "pagerduty",
                "pagerduty",
                {},
                sensitive_labels=gcp.monitoring.NotificationChannelSensitiveLabelsArgs(service_key=service_key),
            )
        if args.webhook:
            url = _required(secrets.webhook_url, WEBHOOK_URL_KEY, "observability.channels.webhook")
            channel("webhook", "webhook_tokenauth", {"url": pulumi.Output.secret(url)})
        return channels

    # Alert policies ----------------------------------------------------------------------------------------------

    def _alert(
        self,
        key: str,
        title: str,
        conditions: Sequence[gcp.monitoring.AlertPolicyConditionArgs],
        doc: Runbook,
        *,
        severity: Literal["CRITICAL", "ERROR", "WARNING"] = "ERROR",
        combiner: Literal["OR", "AND"] = "OR",
        log_based: bool = False,
    ) -> gcp.monitoring.AlertPolicy:
        policy = gcp.monitoring.AlertPolicy(
            f"{self._name}-{key}",
            display_name=f"[{self._naming.environment}] {title}",
            combiner=combiner,
            conditions=list(conditions),
            severity=severity,
            notification_channels=self._channel_ids,
            documentation=doc.args(self._args.alerts.runbook_base_url),
            alert_strategy=gcp.monitoring.AlertPolicyAlertStrategyArgs(
                auto_close="86400s",
                notification_rate_limit=gcp.monitoring.AlertPolicyAlertStrategyNotificationRateLimitArgs(period="3600s")
                if log_based
                else None,
            ),
            user_labels=self._labels,
            opts=self._monitoring,
        )
        self.alert_policies[key] = policy
        return policy

    def _service_alerts(self, key: str, service: MonitoredService) -> None:
        t = self._args.alerts.cloud_run
        duration = f"{t.duration_seconds}s"
        where = pulumi.Output.from_input(service.service_name).apply(
            lambda n: f'resource.type="cloud_run_revision" AND resource.label.service_name="{n}"'
        )
        self._alert(
            f"{key}-5xx-ratio",
            f"Cloud Run {key}: 5xx ratio above {t.error_ratio:.0%}",
            [
                threshold(
                    f"5xx ratio > {t.error_ratio:.0%} for {duration}",
                    metric(where, "run.googleapis.com/request_count", 'metric.label.response_code_class="5xx"'),
                    t.error_ratio,
                    duration,
                    aligner="ALIGN_RATE",
                    reducer="REDUCE_SUM",
                    denominator=metric(where, "run.googleapis.com/request_count"),
                )
            ],
            RUNBOOK["cloud-run-5xx"],
            severity="CRITICAL",
        )
        self._alert(
            f"{key}-latency-p99",
            f"Cloud Run {key}: p99 latency above {service.latency_p99_ms} ms",
            [
                threshold(
                    f"p99 latency > {service.latency_p99_ms} ms for {duration}",
                    metric(where, "run.googleapis.com/request_latencies"),
                    service.latency_p99_ms,
                    duration,
                    aligner="ALIGN_PERCENTILE_99",
                    reducer="REDUCE_MAX",
                )
            ],
            RUNBOOK["cloud-run-latency"],
        )
        self._alert(
            f"{key}-cpu",
            f"Cloud Run {key}: CPU above {t.cpu_utilization:.0%}",
            [
                threshold(
                    f"CPU utilization > {t.cpu_utilization:.0%} for {duration}",
                    metric(where, "run.googleapis.com/container/cpu/utilizations"),
                    t.cpu_utilization,
                    duration,
                    aligner="ALIGN_PERCENTILE_99",
                    reducer="REDUCE_MAX",
                )
            ],
            RUNBOOK["cloud-run-cpu"],
            severity="WARNING",
        )
        self._alert(
            f"{key}-instances-at-max",
            f"Cloud Run {key}: instance count at max ({service.max_instances})",
            [
                threshold(
                    f"instances >= {service.max_instances} for {duration}",
                    metric(where, "run.googleapis.com/container/instance_count"),
                    service.max_instances,
                    duration,
                    aligner="ALIGN_MAX",
                    reducer="REDUCE_SUM",
                    comparison="COMPARISON_GE",
                )
            ],
            RUNBOOK["cloud-run-max-instances"],
            severity="WARNING",
        )

    def _database_alerts(self, database: MonitoredDatabase) -> None:
        t = self._args.alerts.cloud_sql
        duration = f"{t.duration_seconds}s"

        def where(instance: pulumi.Input[str]) -> pulumi.Output[str]:
            return pulumi.Output.from_input(instance).apply(
                lambda n: f'resource.type="cloudsql_database" AND resource.label.database_id="{self._project}:{n}"'
            )

        primary = where(database.instance)
        utilization = {
            "cpu": ("CPU", "cloudsql.googleapis.com/database/cpu/utilization", t.cpu_utilization),
            "memory": ("memory", "cloudsql.googleapis.com/database/memory/utilization", t.memory_utilization),
            "disk": ("disk", "cloudsql.googleapis.com/database/disk/utilization", t.disk_utilization),
        }
        for key, (what, metric_type, limit) in utilization.items():
            self._alert(
                f"database-{key}",
                f"Cloud SQL: {what} utilization above {limit:.0%}",
                [threshold(f"{what} > {limit:.0%} for {duration}", metric(primary, metric_type), limit, duration)],
                RUNBOOK[f"cloud-sql-{key}"],
                severity="CRITICAL" if key == "disk" else "WARNING",
            )
        connections = int(database.max_connections * t.connections_ratio)
        self._alert(
            "database-connections",
            f"Cloud SQL: connections above {connections} ({t.connections_ratio:.0%} of {database.max_connections})",
            [
                threshold(
                    f"backends > {connections} for {duration}",
                    metric(primary, "cloudsql.googleapis.com/database/postgresql/num_backends"),
                    connections,
                    duration,
                    reducer="REDUCE_SUM",
                )
            ],
            RUNBOOK["cloud-sql-connections"],
        )
        if database.replicas:
            self._alert(
                "database-replica-lag",
                f"Cloud SQL: replica lag above {t.replica_lag_seconds} s",
                [
                    threshold(
                        f"{key} lag > {t.replica_lag_seconds} s for {duration}",
                        metric(where(replica), "cloudsql.googleapis.com/database/replication/replica_lag"),
                        t.replica_lag_seconds,
                        duration,
                    )
                    for key, replica in sorted(database.replicas.items())
                ],
                RUNBOOK["cloud-sql-replica-lag"],
            )

    def _redis_alerts(self, redis: MonitoredRedis) -> None:
        t = self._args.alerts.redis
        duration = f"{t.duration_seconds}s"
        where = pulumi.Output.from_input(redis.instance_id).apply(
            lambda i: f'resource.type="redis_instance" AND resource.label.instance_id="{i}"'
        )
        self._alert(
            "redis-memory",
            f"Redis: memory usage above {t.memory_usage_ratio:.0%}",
            [
                threshold(
                    f"memory usage ratio > {t.memory_usage_ratio:.0%} for {duration}",
                    metric(where, "redis.googleapis.com/stats/memory/usage_ratio"),
                    t.memory_usage_ratio,
                    duration,
                )
            ],
            RUNBOOK["redis-memory"],
        )

    def _backup_failure_alert(self) -> None:
        self._alert(
            "backup-failure",
            "Backup or export failed",
            [
                gcp.monitoring.AlertPolicyConditionArgs(
                    display_name="a backup, export job or export operation logged an error",
                    condition_matched_log=gcp.monitoring.AlertPolicyConditionConditionMatchedLogArgs(
                        filter=BACKUP_FAILURE_FILTER
                    ),
                )
            ],
            RUNBOOK["backup-failure"],
            severity="CRITICAL",
            log_based=True,
        )

    # Uptime checks and SLOs --------------------------------------------------------------------------------------

    def _uptime_check(
        self, key: str, service: MonitoredService, url: pulumi.Input[str]
    ) -> gcp.monitoring.UptimeCheckConfig:
        u = self._args.uptime
        check = gcp.monitoring.UptimeCheckConfig(
            f"{self._name}-{key}-uptime",
            display_name=self._naming.physical(key, "uptime"),
            period=u.period,
            timeout=f"{u.timeout_seconds}s",
            selected_regions=list(u.regions),
            checker_type="STATIC_IP_CHECKERS",
            http_check=gcp.monitoring.UptimeCheckConfigHttpCheckArgs(
                path=service.health_path,
                port=443,
                use_ssl=True,
                validate_ssl=True,
                request_method="GET",
                accepted_response_status_codes=[
                    gcp.monitoring.UptimeCheckConfigHttpCheckAcceptedResponseStatusCodeArgs(
                        status_value=service.expected_status
                    )
                ],
            ),
            content_matchers=[
                gcp.monitoring.UptimeCheckConfigContentMatcherArgs(content=service.expected_content, matcher="CONTAINS")
            ]
            if service.expected_content
            else None,
            monitored_resource=gcp.monitoring.UptimeCheckConfigMonitoredResourceArgs(
                type="uptime_url",
                labels={"project_id": self._project, "host": pulumi.Output.from_input(url).apply(_host)},
            ),
            user_labels=self._labels,
            opts=self._monitoring,
        )
        failing = check.uptime_check_id.apply(
            lambda i: (
                f'resource.type="uptime_url" AND metric.type="monitoring.googleapis.com/uptime_check/check_passed"'
                f' AND metric.label.check_id="{i}"'
            )
        )
        self._alert(
            f"{key}-uptime-failing",
            f"Uptime check {key} failing",
            [
                gcp.monitoring.AlertPolicyConditionArgs(
                    display_name=f"{service.health_path} fails from more than one region",
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
            ],
            RUNBOOK["uptime-check"],
            severity="CRITICAL",
        )
        return check

    def _slos(self, key: str, service: MonitoredService) -> dict[str, gcp.monitoring.Slo]:
        s = self._args.slo
        custom = gcp.monitoring.CustomService(
            f"{self._name}-{key}-service",
            service_id=self._naming.physical(key),
            display_name=f"{self._naming.physical(key)} (Cloud Run)",
            user_labels=self._labels,
            opts=self._monitoring,
        )
        where = pulumi.Output.from_input(service.service_name).apply(
            lambda n: f'resource.type="cloud_run_revision" AND resource.label.service_name="{n}"'
        )
        requests = metric(where, "run.googleapis.com/request_count")
        slos = {
            "availability": gcp.monitoring.Slo(
                f"{self._name}-{key}-availability",
                service=custom.service_id,
                slo_id="availability",
                display_name=f"{key}: {s.availability_goal:.2%} of requests succeed (not 5xx)",
                goal=s.availability_goal,
                rolling_period_days=s.rolling_period_days,
                request_based_sli=gcp.monitoring.SloRequestBasedSliArgs(
                    good_total_ratio=gcp.monitoring.SloRequestBasedSliGoodTotalRatioArgs(
                        bad_service_filter=metric(
                            where, "run.googleapis.com/request_count", 'metric.label.response_code_class="5xx"'
                        ),
                        total_service_filter=requests,
                    )
                ),
                user_labels=self._labels,
                opts=pulumi.ResourceOptions(parent=self),
            ),
            "latency": gcp.monitoring.Slo(
                f"{self._name}-{key}-latency",
                service=custom.service_id,
                slo_id="latency",
                display_name=f"{key}: {s.latency_goal:.2%} of requests faster than {service.latency_p99_ms} ms",
                goal=s.latency_goal,
                rolling_period_days=s.rolling_period_days,
                request_based_sli=gcp.monitoring.SloRequestBasedSliArgs(
                    distribution_cut=gcp.monitoring.SloRequestBasedSliDistributionCutArgs(
                        distribution_filter=metric(where, "run.googleapis.com/request_latencies"),
                        range=gcp.monitoring.SloRequestBasedSliDistributionCutRangeArgs(
                            min=0, max=service.latency_p99_ms
                        ),
                    )
                ),
                user_labels=self._labels,
                opts=pulumi.ResourceOptions(parent=self),
            ),
        }
        if s.burn_rate_alerts:
            for kind, slo in slos.items():
                self._burn_rate_alert(key, kind, slo, "fast", s.fast_burn_rate, FAST_BURN_WINDOWS, "CRITICAL")
                self._burn_rate_alert(key, kind, slo, "slow", s.slow_burn_rate, SLOW_BURN_WINDOWS, "WARNING")
        return slos

    def _burn_rate_alert(
        self,
        key: str,
        kind: str,
        slo: gcp.monitoring.Slo,
        speed: str,
        rate: float,
        windows: tuple[int, int],
        severity: Literal["CRITICAL", "WARNING"],
    ) -> None:
        self._alert(
            f"{key}-{kind}-{speed}-burn",
            f"SLO {key} {kind}: {speed} error-budget burn (> {rate}x)",
            [
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
            ],
            RUNBOOK["slo-burn"],
            severity=severity,
            combiner="AND",
        )

    # Dashboard, metrics, logs, audit, budget ---------------------------------------------------------------------

    def _error_metric(self, apis: ProjectServices) -> gcp.logging.Metric:
        return gcp.logging.Metric(
            f"{self._name}-app-errors",
            name=self._naming.physical("app-errors"),
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
            opts=pulumi.ResourceOptions(parent=self, depends_on=apis.require("logging.googleapis.com")),
        )

    def _dashboard(
        self,
        services: Mapping[str, MonitoredService],
        database: MonitoredDatabase | None,
        redis: MonitoredRedis | None,
    ) -> gcp.monitoring.Dashboard:
        names = {key: pulumi.Output.from_input(s.service_name) for key, s in services.items()}
        document = pulumi.Output.all(
            services=pulumi.Output.all(**names) if names else {},
            database=database.instance if database else None,
            redis=redis.instance_id if redis else None,
            error_metric=self.error_metric.name,
        ).apply(
            lambda v: json.dumps(
                dashboard_document(
                    self._naming.physical("platform"),
                    services=v["services"],
                    database_id=f"{self._project}:{v['database']}" if v["database"] else None,
                    redis_instance_id=v["redis"],
                    error_metric=v["error_metric"],
                ),
                sort_keys=True,
            )
        )
        return gcp.monitoring.Dashboard(f"{self._name}-dashboard", dashboard_json=document, opts=self._monitoring)

    def _logs(self, args: LogsArgs, apis: ProjectServices, *, deletion_protection: bool, protect: bool) -> None:
        logging_api = apis.require("logging.googleapis.com")
        self.log_bucket = gcp.logging.ProjectBucketConfig(
            f"{self._name}-default-log-bucket",
            project=self._project,
            location="global",
            bucket_id="_Default",
            retention_days=args.retention_days,
            opts=pulumi.ResourceOptions(parent=self, depends_on=logging_api),
        )
        expiration = args.bigquery_partition_expiration_days
        self.log_dataset = gcp.bigquery.Dataset(
            f"{self._name}-logs",
            dataset_id=self._naming.physical("logs").replace("-", "_"),
            location=self._region,
            description="Log sink: warnings, errors and audit logs, one partitioned table per log",
            default_partition_expiration_ms=expiration * 86_400_000 if expiration else None,
            delete_contents_on_destroy=False,
            deletion_policy="PREVENT" if deletion_protection else "DELETE",
            labels=self._labels,
            opts=pulumi.ResourceOptions(
                parent=self, protect=protect, depends_on=apis.require("bigquery.googleapis.com")
            ),
        )
        self.log_sink = gcp.logging.ProjectSink(
            f"{self._name}-logs-to-bigquery",
            name=self._naming.physical("logs-bigquery"),
            destination=self.log_dataset.id.apply(lambda i: f"bigquery.googleapis.com/{i}"),
            filter=args.sink_filter,
            unique_writer_identity=True,
            bigquery_options=gcp.logging.ProjectSinkBigqueryOptionsArgs(use_partitioned_tables=True),
            opts=pulumi.ResourceOptions(parent=self, depends_on=logging_api),
        )
        gcp.bigquery.DatasetIamMember(
            f"{self._name}-logs-sink-writer",
            dataset_id=self.log_dataset.dataset_id,
            role="roles/bigquery.dataEditor",
            member=self.log_sink.writer_identity,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _audit_logs(self) -> dict[str, gcp.projects.IAMAuditConfig]:
        return {
            service: gcp.projects.IAMAuditConfig(
                f"{self._name}-audit-{service.removesuffix('.googleapis.com')}",
                project=self._project,
                service=service,
                audit_log_configs=[
                    gcp.projects.IAMAuditConfigAuditLogConfigArgs(log_type=kind) for kind in DATA_ACCESS_LOGS
                ],
                opts=pulumi.ResourceOptions(parent=self),
            )
            for service in AUDITED_SERVICES
        }

    def _budget(self, args: BudgetArgs, apis: ProjectServices) -> gcp.billing.Budget | None:
        if args.billing_account is None:
            return None
        self.budget_topic = gcp.pubsub.Topic(
            f"{self._name}-budget",
            name=self._naming.physical("budget-alerts"),
            message_retention_duration="604800s",
            labels=self._labels,
            opts=pulumi.ResourceOptions(parent=self, depends_on=apis.require("pubsub.googleapis.com")),
        )
        number = gcp.organizations.get_project_output(
            project_id=self._project, opts=pulumi.InvokeOutputOptions(parent=self)
        ).number
        return gcp.billing.Budget(
            f"{self._name}-budget",
            billing_account=args.billing_account,
            display_name=self._naming.physical("budget"),
            budget_filter=gcp.billing.BudgetBudgetFilterArgs(projects=[number.apply(lambda n: f"projects/{n}")]),
            amount=gcp.billing.BudgetAmountArgs(
                specified_amount=gcp.billing.BudgetAmountSpecifiedAmountArgs(
                    currency_code=args.currency, units=str(args.amount)
                )
            ),
            threshold_rules=[
                gcp.billing.BudgetThresholdRuleArgs(threshold_percent=percent, spend_basis=basis)
                for percent, basis in BUDGET_THRESHOLDS
            ],
            all_updates_rule=gcp.billing.BudgetAllUpdatesRuleArgs(
                monitoring_notification_channels=self._channel_ids[:5],  # the API takes at most 5
                pubsub_topic=self.budget_topic.id,
                schema_version="1.0",
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=apis.require("billingbudgets.googleapis.com")),
        )


# Runbook text ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Runbook:
    """What an alert means, the first steps, and the runbook section (an anchor in docs/observability.md)."""

    meaning: str
    first_steps: str
    anchor: str
    page: str = "observability.md"

    def args(self, base_url: str) -> gcp.monitoring.AlertPolicyDocumentationArgs:
        url = f"{base_url}/{self.page}#{self.anchor}"
        return gcp.monitoring.AlertPolicyDocumentationArgs(
            mime_type="text/markdown",
            content=f"**What it means:** {self.meaning}\n\n**First steps:** {self.first_steps}\n\n**Runbook:** {url}",
            links=[gcp.monitoring.AlertPolicyDocumentationLinkArgs(display_name="Runbook", url=url)],
        )


RUNBOOK: dict[str, Runbook] = {
    "cloud-run-5xx": Runbook(
        "More than the allowed share of requests to the service end in a server error; users see failures.",
        "Check the service's recent revisions and error logs; roll traffic back to the last good revision if a "
        "deploy started it.",
        "cloud-run-5xx-ratio",
    ),
    "cloud-run-latency": Runbook(
        "The slowest 1% of requests take longer than the service's latency target.",
        "Look at the dashboard for database latency, CPU and instance count; check slow queries and upstream calls.",
        "cloud-run-p99-latency",
    ),
    "cloud-run-cpu": Runbook(
        "Instances are CPU-bound; latency will follow.",
        "Check whether traffic grew or a deploy made requests costlier; raise CPU or max instances if it is load.",
        "cloud-run-cpu",
    ),
    "cloud-run-max-instances": Runbook(
        "The service runs at its max instance count; extra requests queue and may fail with 429/503.",
        "Confirm the traffic is legitimate (Cloud Armor logs); raise max_instances if the database can take it.",
        "cloud-run-instances-at-max",
    ),
    "cloud-sql-cpu": Runbook(
        "The database's CPU is saturated; queries slow down.",
        "Open Query Insights for the top queries; kill runaway queries; scale the tier if load is legitimate.",
        "cloud-sql-cpu",
    ),
    "cloud-sql-memory": Runbook(
        "The database is short of memory; it may evict caches or restart.",
        "Check connections and work_mem-heavy queries in Query Insights; scale the tier if sustained.",
        "cloud-sql-memory",
    ),
    "cloud-sql-disk": Runbook(
        "The database disk is nearly full; writes stop when it is.",
        "Confirm storage auto-increase is on; look for bloated tables or runaway temp files; grow the disk.",
        "cloud-sql-disk",
    ),
    "cloud-sql-connections": Runbook(
        "Connections approach max_connections; new connections will be refused.",
        "Look for connection leaks or a pool sized above its share; check instance counts of the Cloud Run services.",
        "cloud-sql-connections",
    ),
    "cloud-sql-replica-lag": Runbook(
        "A read replica is behind the primary; reads from it are stale and a failover would lose data.",
        "Check replica CPU and disk I/O and long-running transactions on the primary.",
        "cloud-sql-replica-lag",
    ),
    "redis-memory": Runbook(
        "Redis memory is nearly used up; keys will be evicted or writes refused.",
        "Check key growth and TTLs; scale the instance's memory size if the working set grew.",
        "redis-memory",
    ),
    "uptime-check": Runbook(
        "The public health endpoint fails from more than one region: the service is down or unreachable.",
        "Call the health path yourself; check the load balancer, DNS and certificate, then the service's logs.",
        "uptime-check-failing",
    ),
    "slo-burn": Runbook(
        "The service is spending its error budget faster than the SLO allows (fast: hours to exhaustion).",
        "Treat a fast burn as an incident; find the failing requests on the dashboard and roll back recent changes.",
        "slo-burn-rate",
    ),
    "backup-failure": Runbook(
        "A scheduled export or a Cloud SQL backup failed; the recovery point is older than promised.",
        "Read the failing log entry; run the export job again; follow the backup runbook's checks.",
        "backup-or-export-failed",
        page="operations/backup-recovery.md",
    ),
}

BACKUP_FAILURE_FILTER = (
    '(resource.type="cloud_scheduler_job" AND severity>=ERROR)'
    ' OR (protoPayload.serviceName="cloudsql.googleapis.com"'
    ' AND protoPayload.methodName=("cloudsql.instances.export" OR "cloudsql.backupRuns.create") AND severity>=ERROR)'
    ' OR (protoPayload.serviceName="redis.googleapis.com"'
    ' AND protoPayload.methodName:"ExportInstance" AND severity>=ERROR)'
)


# Pure helpers: filters, conditions and the dashboard document ------------------------------------------------------


def metric(where: pulumi.Input[str], metric_type: str, extra: str = "") -> pulumi.Output[str]:
    """A Cloud Monitoring filter for one metric on the resources `where` selects."""
    return pulumi.Output.from_input(where).apply(
        lambda w: f'{w} AND metric.type="{metric_type}"' + (f" AND {extra}" if extra else "")
    )


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
) -> gcp.monitoring.AlertPolicyConditionArgs:
    settings = {"alignment_period": "60s", "per_series_aligner": aligner, "cross_series_reducer": reducer}

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


def burn_rate_filter(slo_name: str, window_seconds: int) -> str:
    return f'select_slo_burn_rate("{slo_name}", "{window_seconds}s")'


def _host(url: str) -> str:
    return urlparse(url).hostname or url


def _threshold_text(percent: float, basis: str) -> str:
    return f"{percent:.0%}" + (" forecasted" if basis == "FORECASTED_SPEND" else "")


def _required(value: pulumi.Input[str] | None, key: str, needed_by: str) -> pulumi.Input[str]:
    if value is None:
        raise pulumi.RunError(
            f"{needed_by} needs the secret platform:{key}; set it with `pulumi config set --secret {NAMESPACE}:{key}`"
        )
    return value


def _chart(title: str, filter_: str, aligner: str, reducer: str, group_by: Sequence[str] = ()) -> dict[str, Any]:
    aggregation: dict[str, Any] = {
        "alignmentPeriod": "60s",
        "perSeriesAligner": aligner,
        "crossSeriesReducer": reducer,
    }
    if group_by:
        aggregation["groupByFields"] = list(group_by)
    return {
        "title": title,
        "xyChart": {
            "dataSets": [
                {
                    "plotType": "LINE",
                    "timeSeriesQuery": {"timeSeriesFilter": {"filter": filter_, "aggregation": aggregation}},
                }
            ]
        },
    }


def dashboard_document(
    display_name: str,
    *,
    services: Mapping[str, str],
    database_id: str | None,
    redis_instance_id: str | None,
    error_metric: str,
) -> dict[str, Any]:
    """The Cloud Monitoring dashboard (its REST JSON): per service request rate, errors, p99 latency and instances;
    then the database and Redis. Plain data, so tests can read it without an engine."""
    widgets: list[dict[str, Any]] = []
    for key, name in sorted(services.items()):
        run = f'resource.type="cloud_run_revision" AND resource.label.service_name="{name}"'
        requests = f'{run} AND metric.type="run.googleapis.com/request_count"'
        widgets += [
            _chart(f"{key}: requests/s", requests, "ALIGN_RATE", "REDUCE_SUM", ["metric.label.response_code_class"]),
            _chart(
                f"{key}: 5xx/s", f'{requests} AND metric.label.response_code_class="5xx"', "ALIGN_RATE", "REDUCE_SUM"
            ),
            _chart(
                f"{key}: p99 latency",
                f'{run} AND metric.type="run.googleapis.com/request_latencies"',
                "ALIGN_PERCENTILE_99",
                "REDUCE_MAX",
            ),
            _chart(
                f"{key}: instances",
                f'{run} AND metric.type="run.googleapis.com/container/instance_count"',
                "ALIGN_MAX",
                "REDUCE_SUM",
            ),
        ]
    widgets.append(
        _chart(
            "Application errors (logs)",
            f'metric.type="logging.googleapis.com/user/{error_metric}"',
            "ALIGN_RATE",
            "REDUCE_SUM",
            ["metric.label.service_name"],
        )
    )
    if database_id:
        sql = f'resource.type="cloudsql_database" AND resource.label.database_id="{database_id}"'
        widgets += [
            _chart(
                f"Cloud SQL: {what}", f'{sql} AND metric.type="cloudsql.googleapis.com/database/{m}"', a, "REDUCE_MAX"
            )
            for what, m, a in (
                ("CPU", "cpu/utilization", "ALIGN_MEAN"),
                ("memory", "memory/utilization", "ALIGN_MEAN"),
                ("disk", "disk/utilization", "ALIGN_MEAN"),
                ("connections", "postgresql/num_backends", "ALIGN_MEAN"),
            )
        ]
    if redis_instance_id:
        redis = f'resource.type="redis_instance" AND resource.label.instance_id="{redis_instance_id}"'
        widgets += [
            _chart(f"Redis: {what}", f'{redis} AND metric.type="redis.googleapis.com/{m}"', a, "REDUCE_MAX")
            for what, m, a in (
                ("memory usage ratio", "stats/memory/usage_ratio", "ALIGN_MEAN"),
                ("connected clients", "clients/connected", "ALIGN_MEAN"),
                ("cache hit ratio", "stats/cache_hit_ratio", "ALIGN_MEAN"),
            )
        ]
    columns, width, height = 12, 6, 4
    tiles = [
        {"xPos": (i % 2) * width, "yPos": (i // 2) * height, "width": width, "height": height, "widget": w}
        for i, w in enumerate(widgets)
    ]
    return {"displayName": display_name, "mosaicLayout": {"columns": columns, "tiles": tiles}}
