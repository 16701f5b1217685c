"""The plan's security summary: each list catches what it is about (built with the provider SDK on the mock engine, so
the inputs are the ones the engine receives), leaves out its look-alikes, and the stacks say what they expose."""

from __future__ import annotations

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_gcp as gcp
import pytest

from offline import security
from offline.catalog.facts import token_of
from offline.engine import Recording, run
from tests.conftest import program_of

LABELS = {"environment": "dev", "managed-by": "pulumi", "cost-center": "x", "component": "x"}


def listed(recording: Recording, category: str, *, protect: bool = False) -> dict[str, str]:
    return {f.resource: f.what for f in security.findings(recording, protect=protect)[category]}


def test_the_summary_reads_the_types_the_provider_registers() -> None:
    tokens = {
        security.ADDRESS: gcp.compute.Address,
        security.GLOBAL_ADDRESS: gcp.compute.GlobalAddress,
        security.FORWARDING_RULE: gcp.compute.ForwardingRule,
        security.GLOBAL_FORWARDING_RULE: gcp.compute.GlobalForwardingRule,
        security.FIREWALL: gcp.compute.Firewall,
        security.INSTANCE: gcp.compute.Instance,
        security.INSTANCE_TEMPLATE: gcp.compute.InstanceTemplate,
        security.SQL_INSTANCE: gcp.sql.DatabaseInstance,
        security.RUN_SERVICE: gcp.cloudrunv2.Service,
        security.GKE_CLUSTER: gcp.container.Cluster,
        security.DNS_RECORD: cloudflare.DnsRecord,
        security.WORKER_DOMAIN: cloudflare.WorkersCustomDomain,
        security.WORKER_ROUTE: cloudflare.WorkersRoute,
    }
    assert {token: token_of(cls) for token, cls in tokens.items()} == {token: token for token in tokens}
    wide = {gcp.projects.IAMMember, gcp.projects.IAMBinding, gcp.projects.IAMPolicy, gcp.folder.IAMMember}
    assert {token_of(cls) for cls in wide} <= security.WIDE_GRANTS
    assert {token_of(gcp.compute.Disk), token_of(gcp.compute.RegionDisk)} == security.DISKS


def test_public_ips_are_listed_and_internal_addresses_are_not() -> None:
    def program() -> None:
        gcp.compute.Address("egress", name="egress", region="europe-west1")  # EXTERNAL by default
        gcp.compute.Address("internal", name="internal", region="europe-west1", address_type="INTERNAL")
        gcp.compute.GlobalAddress("psa", name="psa", purpose="VPC_PEERING", address_type="INTERNAL", prefix_length=16)
        gcp.sql.DatabaseInstance(
            "public-db",
            database_version="POSTGRES_16",
            settings=gcp.sql.DatabaseInstanceSettingsArgs(tier="db-f1-micro"),  # ipv4 on by default
        )
        gcp.sql.DatabaseInstance(
            "private-db",
            database_version="POSTGRES_16",
            settings=gcp.sql.DatabaseInstanceSettingsArgs(
                tier="db-f1-micro",
                ip_configuration=gcp.sql.DatabaseInstanceSettingsIpConfigurationArgs(
                    ipv4_enabled=False, private_network="vpc"
                ),
            ),
        )

    found = listed(run(program), security.PUBLIC_IPS)
    assert set(found) == {"egress", "public-db"}
    assert "static external address" in found["egress"]
    assert "public IPv4" in found["public-db"]


def test_grants_to_all_users_are_listed_wherever_the_member_sits() -> None:
    def program() -> None:
        gcp.cloudrunv2.ServiceIamMember(
            "open", name="site", location="europe-west1", role="roles/run.invoker", member="allUsers"
        )
        gcp.storage.BucketIAMBinding(
            "readers", bucket="assets", role="roles/storage.objectViewer", members=["allAuthenticatedUsers"]
        )
        gcp.cloudrunv2.ServiceIamMember(
            "private", name="api", location="europe-west1", role="roles/run.invoker", member="serviceAccount:a@b"
        )

    found = listed(run(program), security.PUBLIC_GRANTS)
    assert found == {
        "open": "allUsers granted roles/run.invoker on site",
        "readers": "allAuthenticatedUsers granted roles/storage.objectViewer on assets (readable directly from Cloud "
        "Storage as well as through Cloud CDN)",
    }


def test_prod_lists_the_bucket_cloud_cdn_serves_as_readable_by_anyone() -> None:
    program = program_of("prod")
    (static,) = [b for b in program.of("gcp:storage/bucket:Bucket") if b.inputs["labels"].get("exposure") == "cdn"]
    found = security.findings(program, protect=True)[security.PUBLIC_GRANTS]
    assert {f.resource: f.what for f in found if f.type == "gcp:storage/bucketIAMMember:BucketIAMMember"} == {
        "lb-static-cdn-reader": f"allUsers granted roles/storage.objectViewer on {static.outputs['name']} (readable "
        "directly from Cloud Storage as well as through Cloud CDN)"
    }


def test_project_wide_role_grants_are_listed_and_grants_on_one_resource_are_not() -> None:
    def program() -> None:
        gcp.projects.IAMMember("editor", project="acme", role="roles/editor", member="user:ops@example.com")
        gcp.storage.BucketIAMMember("writer", bucket="b", role="roles/storage.objectCreator", member="user:x@y")

    found = listed(run(program), security.WIDE)
    assert found == {"editor": "roles/editor to user:ops@example.com on acme"}


def test_resources_without_deletion_protection_are_listed_only_in_a_protected_stack() -> None:
    def program() -> None:
        gcp.storage.Bucket("loose", location="EU", labels=LABELS)  # no protect
        gcp.storage.Bucket("wiped", location="EU", force_destroy=True, opts=pulumi.ResourceOptions(protect=True))
        gcp.storage.Bucket("kept", location="EU", opts=pulumi.ResourceOptions(protect=True))
        gcp.workflows.Workflow("flow", region="europe-west1", source_contents="main: {}", deletion_protection=False)

    recording = run(program)
    found = listed(recording, security.UNPROTECTED, protect=True)
    assert found == {
        "loose": "no Pulumi protect",
        "wiped": "forceDestroy True",
        "flow": "deletionProtection false",
    }
    assert listed(recording, security.UNPROTECTED, protect=False) == {}


def test_public_endpoints_are_listed_and_internal_ones_are_not() -> None:
    def program() -> None:
        gcp.compute.GlobalForwardingRule("https", target="proxy", port_range="443")  # EXTERNAL_MANAGED by default
        gcp.compute.ForwardingRule("ilb", region="europe-west1", load_balancing_scheme="INTERNAL", backend_service="b")
        gcp.compute.Firewall(
            "web",
            network="vpc",
            source_ranges=["0.0.0.0/0"],
            allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=["443"])],
        )
        gcp.compute.Firewall(
            "internal",
            network="vpc",
            source_ranges=["10.0.0.0/8"],
            allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=["5432"])],
        )
        container = gcp.cloudrunv2.ServiceTemplateContainerArgs(image="gcr.io/x/y")
        gcp.cloudrunv2.Service(
            "open",
            name="open",
            location="europe-west1",
            template=gcp.cloudrunv2.ServiceTemplateArgs(containers=[container]),
        )
        gcp.cloudrunv2.Service(
            "behind-lb",
            name="behind-lb",
            location="europe-west1",
            ingress="INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
            template=gcp.cloudrunv2.ServiceTemplateArgs(containers=[container]),
        )

    found = listed(run(program), security.PUBLIC_ENDPOINTS)
    assert set(found) == {"https", "web", "open"}
    assert found["https"] == "EXTERNAL_MANAGED load balancer, port 443"
    assert found["web"] == "firewall allows tcp:443 from 0.0.0.0/0"
    assert "from the internet" in found["open"]


def test_kubernetes_objects_that_make_an_external_load_balancer_are_public_endpoints() -> None:
    """A Gateway of an external GKE class, a LoadBalancer Service without the internal annotation and a GCE Ingress
    each create an internet-facing load balancer; their internal look-alikes do not."""
    import pulumi_kubernetes as k8s

    def gateway(name: str, gateway_class: str) -> None:
        k8s.apiextensions.CustomResource(
            name,
            api_version="gateway.networking.k8s.io/v1",
            kind="Gateway",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name),
            spec={"gatewayClassName": gateway_class, "listeners": []},
        )

    def service(name: str, annotations: dict[str, str]) -> None:
        k8s.core.v1.Service(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, annotations=annotations),
            spec=k8s.core.v1.ServiceSpecArgs(type="LoadBalancer", ports=[k8s.core.v1.ServicePortArgs(port=443)]),
        )

    def program() -> None:
        gateway("tools", "gke-l7-global-external-managed")
        gateway("inside", "gke-l7-rilb")
        gateway("fleet", "gke-l7-gxlb-mc")
        service("open-lb", {})
        service("internal-lb", {"networking.gke.io/load-balancer-type": "Internal"})
        k8s.networking.v1.Ingress("web", metadata=k8s.meta.v1.ObjectMetaArgs(name="web"))

    found = listed(run(program), security.PUBLIC_ENDPOINTS)
    assert set(found) == {"tools", "fleet", "open-lb", "web"}
    assert "external Application Load Balancer" in found["tools"]


def test_bro_ai_lists_its_internal_tools_gateway_as_a_public_endpoint() -> None:
    found = listed(program_of("bro-ai"), security.PUBLIC_ENDPOINTS)
    assert "gke-l7-global-external-managed" in found["internal-tools-gateway"]


def test_prod_exposes_only_the_load_balancer_and_the_edge() -> None:
    found = security.findings(program_of("prod"), protect=True)
    endpoints = {f.type for f in found[security.PUBLIC_ENDPOINTS]}
    assert endpoints <= {
        security.GLOBAL_FORWARDING_RULE,
        security.DNS_RECORD,
        security.WORKER_DOMAIN,
        security.WORKER_ROUTE,
    }
    assert found[security.PUBLIC_IPS]
    assert all(f.type in (security.ADDRESS, security.GLOBAL_ADDRESS) for f in found[security.PUBLIC_IPS])


@pytest.mark.parametrize("category", security.CATEGORIES)
def test_each_category_names_the_resource_and_what_it_is(category: str) -> None:
    findings = security.findings(program_of("prod"), protect=True)[category]
    assert all(f.resource and f.what for f in findings)
    assert findings == sorted(findings)
