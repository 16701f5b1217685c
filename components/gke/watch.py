"""What to watch on a GKE cluster: each node pool's saturation, container restarts, crash loops and pending pods, with
charts of the same on the stack's dashboard. Restarts and saturation come from GKE's system metrics; crash loops and
pending pods from the kube state metrics GKE collects through Managed Service for Prometheus (the POD package)."""

from __future__ import annotations

import pulumi_gcp as gcp

from components.observability.config import GkeAlertsArgs
from components.observability.signals import Alert, Chart, Runbook, Watched, metric, threshold

PAGE = "kubernetes.md"
RUNBOOK = {
    "saturation": Runbook(
        "A node pool is nearly out of CPU or memory; new pods will wait for nodes, or fail to schedule at max size.",
        "Check the pool's node count against max_nodes and the biggest requesters (kubectl top pods -A); raise "
        "max_nodes or right-size requests.",
        "node-pool-saturated",
        PAGE,
    ),
    "restarts": Runbook(
        "Containers are restarting: crashes, failed liveness probes or OOM kills.",
        "kubectl get pods -A --sort-by=.status.containerStatuses[0].restartCount; read the previous logs "
        "(kubectl logs --previous) and the last state's reason.",
        "pods-restarting",
        PAGE,
    ),
    "crash-loop": Runbook(
        "A container is in CrashLoopBackOff: it exits right after starting, and Kubernetes backs off restarting it.",
        "kubectl describe pod for the exit code and events; kubectl logs --previous; roll the Argo CD app back.",
        "pods-crash-looping",
        PAGE,
    ),
    "pending": Runbook(
        "Pods cannot be scheduled: no node fits them, even after the autoscaler tried.",
        "kubectl get events --field-selector reason=FailedScheduling; check pool max_nodes, taints and tolerations, "
        "and Spot capacity.",
        "pods-pending",
        PAGE,
    ),
}


def watch_cluster(project: str, cluster: str, pools: list[str], t: GkeAlertsArgs) -> Watched:
    """`cluster` is the physical name, known before the cluster exists; `pools` its node pools' names."""
    duration = f"{t.duration_seconds}s"
    scope = f'resource.label.project_id="{project}" AND resource.label.cluster_name="{cluster}"'
    node = f'resource.type="k8s_node" AND {scope}'
    container = f'resource.type="k8s_container" AND {scope}'
    alerts = (
        *(_saturation(node, pool, t, duration) for pool in pools),
        _restarts(container, cluster, t, duration),
        _crash_loops(cluster, duration),
        _pending(cluster, t, duration),
    )
    return Watched(key="gke", alerts=alerts, charts=_charts(cluster, node, container))


def _restarts(container: str, cluster: str, t: GkeAlertsArgs, duration: str) -> Alert:
    return Alert(
        "gke-pods-restarting",
        f"GKE {cluster}: more than {t.restarts_per_hour} container restarts an hour",
        [
            threshold(
                f"restarts > {t.restarts_per_hour}/h",
                metric(container, "kubernetes.io/container/restart_count"),
                t.restarts_per_hour / 3600,
                duration,
                aligner="ALIGN_RATE",
                reducer="REDUCE_SUM",
            )
        ],
        RUNBOOK["restarts"],
        severity="WARNING",
    )


def _crash_loops(cluster: str, duration: str) -> Alert:
    return Alert(
        "gke-pods-crash-looping",
        f"GKE {cluster}: containers in CrashLoopBackOff",
        [
            _promql(
                "a container waits in CrashLoopBackOff",
                f'sum by (namespace) (kube_pod_container_status_waiting_reason{{cluster="{cluster}", '
                f'reason="CrashLoopBackOff"}}) > 0',
                duration,
            )
        ],
        RUNBOOK["crash-loop"],
    )


def _pending(cluster: str, t: GkeAlertsArgs, duration: str) -> Alert:
    return Alert(
        "gke-pods-pending",
        f"GKE {cluster}: pods pending for {duration}",
        [
            _promql(
                f"pending pods >= {t.pending_pods}",
                f'sum by (namespace) (kube_pod_status_phase{{cluster="{cluster}", phase="Pending"}}) '
                f">= {t.pending_pods}",
                duration,
            )
        ],
        RUNBOOK["pending"],
    )


def _charts(cluster: str, node: str, container: str) -> tuple[Chart, ...]:
    by_pool = ('metadata.user_labels."cloud.google.com/gke-nodepool"',)
    return (
        Chart(
            f"GKE {cluster}: node CPU allocatable utilization",
            metric(node, "kubernetes.io/node/cpu/allocatable_utilization"),
            "ALIGN_MEAN",
            "REDUCE_MEAN",
            by_pool,
        ),
        Chart(
            f"GKE {cluster}: node memory allocatable utilization",
            metric(node, "kubernetes.io/node/memory/allocatable_utilization"),
            "ALIGN_MEAN",
            "REDUCE_MEAN",
            by_pool,
        ),
        Chart(
            f"GKE {cluster}: container restarts",
            metric(container, "kubernetes.io/container/restart_count"),
            "ALIGN_DELTA",
            "REDUCE_SUM",
            ("resource.label.namespace_name",),
        ),
    )


def _saturation(node: str, pool: str, t: GkeAlertsArgs, duration: str) -> Alert:
    where = f'{node} AND metadata.user_labels."cloud.google.com/gke-nodepool"="{pool}"'
    conditions = [
        threshold(
            f"{pool}: mean {what} allocatable utilization > {t.node_utilization:.0%}",
            metric(where, f"kubernetes.io/node/{what}/allocatable_utilization"),
            t.node_utilization,
            duration,
            reducer="REDUCE_MEAN",
        )
        for what in ("cpu", "memory")
    ]
    return Alert(
        f"gke-pool-{pool}-saturated",
        f"GKE node pool {pool}: CPU or memory above {t.node_utilization:.0%} of allocatable",
        conditions,
        RUNBOOK["saturation"],
        severity="WARNING",
    )


def _promql(display_name: str, query: str, duration: str) -> gcp.monitoring.AlertPolicyConditionArgs:
    """A PromQL condition over Managed Service for Prometheus data (kube state metrics)."""
    return gcp.monitoring.AlertPolicyConditionArgs(
        display_name=display_name,
        condition_prometheus_query_language=gcp.monitoring.AlertPolicyConditionConditionPrometheusQueryLanguageArgs(
            query=query, duration=duration, evaluation_interval="60s"
        ),
    )
