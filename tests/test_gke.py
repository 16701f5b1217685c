"""The Kubernetes runtime of bro-ai as the engine would receive it: a regional private cluster with Workload Identity,
Dataplane V2 and enforced Binary Authorization, node pools from config, per-workload identities, Argo CD behind IAP,
cluster alerts; and one clean line for each config mistake."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

import stack_config
from offline.catalog import facts_of
from offline.engine import Recording, Resource
from offline.estimate import report
from offline.plan import render
from tests.conftest import config_of, program_of, raw_config

STACK = "bro-ai"
CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
POLICY = "gcp:binaryauthorization/policy:Policy"
ALERT = "gcp:monitoring/alertPolicy:AlertPolicy"


def bro() -> Recording:
    return program_of(STACK)


def cluster() -> dict[str, Any]:
    return bro().one(CLUSTER).inputs


def pool(key: str) -> Resource:
    return bro().named(f"gke-{key}")


def parse(raw: dict[str, Any]) -> stack_config.StackConfig:
    return stack_config.parse(raw, stack_file="Pulumi.bro-ai.yaml")


# The cluster -------------------------------------------------------------------------------------------------------


def test_the_cluster_is_regional_in_the_stack_region() -> None:
    assert cluster()["location"] == "us-central1" == config_of(STACK).gcp.region


def test_nodes_are_private_and_the_control_plane_has_no_public_endpoint() -> None:
    inputs = cluster()
    assert inputs["privateClusterConfig"] == {"enablePrivateNodes": True, "enablePrivateEndpoint": True}
    networks = inputs["masterAuthorizedNetworksConfig"]
    assert networks["gcpPublicCidrsAccessEnabled"] is False
    assert networks["privateEndpointEnforcementEnabled"] is True
    assert [b["cidrBlock"] for b in networks["cidrBlocks"]] == ["10.60.0.0/20"]


def test_ci_reaches_the_control_plane_through_the_iam_authorized_dns_endpoint() -> None:
    endpoints = cluster()["controlPlaneEndpointsConfig"]
    assert endpoints["dnsEndpointConfig"]["allowExternalTraffic"] is True
    assert bro().outputs["gke_endpoint"].endswith(".us-central1.gke.goog")


def test_workload_identity_uses_the_project_pool() -> None:
    assert cluster()["workloadIdentityConfig"] == {"workloadPool": "bro-ai-prod.svc.id.goog"}
    (pool_,) = {p["nodeConfig"]["workloadMetadataConfig"]["mode"] for p in (r.inputs for r in bro().of(NODE_POOL))}
    assert pool_ == "GKE_METADATA"


def test_dataplane_v2_enforces_network_policy() -> None:
    inputs = cluster()
    assert inputs["datapathProvider"] == "ADVANCED_DATAPATH"
    assert "networkPolicy" not in inputs  # the Calico add-on is not used alongside Dataplane V2


def test_the_cluster_enforces_the_project_binary_authorization_policy() -> None:
    assert cluster()["binaryAuthorization"] == {"evaluationMode": "PROJECT_SINGLETON_POLICY_ENFORCE"}


def test_release_channel_maintenance_window_and_exclusions_come_from_config() -> None:
    inputs = cluster()
    assert inputs["releaseChannel"] == {"channel": "STABLE"}
    window = inputs["maintenancePolicy"]["recurringWindow"]
    assert window["recurrence"] == "FREQ=WEEKLY;BYDAY=SA,SU"
    assert (window["startTime"], window["endTime"]) == ("2026-01-03T07:00:00Z", "2026-01-03T13:00:00Z")
    (exclusion,) = inputs["maintenancePolicy"]["maintenanceExclusions"]
    assert exclusion["exclusionName"] == "black-friday"
    assert exclusion["exclusionOptions"] == {"scope": "NO_MINOR_OR_NODE_UPGRADES"}


def test_pods_and_services_use_the_network_secondary_ranges_by_name() -> None:
    inputs = cluster()
    assert inputs["networkingMode"] == "VPC_NATIVE"
    assert inputs["ipAllocationPolicy"] == {
        "clusterSecondaryRangeName": "pods",
        "servicesSecondaryRangeName": "services",
    }
    subnet = bro().named("network-gke")
    assert {r["rangeName"] for r in subnet.inputs["secondaryIpRanges"]} == {"pods", "services"}
    assert bro().depends_on(bro().one(CLUSTER), subnet)


def test_managed_prometheus_with_the_configured_metrics_and_logs() -> None:
    inputs = cluster()
    monitoring = inputs["monitoringConfig"]
    assert monitoring["managedPrometheus"] == {"enabled": True}
    assert monitoring["enableComponents"] == config_of(STACK).gke.metrics  # type: ignore[union-attr]
    assert {"SYSTEM_COMPONENTS", "POD"} <= set(monitoring["enableComponents"])  # the alerts read these
    assert inputs["loggingConfig"] == {"enableComponents": ["SYSTEM_COMPONENTS", "WORKLOADS"]}


def test_cost_allocation_and_security_posture_at_the_configured_level() -> None:
    inputs = cluster()
    assert inputs["costManagementConfig"] == {"enabled": True}
    assert inputs["securityPostureConfig"] == {"mode": "BASIC", "vulnerabilityMode": "VULNERABILITY_BASIC"}


def test_the_default_pool_is_removed_and_created_with_the_node_account() -> None:
    inputs = cluster()
    assert inputs["removeDefaultNodePool"] is True
    assert inputs["initialNodeCount"] == 1
    assert inputs["nodeConfig"]["serviceAccount"] == "bro-bro-ai-gke-nodes@bro-ai-prod.iam.gserviceaccount.com"
    assert inputs["nodeConfig"]["shieldedInstanceConfig"]["enableSecureBoot"] is True


def test_the_cluster_is_protected_in_a_protected_stack() -> None:
    resource = bro().one(CLUSTER)
    assert resource.inputs["deletionProtection"] is True
    assert resource.protect is True


def test_nodes_run_as_a_dedicated_account_with_the_minimal_role_and_pull_only_from_the_stack_registry() -> None:
    program = bro()
    account = program.named("gke-nodes").outputs["email"]
    grants = [r for r in program.resources if r.inputs.get("member") == f"serviceAccount:{account}"]
    assert {(r.type, r.inputs["role"]) for r in grants} == {
        ("gcp:projects/iAMMember:IAMMember", "roles/container.defaultNodeServiceAccount"),
        ("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember", "roles/artifactregistry.reader"),
    }
    for node_pool in program.of(NODE_POOL):
        assert node_pool.inputs["nodeConfig"]["serviceAccount"] == account
        assert not node_pool.inputs["nodeConfig"]["serviceAccount"].endswith("-compute@developer.gserviceaccount.com")


# Node pools --------------------------------------------------------------------------------------------------------


def test_pools_come_from_config_keyed_by_name_with_mixed_machine_types() -> None:
    config = config_of(STACK).gke
    assert config is not None
    pools = {r.inputs["name"]: r.inputs for r in bro().of(NODE_POOL)}
    assert set(pools) == set(config.node_pools) == {"general", "spot"}
    for key, args in config.node_pools.items():
        inputs = pools[key]
        assert inputs["location"] == "us-central1"
        assert inputs["autoscaling"]["minNodeCount"] == args.min_nodes
        assert inputs["autoscaling"]["maxNodeCount"] == args.max_nodes
        assert inputs["nodeConfig"]["machineType"] == args.machine_type
        assert inputs["nodeConfig"]["diskSizeGb"] == args.disk_gb
        assert inputs["nodeConfig"]["diskType"] == args.disk_type
    assert len({p["nodeConfig"]["machineType"] for p in pools.values()}) == 2


def test_one_pool_is_spot_and_tainted_the_other_on_demand() -> None:
    spot, general = pool("spot").inputs["nodeConfig"], pool("general").inputs["nodeConfig"]
    assert spot["spot"] is True
    assert spot["taints"] == [{"key": "cloud.google.com/gke-spot", "value": "true", "effect": "NO_SCHEDULE"}]
    assert spot["labels"] == {"workload": "interruptible"}
    assert general["spot"] is False
    assert "taints" not in general


def test_every_pool_is_shielded_auto_repaired_and_auto_upgraded() -> None:
    for node_pool in bro().of(NODE_POOL):
        inputs = node_pool.inputs
        assert inputs["management"] == {"autoRepair": True, "autoUpgrade": True}
        assert inputs["nodeConfig"]["shieldedInstanceConfig"] == {
            "enableSecureBoot": True,
            "enableIntegrityMonitoring": True,
        }


def test_upgrades_are_surge_or_blue_green_as_configured() -> None:
    assert pool("general").inputs["upgradeSettings"] == {"strategy": "SURGE", "maxSurge": 1, "maxUnavailable": 0}
    blue_green = pool("spot").inputs["upgradeSettings"]
    assert blue_green["strategy"] == "BLUE_GREEN"
    assert blue_green["blueGreenSettings"]["nodePoolSoakDuration"] == "1800s"
    assert blue_green["blueGreenSettings"]["standardRolloutPolicy"] == {"batchPercentage": 0.5}


def test_autoscaling_is_not_undone_by_the_next_deploy() -> None:
    for node_pool in bro().of(NODE_POOL):
        assert "initialNodeCount" in node_pool.ignore_changes


# Workload identity -------------------------------------------------------------------------------------------------


def test_each_workload_gets_its_own_account_usable_only_by_its_kubernetes_service_account() -> None:
    program = bro()
    bindings = program.of("gcp:serviceaccount/iAMMember:IAMMember")
    for key, subject in (("api", "bro-ai/api"), ("worker", "bro-ai/worker")):
        account = program.named(f"{key}-sa")
        (binding,) = [b.inputs for b in bindings if b.inputs["serviceAccountId"] == account.outputs["name"]]
        assert binding["role"] == "roles/iam.workloadIdentityUser"  # no other identity may act as them
        assert binding["member"] == f"serviceAccount:bro-ai-prod.svc.id.goog[{subject}]"


def test_the_deployer_may_act_as_the_node_account_and_the_cluster_and_pools_wait_for_it() -> None:
    program = bro()
    nodes = program.named("gke-nodes")
    (grant,) = [
        b
        for b in program.of("gcp:serviceaccount/iAMMember:IAMMember", role="roles/iam.serviceAccountUser")
        if b.inputs["serviceAccountId"] == nodes.outputs["name"]
    ]
    assert grant.inputs["member"] == config_of("bro-ai").deployer
    for resource in [*program.of("gcp:container/cluster:Cluster"), *program.of("gcp:container/nodePool:NodePool")]:
        assert program.depends_on(resource, grant), resource.name


def test_workloads_reach_data_through_the_same_grants_as_cloud_run_services() -> None:
    program = bro()
    api = program.named("api-sa").outputs["member"]
    worker = program.named("worker-sa").outputs["member"]
    secrets = {(r.inputs["member"], r.name) for r in program.of("gcp:secretmanager/secretIamMember:SecretIamMember")}
    assert (api, "api-db-password-accessor") in secrets
    assert (api, "api-redis-auth-accessor") in secrets
    assert (worker, "worker-db-password-accessor") in secrets
    assert not any(member == worker and name.endswith("redis-auth-accessor") for member, name in secrets)
    password = program.named("database-secret-app-secret").outputs["id"]
    assert program.named("api-db-password-accessor").inputs["secretId"] == password
    roles = {(r.inputs["member"], r.inputs["role"]) for r in program.of("gcp:projects/iAMMember:IAMMember")}
    assert (api, "roles/cloudsql.client") in roles
    assert (worker, "roles/cloudsql.client") in roles


def test_workloads_hold_one_object_role_on_each_bucket_they_name_and_on_no_other() -> None:
    program = bro()
    accounts = {key: program.named(f"{key}-sa").outputs["member"] for key in ("api", "worker")}
    names = program.outputs["buckets"]
    grants = {
        (r.inputs["member"], r.inputs["bucket"], r.inputs["role"])
        for r in program.of("gcp:storage/bucketIAMMember:BucketIAMMember")
        if r.inputs["member"] in accounts.values()
    }
    assert grants == {
        (accounts["api"], names["data"], "roles/storage.objectUser"),
        (accounts["api"], names["assets"], "roles/storage.objectCreator"),
        (accounts["worker"], names["data"], "roles/storage.objectUser"),
        (accounts["worker"], names["logs"], "roles/storage.objectCreator"),
    }


def test_a_workload_naming_an_undefined_bucket_names_the_key() -> None:
    raw = raw_config(STACK)
    raw["gke"]["workloads"]["worker"]["buckets"] = {"media": "viewer"}
    with pytest.raises(pulumi.RunError, match=r"gke\.workloads\.worker\.buckets\.media: 'media' is not defined in"):
        stack_config.parse(raw, stack_file="Pulumi.bro-ai.yaml")


def test_workload_accounts_are_exported_for_the_kubernetes_annotation() -> None:
    assert bro().outputs["workload_service_accounts"] == {
        "api": "bro-bro-ai-k8s-api@bro-ai-prod.iam.gserviceaccount.com",
        "worker": "bro-bro-ai-k8s-worker@bro-ai-prod.iam.gserviceaccount.com",
    }


# Binary Authorization ----------------------------------------------------------------------------------------------


def test_the_protected_stack_requires_its_attestor_and_blocks_unsigned_images() -> None:
    rule = bro().one(POLICY).inputs["defaultAdmissionRule"]
    assert rule["evaluationMode"] == "REQUIRE_ATTESTATION"
    assert rule["enforcementMode"] == "ENFORCED_BLOCK_AND_AUDIT_LOG"
    assert rule["requireAttestationsBies"] == [bro().outputs["binauthz_attestor"]]


def test_google_system_images_and_only_the_listed_third_party_images_are_exempt() -> None:
    policy = bro().one(POLICY).inputs
    assert policy["globalPolicyEvaluationMode"] == "ENABLE"
    assert [p["namePattern"] for p in policy["admissionWhitelistPatterns"]] == [
        "quay.io/argoproj/argocd*",
        "ecr-public.aws.com/docker/library/redis*",
    ]


def test_the_attestor_verifies_with_a_kms_signing_key_on_its_own_key_ring() -> None:
    program = bro()
    key = program.named("binauthz-signing-key")
    assert key.inputs["purpose"] == "ASYMMETRIC_SIGN"
    assert key.inputs["versionTemplate"] == {"algorithm": "EC_SIGN_P256_SHA256", "protectionLevel": "HSM"}
    assert key.inputs["keyRing"] == program.named("binauthz-keyring").outputs["id"]
    assert key.protect is True
    note = program.named("binauthz-attestor").inputs["attestationAuthorityNote"]
    assert note["noteReference"] == program.named("binauthz-note").outputs["name"]
    (public_key,) = note["publicKeys"]
    assert public_key["id"] == f"//cloudkms.googleapis.com/v1/{key.outputs['id']}/cryptoKeyVersions/1"
    assert public_key["pkixPublicKey"]["signatureAlgorithm"] == "EC_SIGN_P256_SHA256"


def test_ci_may_sign_and_attach_but_only_on_the_attestor_key_and_note() -> None:
    program = bro()
    signer = "serviceAccount:deployer-bro-ai@bro-ai-prod.iam.gserviceaccount.com"
    grants = {(r.type.split(":")[1], r.inputs["role"]) for r in program.resources if r.inputs.get("member") == signer}
    assert grants == {
        ("kms/cryptoKeyIAMMember", "roles/cloudkms.signerVerifier"),
        ("containeranalysis/noteIamMember", "roles/containeranalysis.notes.attacher"),
        ("binaryauthorization/attestorIamMember", "roles/binaryauthorization.attestorsViewer"),
    }


@pytest.mark.parametrize(
    ("mode", "evaluation", "enforcement"),
    [
        ("dry_run", "REQUIRE_ATTESTATION", "DRYRUN_AUDIT_LOG_ONLY"),
        ("allow", "ALWAYS_ALLOW", "ENFORCED_BLOCK_AND_AUDIT_LOG"),
    ],
)
def test_an_unprotected_stack_may_audit_or_allow_instead(mode: str, evaluation: str, enforcement: str) -> None:
    from components.binauthz import BinaryAuthorization, BinaryAuthorizationArgs
    from offline.engine import run
    from tests.conftest import context_of

    recording = run(
        lambda: BinaryAuthorization("binauthz", BinaryAuthorizationArgs(mode=mode), ctx=context_of(STACK)),  # type: ignore[arg-type]
        stack=STACK,
        project_id="bro-ai-prod",
        region="us-central1",
    )
    rule = recording.one(POLICY).inputs["defaultAdmissionRule"]
    assert (rule["evaluationMode"], rule["enforcementMode"]) == (evaluation, enforcement)
    assert recording.one(POLICY).inputs["globalPolicyEvaluationMode"] == "ENABLE"


# Argo CD and IAP ---------------------------------------------------------------------------------------------------


def test_argo_cd_comes_from_its_pinned_chart_through_the_cluster_provider() -> None:
    program = bro()
    release = program.one("kubernetes:helm.sh/v3:Release")
    assert release.inputs["chart"] == "argo-cd"
    assert release.inputs["version"] == "10.1.1"
    assert release.inputs["repositoryOpts"] == {"repo": "https://argoproj.github.io/argo-helm"}
    assert release.inputs["namespace"] == "argocd"
    assert release.inputs["values"]["configs"]["params"]["server.insecure"] is True  # TLS ends at the load balancer
    assert release.inputs["values"]["server"]["service"]["type"] == "ClusterIP"  # no load balancer of its own


def test_the_kubernetes_provider_uses_the_dns_endpoint_and_a_secret_token() -> None:
    program = bro()
    (provider,) = [r for r in program.resources if r.type == "pulumi:providers:kubernetes"]
    assert provider.inputs["kubeconfig"] == "[secret]"
    kubeconfig = provider.revealed_inputs["kubeconfig"]["value"]
    assert '"server": "https://gke-' in kubeconfig
    assert ".us-central1.gke.goog" in kubeconfig
    assert "certificate-authority-data" not in kubeconfig  # the DNS endpoint's certificate is publicly trusted
    assert "offline-access-token" in kubeconfig


def test_kubernetes_resources_appear_under_the_cluster_in_the_plan_tree() -> None:
    program = bro()
    parents = {r.urn: r.parent for r in program.resources}
    gke = program.named("gke")
    in_cluster = [r for r in program.resources if r.type.startswith("kubernetes:")]
    assert len(in_cluster) >= 9
    for resource in in_cluster:
        ancestors, parent = [], resource.parent
        while parent in parents:
            ancestors.append(parent)
            parent = parents[parent]
        assert gke.urn in ancestors, resource.name


def test_one_application_per_environment_with_manual_sync_in_the_protected_stack() -> None:
    (app,) = bro().of("kubernetes:argoproj.io/v1alpha1:Application")
    spec = app.inputs["spec"]
    assert spec["source"] == {
        "repoURL": "https://github.com/bro-ai/deploy.git",
        "path": "environments/prod",
        "targetRevision": "main",
    }
    assert spec["destination"] == {"server": "https://kubernetes.default.svc", "namespace": "bro-ai"}
    assert "automated" not in spec["syncPolicy"]
    assert bro().depends_on(app, bro().one("kubernetes:helm.sh/v3:Release"))  # the CRD comes with the chart


def test_automated_sync_prunes_and_self_heals_where_config_asks() -> None:
    from components.argocd import ApplicationArgs, ArgoCdArgs, _application

    args = ArgoCdArgs(
        host="argocd.tools.example.com",
        repo_url="https://github.com/acme/deploy.git",
        applications={"staging": ApplicationArgs(path="environments/staging", namespace="app", sync="automated")},
    )
    assert _application(args, args.applications["staging"])["syncPolicy"]["automated"] == {
        "prune": True,
        "selfHeal": True,
    }


def test_argo_cd_ui_is_served_only_through_iap() -> None:
    program = bro()
    (policy,) = program.of("kubernetes:networking.gke.io/v1:GCPBackendPolicy")
    spec = policy.inputs["spec"]
    assert spec["targetRef"] == {"group": "", "kind": "Service", "name": "argocd-server"}
    assert spec["default"]["iap"]["enabled"] is True
    assert spec["default"]["iap"]["clientID"] == "123456789012-broai0internal0tools.apps.googleusercontent.com"
    assert spec["default"]["iap"]["oauth2ClientSecret"] == {"name": "iap-oauth-client"}
    assert policy.inputs["metadata"]["namespace"] == "argocd"
    (route,) = program.of("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute")
    assert route.inputs["spec"]["hostnames"] == ["argocd.tools.bro.example"]
    assert route.inputs["spec"]["rules"] == [{"backendRefs": [{"name": "argocd-server", "port": 80}]}]


def test_every_routed_service_has_iap_in_front() -> None:
    program = bro()
    protected = {
        (p.inputs["metadata"]["namespace"], p.inputs["spec"]["targetRef"]["name"])
        for p in program.of("kubernetes:networking.gke.io/v1:GCPBackendPolicy")
        if p.inputs["spec"]["default"]["iap"]["enabled"] is True
    }
    routed = {
        (r.inputs["metadata"]["namespace"], b["name"])
        for r in program.of("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute")
        for rule in r.inputs["spec"]["rules"]
        for b in rule["backendRefs"]
    }
    assert routed
    assert routed <= protected


def test_the_gateway_is_https_only_and_admits_routes_from_the_tools_namespaces_only() -> None:
    (gateway,) = bro().of("kubernetes:gateway.networking.k8s.io/v1:Gateway")
    spec = gateway.inputs["spec"]
    assert spec["gatewayClassName"] == "gke-l7-global-external-managed"
    (listener,) = spec["listeners"]
    assert (listener["protocol"], listener["port"]) == ("HTTPS", 443)
    assert listener["tls"]["options"]["networking.gke.io/pre-shared-certs"].startswith("bro-bro-ai-tools-")
    namespaces = listener["allowedRoutes"]["namespaces"]
    assert namespaces["from"] == "Selector"
    assert namespaces["selector"]["matchExpressions"] == [
        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["argocd"]}
    ]
    assert spec["addresses"] == [{"type": "NamedAddress", "value": "bro-bro-ai-tools"}]


def test_iap_access_goes_to_the_configured_groups_for_each_tool_host_only() -> None:
    (grant,) = bro().of("gcp:iap/webTypeComputeIamMember:WebTypeComputeIamMember")
    assert grant.inputs["role"] == "roles/iap.httpsResourceAccessor"
    assert grant.inputs["member"] == "group:bro-ai-platform@bro.example"
    assert grant.inputs["condition"]["expression"] == 'request.host == "argocd.tools.bro.example"'


def test_the_oauth_client_secret_reaches_the_cluster_only_as_a_secret() -> None:
    (secret,) = bro().of("kubernetes:core/v1:Secret")
    assert secret.inputs["stringData"] == "[secret]"
    assert secret.inputs["metadata"]["name"] == "iap-oauth-client"
    assert set(secret.revealed_inputs["stringData"]["value"]) == {"key"}


# Alerts and the plan -----------------------------------------------------------------------------------------------


def test_alerts_watch_pool_saturation_restarts_crash_loops_and_pending_pods() -> None:
    program = bro()
    policies = {p.name.removeprefix("observability-"): p.inputs for p in program.of(ALERT)}
    expected = {"gke-pool-general-saturated", "gke-pool-spot-saturated", "gke-pods-restarting"}
    expected |= {"gke-pods-crash-looping", "gke-pods-pending"}
    assert expected <= set(policies)
    channels = program.outputs["notification_channel_ids"]
    for key in expected:
        assert policies[key]["notificationChannels"] == channels, key
    crash = policies["gke-pods-crash-looping"]["conditions"][0]["conditionPrometheusQueryLanguage"]["query"]
    assert 'reason="CrashLoopBackOff"' in crash
    assert 'cluster="bro-bro-ai-gke"' in crash
    pending = policies["gke-pods-pending"]["conditions"][0]["conditionPrometheusQueryLanguage"]["query"]
    assert 'phase="Pending"' in pending
    saturation = policies["gke-pool-spot-saturated"]["conditions"][0]["conditionThreshold"]
    assert '"cloud.google.com/gke-nodepool"="spot"' in saturation["filter"]
    assert saturation["thresholdValue"] == 0.85


def test_the_plan_shows_the_cluster_privacy_channel_and_pools_with_their_scaling() -> None:
    text = render(STACK, bro())
    assert "private nodes True, private endpoint + DNS endpoint (IAM)" in text
    assert "channel STABLE" in text
    assert "n2-standard-4 on-demand, 1-4 nodes per zone" in text
    assert "e2-standard-4 Spot, 0-6 nodes per zone" in text


def test_the_estimates_include_the_cluster() -> None:
    estimates = report.estimate(STACK, bro(), config_of(STACK))
    assert estimates.cost is not None
    items = {(line.resource, line.price): line for line in estimates.cost.lines}
    assert items[("gke-cluster", "gke.cluster")].usd == pytest.approx(73.0)
    assert items[("gke-general", "compute.on_demand.n2-standard-4")].quantity == 3 * 730
    assert items[("gke-spot", "compute.spot.e2-standard-4")].quantity == 0  # its minimum is 0 nodes
    assert estimates.cost.unpriced == ()  # us-central1 has the data tier's prices too
    cluster_, general = facts_of(CLUSTER), facts_of(NODE_POOL)
    assert cluster_ is not None
    assert general is not None
    assert (cluster_.create_seconds, general.create_seconds) == (600, 300)  # ~10 and ~5 minutes
    # Argo CD waits for nodes, so the deploy-time chain runs cluster -> pool -> release.
    assert bro().depends_on(bro().one("kubernetes:helm.sh/v3:Release"), pool("general"))


# Config mistakes: one line naming the key --------------------------------------------------------------------------


def _gke(raw: dict[str, Any]) -> dict[str, Any]:
    gke: dict[str, Any] = raw["gke"]
    return gke


def test_a_secondary_range_that_does_not_exist_names_the_key() -> None:
    raw = raw_config(STACK)
    _gke(raw)["pods_range"] = "pod"
    with pytest.raises(
        pulumi.RunError, match=r"gke\.pods_range: 'pod' is not a secondary range of network\.subnets\.gke"
    ):
        parse(raw)


def test_a_subnet_that_does_not_exist_names_the_key() -> None:
    raw = raw_config(STACK)
    _gke(raw)["subnet"] = "app"
    with pytest.raises(pulumi.RunError, match=r"gke\.subnet: 'app' is not one of network\.subnets"):
        parse(raw)


def test_a_zonal_location_is_refused() -> None:
    raw = raw_config(STACK)
    _gke(raw)["location"] = "us-central1-a"
    with pytest.raises(pulumi.RunError, match=r"gke\.location: 'us-central1-a' is a zone; clusters here are regional"):
        parse(raw)


def test_a_public_control_plane_in_a_protected_stack_is_refused() -> None:
    raw = raw_config(STACK)
    _gke(raw)["control_plane"] = {"private_endpoint": False, "authorized_networks": {"office": "203.0.113.0/24"}}
    with pytest.raises(pulumi.RunError, match=r"gke\.control_plane\.private_endpoint: a protected stack's control"):
        parse(raw)


def test_a_public_control_plane_without_authorized_networks_is_refused() -> None:
    raw = raw_config(STACK)
    raw["protection"] = {"deletion_protection": True, "protect": False}
    _gke(raw)["control_plane"] = {"private_endpoint": False}
    _gke(raw)["argocd"]["applications"]["prod"]["sync"] = "automated"
    with pytest.raises(pulumi.RunError, match=r"gke\.control_plane\.authorized_networks: a public control plane"):
        parse(raw)


def test_min_above_max_names_the_pool() -> None:
    raw = raw_config(STACK)
    _gke(raw)["node_pools"]["general"]["min_nodes"] = 5
    with pytest.raises(
        pulumi.RunError, match=r"gke\.node_pools\.general\.min_nodes: min_nodes \(5\) is above max_nodes"
    ):
        parse(raw)


@pytest.mark.parametrize(
    ("pool", "message"),
    [
        ({"machine_type": "g2-standard-8"}, r"accelerator\.type: g2-standard-8 runs with nvidia-l4 GPUs \(got none\)"),
        (
            {"machine_type": "a2-highgpu-1g", "accelerator": {"type": "nvidia-l4"}},
            r"accelerator\.type: a2-highgpu-1g runs with nvidia-tesla-a100 GPUs \(got nvidia-l4\)",
        ),
        (
            {"machine_type": "e2-standard-4", "accelerator": {"type": "nvidia-tesla-t4"}},
            r"accelerator: e2-standard-4 takes no GPU",
        ),
    ],
)
def test_a_gpu_pool_without_a_matching_accelerator_is_refused(pool: dict[str, Any], message: str) -> None:
    raw = raw_config(STACK)
    _gke(raw)["node_pools"]["gpu"] = {**pool, "min_nodes": 0, "max_nodes": 1}
    with pytest.raises(pulumi.RunError, match=rf"gke\.node_pools\.gpu\.{message}"):
        parse(raw)


def test_a_gpu_pool_with_its_accelerator_is_accepted() -> None:
    raw = raw_config(STACK)
    _gke(raw)["node_pools"]["gpu"] = {"machine_type": "g2-standard-8", "accelerator": {"type": "nvidia-l4"}}
    assert parse(raw).gke.node_pools["gpu"].accelerator is not None  # type: ignore[union-attr]


def test_a_protected_stack_must_enforce_binary_authorization() -> None:
    raw = raw_config(STACK)
    raw["binary_authorization"]["mode"] = "dry_run"
    with pytest.raises(pulumi.RunError, match=r"binary_authorization\.mode: a protected stack runs only images"):
        parse(raw)


def test_a_cluster_needs_an_explicit_binary_authorization_policy() -> None:
    raw = raw_config(STACK)
    del raw["binary_authorization"]
    with pytest.raises(pulumi.RunError, match=r"binary_authorization: a GKE cluster enforces the project's policy"):
        parse(raw)


def test_a_protected_stack_syncs_argo_cd_manually() -> None:
    raw = raw_config(STACK)
    _gke(raw)["argocd"]["applications"]["prod"]["sync"] = "automated"
    with pytest.raises(
        pulumi.RunError, match=r"gke\.argocd\.applications\.prod\.sync: a protected stack syncs manually"
    ):
        parse(raw)


def test_argo_cd_without_iap_is_refused() -> None:
    raw = raw_config(STACK)
    del _gke(raw)["internal_tools"]
    with pytest.raises(pulumi.RunError, match=r"gke\.internal_tools: Argo CD's UI is served only through IAP"):
        parse(raw)


def test_in_cluster_resources_need_an_endpoint_ci_can_reach() -> None:
    raw = raw_config(STACK)
    _gke(raw)["control_plane"]["dns_endpoint"] = False
    with pytest.raises(pulumi.RunError, match=r"gke\.control_plane\.dns_endpoint: Pulumi installs Argo CD"):
        parse(raw)


def test_a_workload_database_must_exist() -> None:
    raw = raw_config(STACK)
    _gke(raw)["workloads"]["api"]["database"] = "orders"
    with pytest.raises(pulumi.RunError, match=r"gke\.workloads\.api\.database: 'orders' is not one of database"):
        parse(raw)


def test_a_basic_role_for_a_workload_is_refused() -> None:
    raw = raw_config(STACK)
    _gke(raw)["workloads"]["api"]["roles"] = ["roles/editor"]
    with pytest.raises(pulumi.RunError, match=r"gke\.workloads\.api\.roles\.0: roles/editor is a basic role"):
        parse(raw)


def test_autopilot_takes_no_node_pools() -> None:
    raw = raw_config(STACK)
    _gke(raw)["mode"] = "autopilot"
    with pytest.raises(pulumi.RunError, match=r"gke\.node_pools: Autopilot provisions nodes itself"):
        parse(raw)


def test_an_allowlist_pattern_with_a_wildcard_in_the_registry_is_refused() -> None:
    raw = raw_config(STACK)
    raw["binary_authorization"]["allowed_images"] = ["*.io/argoproj/argocd"]
    with pytest.raises(pulumi.RunError, match=r"binary_authorization\.allowed_images\.0: '\*\.io/argoproj/argocd'"):
        parse(raw)


def test_an_autopilot_cluster_runs_without_pools_and_with_its_node_account() -> None:
    raw = raw_config(STACK)
    _gke(raw)["mode"] = "autopilot"
    del _gke(raw)["node_pools"]
    config = {
        f"platform:{key}": value if isinstance(value, str) else __import__("json").dumps(value)
        for key, value in raw.items()
    }
    from offline.engine import run_program
    from offline.engine import stack_config as stack_values

    values, _ = stack_values(STACK)
    values.update(config)
    recording = run_program(STACK, config=values)
    inputs = recording.one(CLUSTER).inputs
    assert inputs["enableAutopilot"] is True
    assert recording.of(NODE_POOL) == []
    assert inputs["clusterAutoscaling"]["autoProvisioningDefaults"]["serviceAccount"].startswith(
        "bro-bro-ai-gke-nodes@"
    )
    assert "removeDefaultNodePool" not in inputs
