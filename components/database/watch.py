"""What to watch on the Cloud SQL primary and its replicas: CPU, memory, disk, connections against max_connections and
replica lag; four dashboard charts of the primary."""

from __future__ import annotations

from collections.abc import Mapping

from components.observability.config import CloudSqlAlertsArgs
from components.observability.signals import Alert, Chart, Runbook, Watched, metric, threshold

METRIC = "cloudsql.googleapis.com/database/"
RUNBOOK = {
    "cpu": Runbook(
        "The database's CPU is saturated; queries slow down.",
        "Open Query Insights for the top queries; kill runaway queries; scale the tier if load is legitimate.",
        "cloud-sql-cpu",
    ),
    "memory": Runbook(
        "The database is short of memory; it may evict caches or restart.",
        "Check connections and work_mem-heavy queries in Query Insights; scale the tier if sustained.",
        "cloud-sql-memory",
    ),
    "disk": Runbook(
        "The database disk is nearly full; writes stop when it is.",
        "Confirm storage auto-increase is on; look for bloated tables or runaway temp files; grow the disk.",
        "cloud-sql-disk",
    ),
    "connections": Runbook(
        "Connections approach max_connections; new connections will be refused.",
        "Look for connection leaks or a pool sized above its share; check instance counts of the Cloud Run services.",
        "cloud-sql-connections",
    ),
    "replica-lag": Runbook(
        "A read replica is behind the primary; reads from it are stale and a failover would lose data.",
        "Check replica CPU and disk I/O and long-running transactions on the primary.",
        "cloud-sql-replica-lag",
    ),
}


def watch_database(
    project: str, instance: str, replicas: Mapping[str, str], max_connections: int, t: CloudSqlAlertsArgs
) -> Watched:
    """`instance` and `replicas` (key -> name) are instance names, known before the instances exist."""
    primary = _where(project, instance)
    charts = tuple(
        Chart(f"Cloud SQL: {what}", metric(primary, METRIC + m), "ALIGN_MEAN", "REDUCE_MAX")
        for what, m in (
            ("CPU", "cpu/utilization"),
            ("memory", "memory/utilization"),
            ("disk", "disk/utilization"),
            ("connections", "postgresql/num_backends"),
        )
    )
    alerts = (*_utilization(primary, t), _connections(primary, max_connections, t))
    if replicas:
        alerts = (*alerts, _replica_lag(project, replicas, t))
    return Watched(key="database", alerts=alerts, charts=charts)


def _where(project: str, instance: str) -> str:
    return f'resource.type="cloudsql_database" AND resource.label.database_id="{project}:{instance}"'


def _utilization(primary: str, t: CloudSqlAlertsArgs) -> list[Alert]:
    duration = f"{t.duration_seconds}s"
    return [
        Alert(
            f"database-{key}",
            f"Cloud SQL: {what} utilization above {limit:.0%}",
            [threshold(f"{what} > {limit:.0%} for {duration}", metric(primary, METRIC + m), limit, duration)],
            RUNBOOK[key],
            "CRITICAL" if key == "disk" else "WARNING",
        )
        for key, what, m, limit in (
            ("cpu", "CPU", "cpu/utilization", t.cpu_utilization),
            ("memory", "memory", "memory/utilization", t.memory_utilization),
            ("disk", "disk", "disk/utilization", t.disk_utilization),
        )
    ]


def _connections(primary: str, max_connections: int, t: CloudSqlAlertsArgs) -> Alert:
    duration = f"{t.duration_seconds}s"
    connections = int(max_connections * t.connections_ratio)
    return Alert(
        "database-connections",
        f"Cloud SQL: connections above {connections} ({t.connections_ratio:.0%} of {max_connections})",
        [
            threshold(
                f"backends > {connections} for {duration}",
                metric(primary, METRIC + "postgresql/num_backends"),
                connections,
                duration,
                reducer="REDUCE_SUM",
            )
        ],
        RUNBOOK["connections"],
    )


def _replica_lag(project: str, replicas: Mapping[str, str], t: CloudSqlAlertsArgs) -> Alert:
    duration = f"{t.duration_seconds}s"
    lag = [
        threshold(
            f"{key} lag > {t.replica_lag_seconds} s for {duration}",
            metric(_where(project, name), METRIC + "replication/replica_lag"),
            t.replica_lag_seconds,
            duration,
        )
        for key, name in sorted(replicas.items())
    ]
    return Alert(
        "database-replica-lag", f"Cloud SQL: replica lag above {t.replica_lag_seconds} s", lag, RUNBOOK["replica-lag"]
    )
