"""`platform:gke`: a regional GKE cluster (Standard with node pools keyed by name, or Autopilot), how its control plane
is reached, its maintenance, what it sends to Cloud Monitoring, and the security features it runs with."""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from components.argocd import ArgoCdArgs
from components.config_types import Hour, Key, Model, Weekday, invalid
from components.internal_tools import InternalToolsArgs
from components.workload_identity import WorkloadArgs

Mode = Literal["standard", "autopilot"]
ReleaseChannel = Literal["RAPID", "REGULAR", "STABLE", "EXTENDED"]
# GKE's components that export metrics and logs (the SDK's `monitoring_config` / `logging_config` docstrings).
MetricsComponent = Literal[
    "SYSTEM_COMPONENTS",
    "APISERVER",
    "SCHEDULER",
    "CONTROLLER_MANAGER",
    "STORAGE",
    "HPA",
    "POD",
    "DAEMONSET",
    "DEPLOYMENT",
    "STATEFULSET",
    "KUBELET",
    "CADVISOR",
    "DCGM",
]
LogsComponent = Literal["SYSTEM_COMPONENTS", "APISERVER", "CONTROLLER_MANAGER", "SCHEDULER", "WORKLOADS"]
# The pending-pods and crash-loop alerts read kube state metrics, which GKE collects for the POD package.
ALERT_METRICS: tuple[MetricsComponent, ...] = ("SYSTEM_COMPONENTS", "POD")
DiskType = Literal["pd-balanced", "pd-ssd", "pd-standard", "hyperdisk-balanced"]
MachineType = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9]*-[a-z0-9-]+$")]
LabelValue = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9_.-]{0,61}[a-z0-9])?$")]
LabelKey = Annotated[str, StringConstraints(pattern=r"^([a-z0-9.-]+/)?[a-z0-9]([a-z0-9_.-]{0,61}[a-z0-9])?$")]
Timestamp = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")]


def _exclusion_end(value: str) -> str:
    if value != "end_of_support" and not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", value):
        raise ValueError(
            f"'{value}' is neither a date and time (RFC 3339 UTC, like 2026-12-01T00:00:00Z) nor end_of_support"
        )
    return value


ExclusionEnd = Annotated[str, AfterValidator(_exclusion_end)]
_ZONE = re.compile(r"^[a-z]+-[a-z]+\d+-[a-z]$")
NO_UPGRADES_MAX_DAYS = 30  # GKE's limit on an exclusion of every upgrade (patches included)

# Accelerator-optimized machine families come with their GPU type; N1 takes the listed GPUs; no other family takes one.
GPU_OF_FAMILY = {
    "a2-highgpu": ("nvidia-tesla-a100",),
    "a2-megagpu": ("nvidia-tesla-a100",),
    "a2-ultragpu": ("nvidia-a100-80gb",),
    "a3-highgpu": ("nvidia-h100-80gb",),
    "a3-megagpu": ("nvidia-h100-mega-80gb",),
    "g2-standard": ("nvidia-l4",),
}
N1_GPUS = ("nvidia-tesla-t4", "nvidia-tesla-p4", "nvidia-tesla-v100", "nvidia-tesla-p100")


def _cidr(value: str) -> str:
    try:
        network = ipaddress.ip_network(value)
    except ValueError:
        raise ValueError(f"'{value}' is not a CIDR range like 203.0.113.0/24") from None
    if network.version != 4:
        raise ValueError(f"'{value}' is not an IPv4 range")
    return value


AuthorizedCidr = Annotated[str, AfterValidator(_cidr)]  # private or public: a public endpoint admits office ranges


def required_gpus(machine_type: str) -> tuple[str, ...] | None:
    """The GPU types `machine_type` runs with: a fixed type for accelerator-optimized families, N1's options, or None
    when the machine takes no GPU."""
    family = machine_type.rsplit("-", 1)[0]
    if family in GPU_OF_FAMILY:
        return GPU_OF_FAMILY[family]
    return N1_GPUS if machine_type.startswith("n1-") else None


class ControlPlaneArgs(Model):
    """Who reaches the Kubernetes API. Nodes always reach it; everyone else only from `authorized_networks`."""

    private_endpoint: bool = True  # no public IP endpoint: the IP endpoint answers only inside the VPC
    # The DNS-based endpoint: reachable through Google's network with IAM-authorized credentials only. Pulumi uses it
    # from CI, which is outside the VPC, to install what runs inside the cluster.
    dns_endpoint: bool = True
    authorized_networks: dict[Key, AuthorizedCidr] = {}

    @model_validator(mode="after")
    def _reachable_only_where_allowed(self) -> ControlPlaneArgs:
        if not self.private_endpoint and not self.authorized_networks:
            invalid(
                "authorized_networks",
                "a public control plane endpoint needs authorized_networks, or anyone on the internet may try it; "
                "list the ranges that run kubectl, or set private_endpoint: true",
            )
        if self.private_endpoint:
            for key, cidr in self.authorized_networks.items():
                if not ipaddress.ip_network(cidr).is_private:
                    invalid(
                        f"authorized_networks.{key}",
                        f"{cidr} is a public range and the endpoint is private; it can never reach it. Use the "
                        "VPC ranges that run kubectl, or the DNS endpoint",
                    )
        return self


class ExclusionArgs(Model):
    """A period without automatic upgrades (a launch, the busiest weeks of the year). Exclusions are dated: add one
    before the period and remove it once it has ended (nothing here compares it with today's date, so the same stack
    file plans the same way on any day)."""

    start: Timestamp  # RFC 3339 UTC, like 2026-11-20T00:00:00Z
    # RFC 3339 UTC; or `end_of_support`: until the cluster's minor version leaves support (no date to outlive, for
    # "no minor upgrades until we choose"; not for NO_UPGRADES)
    end: ExclusionEnd
    scope: Literal["NO_UPGRADES", "NO_MINOR_UPGRADES", "NO_MINOR_OR_NODE_UPGRADES"] = "NO_MINOR_OR_NODE_UPGRADES"

    @model_validator(mode="after")
    def _ordered(self) -> ExclusionArgs:
        if self.end == "end_of_support":
            if self.scope == "NO_UPGRADES":
                invalid("end", "a NO_UPGRADES exclusion lasts at most 30 days; give it an end date")
            _instant("start", self.start)
            return self
        start, end = _instant("start", self.start), _instant("end", self.end)
        if end <= start:
            invalid("end", f"{self.end} is not after start ({self.start})")
        days = (end - start).total_seconds() / 86400
        if self.scope == "NO_UPGRADES" and days > NO_UPGRADES_MAX_DAYS:
            invalid(
                "end",
                f"a NO_UPGRADES exclusion lasts at most {NO_UPGRADES_MAX_DAYS} days (this one {days:g}); shorten it, "
                "or use NO_MINOR_UPGRADES or NO_MINOR_OR_NODE_UPGRADES, which may last until the end of the minor "
                "version's support",
            )
        return self


def _instant(key: str, value: str) -> datetime:
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        invalid(key, f"{value} is not a date and time (RFC 3339 UTC, like 2026-11-20T00:00:00Z)")


class MaintenanceArgs(Model):
    """A weekly window: GKE needs windows of at least 4 hours adding up to 48 hours in any 32 days (6 hours on 2
    days a week, as the defaults)."""

    days: list[Weekday] = Field(["SATURDAY", "SUNDAY"], min_length=1)
    hour: Hour = 2  # UTC start
    hours: int = Field(6, ge=4, le=24)
    exclusions: dict[Key, ExclusionArgs] = {}

    @model_validator(mode="after")
    def _enough_time(self) -> MaintenanceArgs:
        if len(set(self.days)) * self.hours * 4 < 48:
            invalid("hours", "GKE needs at least 48 hours of maintenance windows in 32 days; add days or hours")
        return self


class TaintArgs(Model):
    key: LabelKey
    value: LabelValue
    effect: Literal["NO_SCHEDULE", "PREFER_NO_SCHEDULE", "NO_EXECUTE"] = "NO_SCHEDULE"


class AcceleratorArgs(Model):
    type: Annotated[str, StringConstraints(pattern=r"^nvidia-[a-z0-9-]+$")]
    count: int = Field(1, ge=1, le=16)


class UpgradeArgs(Model):
    """Surge adds nodes before draining old ones; blue-green keeps the old pool until the new one has soaked."""

    strategy: Literal["surge", "blue_green"] = "surge"
    max_surge: int = Field(1, ge=0, le=100)
    max_unavailable: int = Field(0, ge=0, le=100)
    soak_minutes: int = Field(30, ge=0, le=10080)  # blue-green: how long the old pool stays after the switch
    batch_percentage: float = Field(0.25, gt=0, le=1)  # blue-green: share of nodes drained at a time

    @model_validator(mode="after")
    def _makes_progress(self) -> UpgradeArgs:
        if self.strategy == "surge" and self.max_surge == 0 and self.max_unavailable == 0:
            invalid("max_surge", "surge upgrades need max_surge or max_unavailable above 0, or they never progress")
        return self


class NodePoolArgs(Model):
    machine_type: MachineType = "e2-standard-4"
    spot: bool = False  # Spot VMs: much cheaper, reclaimed at any time; taint them for workloads that tolerate it
    min_nodes: int = Field(1, ge=0, le=1000)  # per zone
    max_nodes: int = Field(3, ge=1, le=1000)  # per zone
    disk_gb: int = Field(100, ge=10, le=65536)
    disk_type: DiskType = "pd-balanced"
    labels: dict[LabelKey, LabelValue] = {}
    taints: list[TaintArgs] = []
    accelerator: AcceleratorArgs | None = None
    upgrade: UpgradeArgs = UpgradeArgs()

    @model_validator(mode="after")
    def _consistent(self) -> NodePoolArgs:
        if self.min_nodes > self.max_nodes:
            invalid("min_nodes", f"min_nodes ({self.min_nodes}) is above max_nodes ({self.max_nodes})")
        gpus = required_gpus(self.machine_type)
        got = self.accelerator.type if self.accelerator else None
        if gpus is None and got is not None:
            invalid(
                "accelerator",
                f"{self.machine_type} takes no GPU; use an accelerator-optimized type (g2, a2, a3) or n1 with a GPU",
            )
        needed = gpus is not None and not self.machine_type.startswith("n1-")
        if gpus is not None and (got is not None or needed) and got not in gpus:
            invalid("accelerator.type", f"{self.machine_type} runs with {' or '.join(gpus)} GPUs (got {got or 'none'})")
        return self


class GkeArgs(Model):
    """`platform:gke`: a regional cluster in the stack's region on the Network's subnet and secondary ranges."""

    mode: Mode = "standard"
    location: str | None = None  # the stack's region; a zone is refused (regional control plane and nodes)
    subnet: Key  # the Network subnet the nodes use
    pods_range: Key  # that subnet's secondary range for Pods
    services_range: Key  # that subnet's secondary range for Services
    release_channel: ReleaseChannel = "REGULAR"
    control_plane: ControlPlaneArgs = ControlPlaneArgs()
    maintenance: MaintenanceArgs = MaintenanceArgs()
    metrics: list[MetricsComponent] = ["SYSTEM_COMPONENTS", "POD", "DEPLOYMENT", "HPA"]
    logs: list[LogsComponent] = ["SYSTEM_COMPONENTS", "WORKLOADS"]
    # Kubernetes security posture: workload configuration auditing. Workload vulnerability scanning is gone from GKE
    # (both tiers removed); images are scanned in Artifact Registry instead (registry.vulnerability_scanning).
    security_posture: Literal["DISABLED", "BASIC", "ENTERPRISE"] = "BASIC"
    node_pools: dict[Key, NodePoolArgs] = {}  # Standard only; Autopilot provisions nodes itself
    workloads: dict[Key, WorkloadArgs] = {}  # Workload Identity: a Google service account per Kubernetes one
    internal_tools: InternalToolsArgs | None = None  # web tools served only through Identity-Aware Proxy
    argocd: ArgoCdArgs | None = None  # GitOps: Argo CD and one Application per environment

    @model_validator(mode="before")
    @classmethod
    def _removed_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and "vulnerability_scanning" in data:
            invalid(
                "vulnerability_scanning",
                "GKE removed workload vulnerability scanning (its standard tier in 2025, Advanced Vulnerability "
                "Insights in 2026) and refuses to enable it; remove the key: Artifact Analysis scans the images in "
                "the stack's registry (registry.vulnerability_scanning)",
            )
        return data

    @model_validator(mode="after")
    def _consistent(self) -> GkeArgs:
        if self.location is not None and _ZONE.match(self.location):
            invalid(
                "location",
                f"'{self.location}' is a zone; clusters here are regional (a control plane and nodes in every zone "
                "of the region): use the region or leave location out",
            )
        if self.mode == "standard" and not self.node_pools:
            invalid("node_pools", "a standard cluster needs at least one node pool (the default pool is removed)")
        if self.mode == "autopilot" and self.node_pools:
            invalid("node_pools", "Autopilot provisions nodes itself; remove node_pools or use mode: standard")
        if self.argocd is not None and self.internal_tools is None:
            invalid("internal_tools", "Argo CD's UI is served only through IAP; configure gke.internal_tools")
        if self.argocd is not None and self.internal_tools and "argocd" in self.internal_tools.tools:
            invalid("internal_tools.tools.argocd", "Argo CD's UI is added from gke.argocd.host; remove this entry")
        in_cluster = self.argocd is not None or self.internal_tools is not None
        if in_cluster and self.control_plane.private_endpoint and not self.control_plane.dns_endpoint:
            invalid(
                "control_plane.dns_endpoint",
                "Pulumi installs Argo CD and the IAP policies from CI, outside the VPC, and the IP endpoint is "
                "private; set dns_endpoint: true (IAM-authorized) or run deploys from inside the VPC without them",
            )
        subjects = [w.subject for w in self.workloads.values()]
        repeated = sorted({s for s in subjects if subjects.count(s) > 1})
        if repeated:
            invalid("workloads", f"{repeated[0]} is mapped twice; one Google service account per Kubernetes one")
        missing = [c for c in ALERT_METRICS if c not in self.metrics]
        if missing:
            invalid("metrics", f"the cluster alerts need {', '.join(missing)}; add them")
        return self
