"""The GKE cluster: regional and VPC-native with private nodes, Workload Identity, Dataplane V2, shielded nodes,
Binary Authorization enforcement, managed Prometheus and a node service account of its own; Standard node pools from
config, keyed by name."""

from __future__ import annotations

import json
from typing import TypedDict

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as kubernetes
import pulumiverse_time as time

from components.context import StackContext
from components.gke.config import GkeArgs, MaintenanceArgs, NodePoolArgs
from components.gke.watch import watch_cluster
from components.observability.config import GkeAlertsArgs
from components.observability.signals import Watched
from components.refs import NetworkRef, RepositoryRef

container = gcp.container
API = "container.googleapis.com"
# The one project role a node service account needs (logs, metrics, image pulls from gcr/pkg.dev of this project
# are granted on the repository instead).
NODE_ROLE = "roles/container.defaultNodeServiceAccount"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"  # access is IAM's business, not scopes'
AUTH_PLUGIN = "gke-gcloud-auth-plugin"  # the exec credential plugin the Kubernetes provider runs (CI installs it)
DAYS = {day: day[:2] for day in ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")}
WINDOW_EPOCH = "2026-01-03"
# IAM changes typically propagate within two minutes (sometimes seven or more); GKE checks actAs on the node account
# when the cluster or a pool is created, and a create before the grant has propagated is refused.
IAM_PROPAGATION = "120s"  # a Saturday: recurring windows only take their time of day and duration from it


class ClusterControlPlaneInputs(TypedDict):
    private_cluster_config: container.ClusterPrivateClusterConfigArgs
    master_authorized_networks_config: container.ClusterMasterAuthorizedNetworksConfigArgs
    control_plane_endpoints_config: container.ClusterControlPlaneEndpointsConfigArgs


class ClusterObservabilityInputs(TypedDict):
    monitoring_config: container.ClusterMonitoringConfigArgs
    logging_config: container.ClusterLoggingConfigArgs
    cost_management_config: container.ClusterCostManagementConfigArgs
    security_posture_config: container.ClusterSecurityPostureConfigArgs


class ClusterDefaultNodeInputs(TypedDict, total=False):
    remove_default_node_pool: bool
    initial_node_count: int
    node_config: container.ClusterNodeConfigArgs
    cluster_autoscaling: container.ClusterClusterAutoscalingArgs


class GkeCluster(pulumi.ComponentResource):
    """A regional cluster in the stack's region. `provider` talks to its API through the DNS endpoint (or the IP
    endpoint when there is no DNS endpoint) as whoever runs Pulumi, through `gke-gcloud-auth-plugin`; put it on the
    components that create Kubernetes resources, as children of this one."""

    name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    ca_certificate: pulumi.Output[str]
    workload_pool: pulumi.Output[str]
    node_service_account: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: GkeArgs,
        *,
        ctx: StackContext,
        network: NetworkRef,
        repository: RepositoryRef | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:components:GkeCluster", name, None, ctx.component(opts))
        self._name = name
        self._args = args
        self._ctx = ctx
        self.physical_name = ctx.naming.physical("gke", max_length=40)

        self._node_identity(repository)
        self.cluster = self._cluster(network)
        self.node_pools = {key: self._node_pool(key, pool) for key, pool in args.node_pools.items()}
        self._expose()
        self.provider = kubernetes.Provider(
            f"{name}-kubernetes",
            kubeconfig=self._kubeconfig(),
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(self.node_pools.values())),
        )
        self.register_outputs(
            {
                "name": self.name,
                "endpoint": self.endpoint,
                "dns_endpoint": self.dns_endpoint,
                "ca_certificate": self.ca_certificate,
                "workload_pool": self.workload_pool,
            }
        )

    def _node_identity(self, repository: RepositoryRef | None) -> None:
        """The nodes' own account, with the one project role nodes need and pulls from the stack's repository."""
        name, ctx = self._name, self._ctx
        self.node_account = gcp.serviceaccount.Account(
            f"{name}-nodes",
            account_id=ctx.naming.physical("gke-nodes", max_length=30),
            display_name="GKE nodes",
            description="Runs the cluster's nodes: logs, metrics and image pulls only (workloads use their own)",
            opts=ctx.after(self, "iam.googleapis.com"),
        )
        # GKE checks that whoever creates a cluster or node pool running as this account may act as it.
        self.node_act_as = ctx.act_as(self, f"{name}-nodes", self.node_account.name)
        self.node_role = gcp.projects.IAMMember(
            f"{name}-nodes-default-node-sa",
            project=ctx.project,
            role=NODE_ROLE,
            member=self.node_account.member,
            opts=pulumi.ResourceOptions(parent=self),
        )
        # The node account's grants settle before the cluster and its pools name the account: only at their create
        # (the sleep waits when it is created or its triggers change, and passes straight through otherwise).
        self.node_grants_settled = time.Sleep(
            f"{name}-nodes-iam-propagation",
            create_duration=IAM_PROPAGATION,
            triggers={"node_account": self.node_account.email, "deployer": ctx.deployer or ""},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.node_role, *self.node_act_as]),
        )
        self.image_pull = (
            gcp.artifactregistry.RepositoryIamMember(
                f"{name}-nodes-image-pull",
                project=repository.project,
                location=repository.location,
                repository=repository.repository_id,
                role="roles/artifactregistry.reader",
                member=self.node_account.member,
                opts=pulumi.ResourceOptions(parent=self),
            )
            if repository
            else None
        )

    def _expose(self) -> None:
        """The cluster's outputs, each taken from the cluster so that its consumers wait for it."""
        self.name = self.cluster.name
        # The pool exists once a cluster with Workload Identity does: taken from the cluster, so that whoever binds a
        # Kubernetes service account to it waits for the cluster (a binding before then fails: no such pool).
        self.workload_pool = self.cluster.workload_identity_config.apply(
            lambda c: (c.workload_pool if c else None) or ""
        )
        self.ca_certificate = self.cluster.master_auth.apply(
            lambda auth: (auth.cluster_ca_certificate if auth else None) or ""
        )
        self.endpoint = self.cluster.endpoint
        self.dns_endpoint = self.cluster.control_plane_endpoints_config.apply(_dns_endpoint)
        self.node_service_account = self.node_account.email

    def watch(self, thresholds: GkeAlertsArgs) -> Watched:
        return watch_cluster(self._ctx.project, self.physical_name, list(self._args.node_pools), thresholds)

    def _cluster(self, network: NetworkRef) -> container.Cluster:
        args, ctx = self._args, self._ctx
        standard = args.mode == "standard"
        return container.Cluster(
            f"{self._name}-cluster",
            name=self.physical_name,
            location=ctx.region,
            description="Regional private cluster: Workload Identity, Dataplane V2, Binary Authorization",
            enable_autopilot=True if not standard else None,
            network=network.network_id,
            subnetwork=network.subnet_ids[args.subnet],
            networking_mode="VPC_NATIVE",
            ip_allocation_policy=container.ClusterIpAllocationPolicyArgs(
                cluster_secondary_range_name=args.pods_range, services_secondary_range_name=args.services_range
            ),
            **_control_plane(args),
            release_channel=container.ClusterReleaseChannelArgs(channel=args.release_channel),
            maintenance_policy=_maintenance(args.maintenance),
            workload_identity_config=container.ClusterWorkloadIdentityConfigArgs(
                workload_pool=f"{ctx.project}.svc.id.goog"
            ),
            # Dataplane V2 (eBPF, Cilium) enforces NetworkPolicy itself; Autopilot always runs it.
            datapath_provider="ADVANCED_DATAPATH" if standard else None,
            enable_shielded_nodes=True if standard else None,
            binary_authorization=container.ClusterBinaryAuthorizationArgs(
                evaluation_mode="PROJECT_SINGLETON_POLICY_ENFORCE"
            ),
            gateway_api_config=container.ClusterGatewayApiConfigArgs(channel="CHANNEL_STANDARD"),
            **_observability(args),
            **_default_nodes(standard, self.node_account.email),
            deletion_protection=ctx.deletion_protection,
            resource_labels=ctx.labels("gke"),
            opts=pulumi.ResourceOptions.merge(
                ctx.stateful(self, API),
                pulumi.ResourceOptions(
                    depends_on=[self.node_role, *self.node_act_as, self.node_grants_settled],
                    # The default pool's settings matter only at create; it is removed right after.
                    ignore_changes=["nodeConfig", "initialNodeCount"] if standard else [],
                ),
            ),
        )

    def _node_pool(self, key: str, pool: NodePoolArgs) -> container.NodePool:
        ctx = self._ctx
        return container.NodePool(
            f"{self._name}-{key}",
            name=key,
            cluster=self.cluster.id,
            location=ctx.region,
            initial_node_count=pool.min_nodes or None,
            autoscaling=container.NodePoolAutoscalingArgs(
                min_node_count=pool.min_nodes,
                max_node_count=pool.max_nodes,
                # Spot capacity comes where it is free; on-demand nodes spread evenly over the zones.
                location_policy="ANY" if pool.spot else "BALANCED",
            ),
            management=container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            upgrade_settings=_upgrade(pool),
            node_config=_node_config(pool, self.node_account.email, ctx.labels("gke")),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*self.node_act_as, self.node_grants_settled],
                # Autoscaling moves the node count; Pulumi must not move it back.
                ignore_changes=["initialNodeCount"],
                # The pool's name is its key, unique in the cluster: a change GKE cannot make in place (spot, machine
                # type, accelerators, ...) replaces the pool, and a second pool of the same name would be refused
                # ("already exists"), so the old pool goes first; its workloads wait for the new nodes.
                delete_before_replace=True,
            ),
        )

    def _kubeconfig(self) -> pulumi.Output[str]:
        """How Pulumi's Kubernetes provider reaches the cluster: the DNS endpoint, whose certificate is publicly
        trusted, or else the IP endpoint with the cluster's CA; and the credentials of whoever runs Pulumi, fetched at
        each call by `gke-gcloud-auth-plugin` (an exec credential plugin). The kubeconfig holds no credential, so the
        provider's state holds none either and stays the same from one run to the next: a refresh or a destroy hours
        later still authenticates, and a drift check sees no change to the provider."""
        use_dns = self._args.control_plane.dns_endpoint
        return pulumi.Output.all(self.dns_endpoint, self.endpoint, self.ca_certificate).apply(
            lambda v: kubeconfig(self.physical_name, v[0] if use_dns else v[1], None if use_dns else v[2])
        )


def _control_plane(args: GkeArgs) -> ClusterControlPlaneInputs:
    """Private nodes; the IP endpoint open to the configured networks only; the IAM-authorized DNS endpoint."""
    return {
        "private_cluster_config": container.ClusterPrivateClusterConfigArgs(
            enable_private_nodes=True, enable_private_endpoint=args.control_plane.private_endpoint
        ),
        "master_authorized_networks_config": container.ClusterMasterAuthorizedNetworksConfigArgs(
            cidr_blocks=[
                container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(cidr_block=cidr, display_name=key)
                for key, cidr in args.control_plane.authorized_networks.items()
            ],
            gcp_public_cidrs_access_enabled=False,
            private_endpoint_enforcement_enabled=True,
        ),
        "control_plane_endpoints_config": container.ClusterControlPlaneEndpointsConfigArgs(
            dns_endpoint_config=container.ClusterControlPlaneEndpointsConfigDnsEndpointConfigArgs(
                allow_external_traffic=args.control_plane.dns_endpoint
            )
        ),
    }


def _observability(args: GkeArgs) -> ClusterObservabilityInputs:
    """Managed Prometheus with the configured metrics, logs, cost allocation and security posture."""
    return {
        "monitoring_config": container.ClusterMonitoringConfigArgs(
            enable_components=list(args.metrics),
            managed_prometheus=container.ClusterMonitoringConfigManagedPrometheusArgs(enabled=True),
        ),
        "logging_config": container.ClusterLoggingConfigArgs(enable_components=list(args.logs)),
        "cost_management_config": container.ClusterCostManagementConfigArgs(enabled=True),
        # No vulnerability_mode: GKE removed both workload scanning tiers (the registry scans images instead), and
        # left unset the field is whatever GKE keeps, so it never shows as drift.
        "security_posture_config": container.ClusterSecurityPostureConfigArgs(mode=args.security_posture),
    }


def _default_nodes(standard: bool, node_account: pulumi.Output[str]) -> ClusterDefaultNodeInputs:
    """Standard: the default pool is created (GKE requires one), with the node account, then removed. Autopilot: the
    nodes it provisions run as the node account."""
    if standard:
        return {
            "remove_default_node_pool": True,
            "initial_node_count": 1,
            "node_config": container.ClusterNodeConfigArgs(
                service_account=node_account,
                oauth_scopes=[CLOUD_PLATFORM],
                shielded_instance_config=container.ClusterNodeConfigShieldedInstanceConfigArgs(
                    enable_secure_boot=True, enable_integrity_monitoring=True
                ),
            ),
        }
    return {
        "cluster_autoscaling": container.ClusterClusterAutoscalingArgs(
            auto_provisioning_defaults=container.ClusterClusterAutoscalingAutoProvisioningDefaultsArgs(
                service_account=node_account, oauth_scopes=[CLOUD_PLATFORM]
            )
        )
    }


def _node_config(
    pool: NodePoolArgs, node_account: pulumi.Output[str], labels: dict[str, str]
) -> container.NodePoolNodeConfigArgs:
    """COS nodes running as the node account, shielded, serving the GKE metadata server (Workload Identity)."""
    guest = None
    if pool.accelerator:
        guest = [
            container.NodePoolNodeConfigGuestAcceleratorArgs(
                type=pool.accelerator.type,
                count=pool.accelerator.count,
                # GKE installs its default NVIDIA driver; without it (clusters before 1.30.1-gke.1156000 installed
                # none) the nodes come up with GPUs no Pod can use.
                gpu_driver_installation_config=container.NodePoolNodeConfigGuestAcceleratorGpuDriverInstallationConfigArgs(
                    gpu_driver_version="DEFAULT"
                ),
            )
        ]
    return container.NodePoolNodeConfigArgs(
        machine_type=pool.machine_type,
        spot=pool.spot,
        disk_size_gb=pool.disk_gb,
        disk_type=pool.disk_type,
        image_type="COS_CONTAINERD",
        service_account=node_account,
        oauth_scopes=[CLOUD_PLATFORM],
        shielded_instance_config=container.NodePoolNodeConfigShieldedInstanceConfigArgs(
            enable_secure_boot=True, enable_integrity_monitoring=True
        ),
        workload_metadata_config=container.NodePoolNodeConfigWorkloadMetadataConfigArgs(mode="GKE_METADATA"),
        labels=dict(pool.labels) or None,
        taints=[container.NodePoolNodeConfigTaintArgs(key=t.key, value=t.value, effect=t.effect) for t in pool.taints]
        or None,
        guest_accelerators=guest,
        resource_labels=labels,
    )


def _dns_endpoint(config: container.outputs.ClusterControlPlaneEndpointsConfig | None) -> str:
    dns = config.dns_endpoint_config if config else None
    return (dns.endpoint if dns else None) or ""


def kubeconfig(name: str, server: str, ca: str | None) -> str:
    """A kubeconfig whose user is the exec credential plugin gcloud itself writes for GKE (`get-credentials
    --dns-endpoint`): the plugin prints a short-lived token of the caller's Google credentials (gcloud's, which
    google-github-actions/auth and setup-gcloud set in CI) whenever the client needs one."""
    cluster: dict[str, str] = {"server": f"https://{server}"}
    if ca:
        cluster["certificate-authority-data"] = ca
    credentials = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": AUTH_PLUGIN,
        "provideClusterInfo": True,
        "interactiveMode": "Never",
        "installHint": f"gcloud components install {AUTH_PLUGIN} (CI: setup-gcloud with install_components)",
    }
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": cluster}],
            "users": [{"name": "gcloud", "user": {"exec": credentials}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": "gcloud"}}],
            "current-context": name,
        }
    )


def _maintenance(window: MaintenanceArgs) -> container.ClusterMaintenancePolicyArgs:
    end_hour = window.hour + window.hours
    end_day = "03" if end_hour < 24 else "04"
    return container.ClusterMaintenancePolicyArgs(
        recurring_window=container.ClusterMaintenancePolicyRecurringWindowArgs(
            start_time=f"{WINDOW_EPOCH}T{window.hour:02d}:00:00Z",
            end_time=f"{WINDOW_EPOCH[:-2]}{end_day}T{end_hour % 24:02d}:00:00Z",
            recurrence="FREQ=WEEKLY;BYDAY=" + ",".join(DAYS[d] for d in dict.fromkeys(window.days)),
        ),
        maintenance_exclusions=[
            container.ClusterMaintenancePolicyMaintenanceExclusionArgs(
                exclusion_name=key,
                start_time=exclusion.start,
                # Exactly one of the end time and the end-time behaviour.
                end_time=None if exclusion.end == "end_of_support" else exclusion.end,
                exclusion_options=container.ClusterMaintenancePolicyMaintenanceExclusionExclusionOptionsArgs(
                    scope=exclusion.scope,
                    end_time_behavior="UNTIL_END_OF_SUPPORT" if exclusion.end == "end_of_support" else None,
                ),
            )
            for key, exclusion in window.exclusions.items()
        ]
        or None,
    )


def _upgrade(pool: NodePoolArgs) -> container.NodePoolUpgradeSettingsArgs:
    upgrade = pool.upgrade
    if upgrade.strategy == "surge":
        return container.NodePoolUpgradeSettingsArgs(
            strategy="SURGE", max_surge=upgrade.max_surge, max_unavailable=upgrade.max_unavailable
        )
    return container.NodePoolUpgradeSettingsArgs(
        strategy="BLUE_GREEN",
        blue_green_settings=container.NodePoolUpgradeSettingsBlueGreenSettingsArgs(
            node_pool_soak_duration=f"{upgrade.soak_minutes * 60}s",
            standard_rollout_policy=container.NodePoolUpgradeSettingsBlueGreenSettingsStandardRolloutPolicyArgs(
                batch_percentage=upgrade.batch_percentage
            ),
        ),
    )
