"""Kubernetes types: the GKE cluster and its node pools, and what Pulumi creates inside the cluster (namespaces,
secrets, the Argo CD Helm release, Gateway API objects, GKE policies, Argo CD Applications)."""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING

import pulumi_gcp as gcp
import pulumi_kubernetes as kubernetes

from components.kubernetes_objects import Application, BackendPolicy, Gateway, HealthCheckPolicy, HttpRoute
from offline.catalog.facts import Facts, Inputs, MockContext, inputs_only, named
from offline.estimate.pricing import HOURS, Context, UnpricedError, Usage

if TYPE_CHECKING:
    from offline.engine import Resource

ON_THE_NODES = "runs on the cluster's nodes, which are priced per node pool"
IN_THE_CLUSTER = "a Kubernetes object: stored by the control plane, whose fee is the cluster's"
ZONES = 3  # a regional cluster's nodes run in three of the region's zones; pool sizes are per zone
AUTOPILOT = "autopilot"


def _cluster(c: MockContext, name: str, i: Inputs) -> Inputs:
    cluster = named(i, name)
    location = i.get("location") or c.region
    digest = hashlib.sha256(f"{c.project}/{location}/{cluster}".encode()).hexdigest()
    certificate = f"-----BEGIN CERTIFICATE-----\nMIIfake{digest[:32]}\n-----END CERTIFICATE-----\n"
    return {
        "id": f"projects/{c.project}/locations/{location}/clusters/{cluster}",
        "name": cluster,
        "endpoint": c.fake_ip(cluster, "172.16.0.0/28"),
        "selfLink": f"https://container.googleapis.com/v1/projects/{c.project}/locations/{location}/clusters/{cluster}",
        "masterAuth": {"clusterCaCertificate": base64.b64encode(certificate.encode()).decode()},
        "controlPlaneEndpointsConfig": {
            **(i.get("controlPlaneEndpointsConfig") or {}),
            "dnsEndpointConfig": {
                **((i.get("controlPlaneEndpointsConfig") or {}).get("dnsEndpointConfig") or {}),
                "endpoint": f"gke-{digest[:32]}.{location}.gke.goog",
            },
        },
    }


def _node_pool(c: MockContext, name: str, i: Inputs) -> Inputs:
    return {"id": f"{i.get('cluster')}/nodePools/{named(i, name)}", "name": named(i, name)}


def _mode(i: Inputs) -> str:
    return AUTOPILOT if i.get("enableAutopilot") else "standard"


def _cluster_summary(i: Inputs) -> str:
    private = i.get("privateClusterConfig") or {}
    dns = ((i.get("controlPlaneEndpointsConfig") or {}).get("dnsEndpointConfig") or {}).get("allowExternalTraffic")
    networks = [b.get("displayName") for b in (i.get("masterAuthorizedNetworksConfig") or {}).get("cidrBlocks") or []]
    endpoint = "private endpoint" if private.get("enablePrivateEndpoint") else "PUBLIC endpoint"
    monitoring = i.get("monitoringConfig") or {}
    msp = "on" if (monitoring.get("managedPrometheus") or {}).get("enabled") else "off"
    return (
        f"{_mode(i)} in {i.get('location')}, private nodes {bool(private.get('enablePrivateNodes'))}, {endpoint}"
        f"{' + DNS endpoint (IAM)' if dns else ''}, authorized {', '.join(networks) or 'none'}, channel "
        f"{(i.get('releaseChannel') or {}).get('channel')}, datapath {i.get('datapathProvider') or 'Autopilot'}, "
        f"workload pool {(i.get('workloadIdentityConfig') or {}).get('workloadPool')}, Binary Authorization "
        f"{(i.get('binaryAuthorization') or {}).get('evaluationMode')}, managed Prometheus {msp}, "
        f"deletion protection {i.get('deletionProtection')}"
    )


def _pool_summary(i: Inputs) -> str:
    config = i.get("nodeConfig") or {}
    scaling = i.get("autoscaling") or {}
    upgrade = (i.get("upgradeSettings") or {}).get("strategy")
    taints = [f"{t['key']}={t['value']}:{t['effect']}" for t in config.get("taints") or []]
    gpus = [f"{g['count']}x {g['type']}" for g in config.get("guestAccelerators") or []]
    return (
        f"{config.get('machineType')} {'Spot' if config.get('spot') else 'on-demand'}, "
        f"{scaling.get('minNodeCount')}-{scaling.get('maxNodeCount')} nodes per zone, "
        f"{config.get('diskSizeGb')} GB {config.get('diskType')}, upgrades {upgrade}"
        + (f", GPUs {' '.join(gpus)}" if gpus else "")
        + (f", taints {' '.join(taints)}" if taints else "")
    )


def _cluster_price(r: Resource, ctx: Context) -> list[Usage]:
    """The management fee of every cluster (the free tier's credit covers zonal and Autopilot clusters only, and one
    per billing account: not counted). Autopilot bills the Pods' requests: the profile's vCPUs and memory."""
    usages = [Usage("cluster management fee", "gke.cluster", HOURS)]
    if _mode(r.inputs) == AUTOPILOT:
        profile = ctx.profile
        vcpus, memory = profile.gke_autopilot_vcpus, profile.gke_autopilot_memory_gib
        usages.append(Usage(f"{vcpus:g} vCPU of Pod requests", "gke.autopilot.vcpu", vcpus * HOURS))
        usages.append(Usage(f"{memory:g} GiB of Pod requests", "gke.autopilot.memory", memory * HOURS))
    return usages


def _pool_price(r: Resource, ctx: Context) -> list[Usage]:
    """The pool's minimum, which always runs: `min_nodes` per zone in three zones, with their boot disks. What the
    autoscaler adds above it depends on load and is not estimated."""
    config = r.inputs.get("nodeConfig") or {}
    machine = str(config.get("machineType") or "")
    minimum = int((r.inputs.get("autoscaling") or {}).get("minNodeCount") or 0) * ZONES
    if not machine:
        raise UnpricedError("a node pool without a machine type")
    kind = "spot" if config.get("spot") else "on_demand"
    what = f"{minimum} {machine} {'Spot ' if kind == 'spot' else ''}nodes (minimum, {ZONES} zones)"
    disk_gb = int(config.get("diskSizeGb") or 100) * minimum
    return [
        Usage(what, f"compute.{kind}.{machine}", minimum * HOURS),
        Usage(f"{disk_gb} GB {config.get('diskType')} boot disks", f"disk.{config.get('diskType')}", disk_gb),
    ]


def _release_summary(i: Inputs) -> str:
    repository = (i.get("repositoryOpts") or {}).get("repo")
    return f"{i.get('chart')} {i.get('version')} from {repository} into {i.get('namespace')}"


def _application_summary(i: Inputs) -> str:
    spec = i.get("spec") or {}
    source, destination = spec.get("source") or {}, spec.get("destination") or {}
    sync = "automated" if (spec.get("syncPolicy") or {}).get("automated") else "manual"
    where = f"{source.get('repoURL')} {source.get('path')}@{source.get('targetRevision')}"
    return f"{where} -> {destination.get('namespace')}, sync {sync}"


def _backend_policy_summary(i: Inputs) -> str:
    spec = i.get("spec") or {}
    iap = (spec.get("default") or {}).get("iap") or {}
    return f"IAP {'on' if iap.get('enabled') else 'OFF'} for Service {(spec.get('targetRef') or {}).get('name')}"


def _route_summary(i: Inputs) -> str:
    spec = i.get("spec") or {}
    backends = [f"{b['name']}:{b['port']}" for rule in spec.get("rules") or [] for b in rule.get("backendRefs") or []]
    return f"{', '.join(spec.get('hostnames') or [])} -> {', '.join(backends)}"


def _gateway_summary(i: Inputs) -> str:
    spec = i.get("spec") or {}
    listeners = [f"{item['protocol']}:{item['port']}" for item in spec.get("listeners") or []]
    return f"{spec.get('gatewayClassName')} on {', '.join(listeners)}"


def _metadata(i: Inputs) -> str:
    metadata = i.get("metadata") or {}
    return f"{metadata.get('namespace') or ''}/{metadata.get('name')}".lstrip("/")


RECORDS = (
    Facts(
        gcp.container.Cluster,
        outputs=_cluster,
        summary=_cluster_summary,
        create_seconds=600,
        price=_cluster_price,
        label=lambda i: f"GKE {_mode(i)} {i.get('location')}",
    ),
    Facts(
        gcp.container.NodePool,
        outputs=_node_pool,
        summary=_pool_summary,
        create_seconds=300,
        price=_pool_price,
    ),
    Facts(
        kubernetes.helm.v3.Release,
        outputs=lambda c, name, i: {
            "id": f"{i.get('namespace')}/{named(i, name)}",
            "status": {"status": "deployed", "namespace": i.get("namespace")},
        },
        summary=_release_summary,
        create_seconds=180,
        free=ON_THE_NODES,
        label=lambda i: f"Helm {i.get('chart')} {i.get('version')}",
    ),
    Facts(
        kubernetes.core.v1.Namespace,
        outputs=inputs_only,
        summary=_metadata,
        create_seconds=2,
        free=IN_THE_CLUSTER,
    ),
    Facts(
        kubernetes.core.v1.Secret,
        outputs=inputs_only,
        summary=lambda i: f"{_metadata(i)} ({i.get('type')}): its data is a Pulumi secret",
        create_seconds=2,
        free=IN_THE_CLUSTER,
    ),
    Facts(
        Gateway,
        outputs=inputs_only,
        summary=_gateway_summary,
        create_seconds=300,
        # GKE's Gateway controller creates a load balancer for it: its forwarding rule counts towards the project's
        # flat first five; the data it processes is not estimated.
        price=lambda r, ctx: [Usage("forwarding rule of its load balancer", "lb.forwarding_rule", HOURS)],
    ),
    Facts(HttpRoute, outputs=inputs_only, summary=_route_summary, create_seconds=5, free=IN_THE_CLUSTER),
    Facts(BackendPolicy, outputs=inputs_only, summary=_backend_policy_summary, create_seconds=5, free=IN_THE_CLUSTER),
    Facts(
        HealthCheckPolicy,
        outputs=inputs_only,
        summary=lambda i: str(((i.get("spec") or {}).get("default") or {}).get("config")),
        create_seconds=5,
        free=IN_THE_CLUSTER,
    ),
    Facts(Application, outputs=inputs_only, summary=_application_summary, create_seconds=5, free=ON_THE_NODES),
)
