"""The policy pack's rules: every stack passes them all, and each rule catches its failing examples.

The compliant examples are built with the provider SDK on the mock engine, so their input names are the ones the
engine really receives; each failing example changes one input of one of them, and exactly that rule must object.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pulumi
import pulumi_gcp as gcp
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

import stack_config
from offline.engine import Recording, run
from policy import rules
from policy.pack import policies
from policy.rules import RULES
from tests.conftest import ALL_STACKS

ROOT = Path(__file__).resolve().parent.parent
LABELS = {"environment": "dev", "managed-by": "pulumi", "cost-center": "platform-dev", "component": "example"}
REGION = "europe-west1"
KEY = "projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k"
DELETE = object()  # a mutation that removes the input


def _compliant() -> None:
    """One of each kind of resource the rules judge, configured as the rules want."""
    protect = pulumi.ResourceOptions(protect=True)
    gcp.kms.CryptoKey(
        "cmek-key",
        key_ring="ring",
        labels={**LABELS, "component": "encryption"},
        opts=pulumi.ResourceOptions(protect=True),
    )
    gcp.sql.DatabaseInstance(
        "sql",
        database_version="POSTGRES_16",
        region=REGION,
        encryption_key_name=KEY,
        deletion_protection=True,
        settings=gcp.sql.DatabaseInstanceSettingsArgs(
            tier="db-custom-1-3840",
            user_labels=LABELS,
            ip_configuration=gcp.sql.DatabaseInstanceSettingsIpConfigurationArgs(
                ipv4_enabled=False, private_network="projects/p/global/networks/vpc", ssl_mode="ENCRYPTED_ONLY"
            ),
            backup_configuration=gcp.sql.DatabaseInstanceSettingsBackupConfigurationArgs(
                enabled=True, point_in_time_recovery_enabled=True
            ),
        ),
        opts=protect,
    )
    gcp.redis.Instance(
        "redis",
        memory_size_gb=1,
        region=REGION,
        auth_enabled=True,
        transit_encryption_mode="SERVER_AUTHENTICATION",
        customer_managed_key=KEY,
        deletion_protection=True,
        labels=LABELS,
        opts=protect,
    )
    gcp.storage.Bucket(
        "bucket",
        location="EU",
        uniform_bucket_level_access=True,
        public_access_prevention="enforced",
        encryption=gcp.storage.BucketEncryptionArgs(default_kms_key_name=KEY),
        labels=LABELS,
        opts=protect,
    )
    gcp.storage.Bucket(
        "assets",
        name="acme-dev-static",
        location="EU",
        uniform_bucket_level_access=True,
        public_access_prevention="inherited",  # the one bucket Cloud CDN serves to anyone
        encryption=gcp.storage.BucketEncryptionArgs(default_kms_key_name=KEY),
        labels={**LABELS, "exposure": "cdn"},
        opts=protect,
    )
    gcp.storage.BucketIAMMember(
        "assets-public", bucket="acme-dev-static", role="roles/storage.objectViewer", member="allUsers"
    )
    gcp.secretmanager.Secret(
        "secret",
        secret_id="db-password",
        replication=gcp.secretmanager.SecretReplicationArgs(
            auto=gcp.secretmanager.SecretReplicationAutoArgs(
                customer_managed_encryption=gcp.secretmanager.SecretReplicationAutoCustomerManagedEncryptionArgs(
                    kms_key_name=KEY
                )
            )
        ),
        deletion_protection=True,
        labels=LABELS,
        opts=protect,
    )
    container = gcp.cloudrunv2.ServiceTemplateContainerArgs(image="europe-west1-docker.pkg.dev/p/app/api:1")
    gcp.cloudrunv2.Service(
        "api",
        name="acme-dev-api",
        location=REGION,
        ingress="INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
        labels=LABELS,
        template=gcp.cloudrunv2.ServiceTemplateArgs(
            service_account="api@acme-platform-dev.iam.gserviceaccount.com", containers=[container]
        ),
    )
    gcp.cloudrunv2.Service(
        "site",
        name="acme-dev-site",
        location=REGION,
        labels={**LABELS, "exposure": "public"},
        template=gcp.cloudrunv2.ServiceTemplateArgs(
            service_account="site@acme-platform-dev.iam.gserviceaccount.com", containers=[container]
        ),
    )
    gcp.cloudrunv2.ServiceIamMember(
        "site-public", name="acme-dev-site", location=REGION, role="roles/run.invoker", member="allUsers"
    )
    gcp.cloudrunv2.Job(
        "migrate",
        name="acme-dev-migrate",
        location=REGION,
        labels=LABELS,
        template=gcp.cloudrunv2.JobTemplateArgs(
            template=gcp.cloudrunv2.JobTemplateTemplateArgs(
                service_account="migrate@acme-platform-dev.iam.gserviceaccount.com",
                containers=[gcp.cloudrunv2.JobTemplateTemplateContainerArgs(image="europe-west1-docker.pkg.dev/p/a:1")],
            )
        ),
    )
    gcp.compute.RegionNetworkEndpointGroup(
        "api-neg",
        region=REGION,
        network_endpoint_type="SERVERLESS",
        cloud_run=gcp.compute.RegionNetworkEndpointGroupCloudRunArgs(service="acme-dev-api"),
    )
    gcp.compute.Firewall(
        "iap-ssh",
        network="vpc",
        source_ranges=["35.235.240.0/20"],
        allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=["22"])],
    )


_recorded: list[Recording] = []


def compliant() -> Recording:
    if not _recorded:
        _recorded.append(run(_compliant))
    return _recorded[0]


Record = tuple[str, str, dict[str, Any], bool]


def records(recording: Recording) -> list[Record]:
    return [(r.name, r.type, r.inputs, r.protect) for r in recording.resources]


def check(resources: list[Record], *, protect: bool = True) -> set[tuple[str, str]]:
    return {(rule, name) for rule, name, _ in rules.violations(resources, deletion_protection=True, protect=protect)}


@dataclass(frozen=True)
class Failing:
    rule: str
    resource: str
    path: tuple[str, ...]  # the input to change; empty: change the protect option
    value: Any

    def apply(self, resources: list[Record]) -> list[Record]:
        changed = []
        for name, type_, props, protected in resources:
            if name == self.resource:
                props = copy.deepcopy(props)
                if self.path:
                    *parents, leaf = self.path
                    target = props
                    for key in parents:
                        target = target[key]
                    if self.value is DELETE:
                        del target[leaf]
                    else:
                        target[leaf] = self.value
                else:
                    protected = bool(self.value)
            changed.append((name, type_, props, protected))
        return changed

    def __str__(self) -> str:
        return f"{self.rule}:{self.resource}:{'.'.join(self.path) or 'protect'}={self.value}"


FAILING = [
    Failing("cloud-sql-private-ip-only", "sql", ("settings", "ipConfiguration", "ipv4Enabled"), True),
    Failing("cloud-sql-private-ip-only", "sql", ("settings", "ipConfiguration", "ipv4Enabled"), DELETE),
    Failing(
        "cloud-sql-private-ip-only",
        "sql",
        ("settings", "ipConfiguration", "authorizedNetworks"),
        [{"value": "203.0.113.0/24"}],
    ),
    Failing("tls-required", "sql", ("settings", "ipConfiguration", "sslMode"), "ALLOW_UNENCRYPTED_AND_ENCRYPTED"),
    Failing("tls-required", "redis", ("transitEncryptionMode",), "DISABLED"),
    Failing("redis-auth", "redis", ("authEnabled",), False),
    Failing("backups-and-pitr", "sql", ("settings", "backupConfiguration", "enabled"), False),
    Failing("backups-and-pitr", "sql", ("settings", "backupConfiguration", "pointInTimeRecoveryEnabled"), DELETE),
    Failing("stateful-resources-protected", "sql", ("deletionProtection",), False),
    Failing("stateful-resources-protected", "redis", ("deletionProtection",), DELETE),
    Failing("stateful-resources-protected", "bucket", ("forceDestroy",), True),
    Failing("stateful-resources-protected", "secret", (), False),
    Failing("bucket-access", "bucket", ("uniformBucketLevelAccess",), False),
    Failing("bucket-access", "bucket", ("publicAccessPrevention",), "inherited"),
    Failing("bucket-access", "assets", ("uniformBucketLevelAccess",), False),
    Failing("public-buckets-only-through-cdn", "assets-public", ("bucket",), "acme-dev-uploads"),
    Failing("public-buckets-only-through-cdn", "assets-public", ("role",), "roles/storage.objectAdmin"),
    Failing("cmek-data-encrypted", "sql", ("encryptionKeyName",), DELETE),
    Failing("cmek-data-encrypted", "bucket", ("encryption",), DELETE),
    Failing("cmek-data-encrypted", "secret", ("replication", "auto", "customerManagedEncryption"), DELETE),
    Failing("no-public-invoker", "site-public", ("name",), "acme-dev-api"),
    Failing("no-public-invoker", "api", ("invokerIamDisabled",), True),
    Failing("required-labels", "bucket", ("labels", "cost-center"), DELETE),
    Failing("required-labels", "sql", ("settings", "userLabels", "component"), DELETE),
    Failing("required-labels", "migrate", ("labels",), DELETE),
    Failing(
        "no-default-service-account",
        "api",
        ("template", "serviceAccount"),
        "123456789012-compute@developer.gserviceaccount.com",
    ),
    Failing("no-default-service-account", "migrate", ("template", "template", "serviceAccount"), DELETE),
    Failing("ingress-behind-load-balancer", "api", ("ingress",), "INGRESS_TRAFFIC_ALL"),
    Failing("ingress-behind-load-balancer", "api", ("ingress",), DELETE),
    Failing("no-open-admin-ports", "iap-ssh", ("sourceRanges",), ["0.0.0.0/0"]),
    Failing("no-open-admin-ports", "iap-ssh", ("allows",), [{"protocol": "tcp", "ports": ["3000-4000"]}]),
]


def test_the_compliant_examples_pass_every_rule() -> None:
    assert check(records(compliant())) == set()


@pytest.mark.parametrize("example", FAILING, ids=str)
def test_each_rule_catches_its_failing_example(example: Failing) -> None:
    if example.path == ("allows",):  # RDP to the world: also open the source range
        resources = Failing("", "iap-ssh", ("sourceRanges",), ["0.0.0.0/0"]).apply(records(compliant()))
    else:
        resources = records(compliant())
    assert check(example.apply(resources)) == {(example.rule, example.resource)}


def test_every_rule_has_a_failing_example() -> None:
    assert {r.name for r in RULES} == {e.rule for e in FAILING}


def test_stateful_protect_is_only_required_where_the_stack_asks_for_it() -> None:
    unprotected = Failing("", "secret", (), False).apply(records(compliant()))
    assert check(unprotected, protect=False) == set()


def test_without_cmek_or_with_a_labelled_exception_data_needs_no_key() -> None:
    assert rules.cmek_data_encrypted(rules.DATASET, {}, False, rules.PolicyContext(cmek=False)) == []
    deliberate = {"labels": {"encryption": "google-managed"}}
    assert rules.cmek_data_encrypted(rules.DATASET, deliberate, False, rules.PolicyContext(cmek=True)) == []
    assert rules.cmek_data_encrypted(rules.DATASET, {}, False, rules.PolicyContext(cmek=True)) != []


def test_a_retained_key_needs_no_protect_but_a_protected_stack_s_data_still_does() -> None:
    context = rules.PolicyContext(protect=True)
    assert rules.stateful_protected(rules.CRYPTO_KEY, {}, False, context) == []
    assert rules.stateful_protected(rules.SECRET, {"deletionProtection": True}, False, context) != []


def test_ssh_from_iap_is_allowed_but_not_from_the_internet() -> None:
    (firewall,) = [r for r in records(compliant()) if r[0] == "iap-ssh"]
    context = rules.PolicyContext()
    assert rules.no_open_admin_ports(firewall[1], firewall[2], False, context) == []
    world = {**firewall[2], "sourceRanges": ["10.0.0.0/8", "0.0.0.0/0"]}
    assert "SSH (22)" in rules.no_open_admin_ports(firewall[1], world, False, context)[0]
    denied = {**world, "allows": [], "denies": [{"protocol": "all"}]}
    assert rules.no_open_admin_ports(firewall[1], denied, False, context) == []


@pytest.mark.parametrize(
    ("type_", "path"),
    [
        ("gcp:sql/databaseInstance:DatabaseInstance", ("settings", "userLabels")),
        ("gcp:monitoring/notificationChannel:NotificationChannel", ("userLabels",)),
        ("gcp:storage/bucket:Bucket", ("labels",)),
        ("gcp:compute/firewall:Firewall", None),
        ("platform:components:Network", None),
    ],
)
def test_labels_are_required_where_the_provider_takes_them(type_: str, path: tuple[str, ...] | None) -> None:
    assert rules.label_path(type_) == path


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_every_stack_passes_every_rule(program: Recording, config: stack_config.StackConfig) -> None:
    found = rules.violations(
        records(program),
        deletion_protection=config.protection.deletion_protection,
        protect=config.protection.protect,
    )
    assert found == []


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_the_policy_config_of_each_stack_matches_its_protection(stack: str, config: stack_config.StackConfig) -> None:
    pack_config = json.loads((ROOT / "policy" / "config" / f"{stack}.json").read_text())
    assert pack_config == {
        "stateful-resources-protected": {
            "deletionProtection": config.protection.deletion_protection,
            "protect": config.protection.protect,
        }
    }


# The pack: the same rules, wrapped for the engine, see props through pulumi-policy's proxies.

_OPTIONS = PolicyResourceOptions(
    protect=False,
    ignore_changes=[],
    delete_before_replace=None,
    aliases=[],
    custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
    additional_secret_outputs=[],
)


def _policy(name: str) -> Any:
    (found,) = [p for p in policies() if p.name == name]
    return found


def _reported() -> tuple[list[tuple[str, str | None]], Callable[[str, str | None], None]]:
    reported: list[tuple[str, str | None]] = []
    return reported, lambda message, urn=None: reported.append((message, urn))


def test_the_pack_runs_resource_rules_on_preview_props_with_unknowns() -> None:
    policy = _policy("bucket-access")
    assert isinstance(policy, ResourceValidationPolicy)
    props = unknown_checking_proxy({"name": UNKNOWN_STRING_VALUE, "publicAccessPrevention": "inherited"})
    args = ResourceValidationArgs(rules.BUCKET, props, "urn:bucket", "bucket", _OPTIONS, None, {})
    reported, report = _reported()
    policy.validate(args, report)
    assert [m for m, _ in reported] == [
        "bucket allows per-object ACLs: set uniform_bucket_level_access=True",
        "bucket can be made public: set public_access_prevention='enforced' (only the bucket labelled "
        "exposure=cdn, which the load balancer's Cloud CDN serves, may be public)",
    ]


def test_the_pack_takes_the_protection_the_stack_asks_for_from_its_config() -> None:
    policy = _policy("stateful-resources-protected")
    props = unknown_checking_proxy({"secretId": "s", "deletionProtection": True})
    reported, report = _reported()
    for config, expected in (({"deletionProtection": True, "protect": False}, 0), ({"protect": True}, 1)):
        reported.clear()
        policy.validate(ResourceValidationArgs(rules.SECRET, props, "urn:s", "s", _OPTIONS, None, config), report)
        assert len(reported) == expected, config


def test_the_pack_runs_stack_rules_over_every_resource_and_names_the_culprit() -> None:
    policy = _policy("no-public-invoker")
    assert isinstance(policy, StackValidationPolicy)

    def resource(type_: str, name: str, props: dict[str, Any]) -> PolicyResource:
        return PolicyResource(type_, unknown_checking_proxy(props), f"urn:{name}", name, _OPTIONS, None, None, [], {})

    site = {"name": "acme-dev-site", "labels": {"exposure": "public"}}
    invokers = {"role": "roles/run.invoker", "member": "allUsers"}
    resources = [
        resource(rules.RUN_SERVICE, "site", site),
        resource(rules.RUN_SERVICE, "api", {"name": "acme-dev-api", "labels": {}}),
        resource(rules.RUN_INVOKER_MEMBER, "site-public", {**invokers, "name": "acme-dev-site"}),
        resource(rules.RUN_INVOKER_MEMBER, "api-public", {**invokers, "name": "acme-dev-api"}),
    ]
    reported, report = _reported()
    policy.validate(StackValidationArgs(resources, {}), report)
    assert [urn for _, urn in reported] == ["urn:api-public"]


def test_docs_policy_lists_every_rule() -> None:
    documented = set(re.findall(r"^\| `([a-z-]+)` \|", (ROOT / "docs" / "policy.md").read_text(), re.MULTILINE))
    assert documented == {r.name for r in RULES}


# The pack as the engine runs it: a plugin process in policy/, answering the analyzer protocol over gRPC.


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    process = subprocess.Popen([sys.executable, "__main__.py"], cwd=ROOT / "policy", stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        process.kill()
        process.wait()


def test_the_served_pack_holds_every_rule_as_mandatory(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "platform-guardrails"
    assert {p.name: p.enforcementLevel for p in info.policies} == {r.name: analyzer_pb2.MANDATORY for r in RULES}


def test_the_served_pack_rejects_a_bucket_open_to_the_public(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    props = struct_pb2.Struct()
    props.update(
        {"name": "b", "uniformBucketLevelAccess": True, "publicAccessPrevention": "inherited", "labels": LABELS}
    )
    request = analyzer_pb2.AnalyzeRequest(
        type=rules.BUCKET,
        properties=props,
        urn="urn:pulumi:dev::platform::gcp:storage/bucket:Bucket::b",
        name="b",
        options=analyzer_pb2.AnalyzerResourceOptions(protect=False),
    )
    diagnostics = analyzer.Analyze(request).diagnostics
    assert [(d.policyName, d.enforcementLevel) for d in diagnostics] == [("bucket-access", analyzer_pb2.MANDATORY)]
    assert "set public_access_prevention='enforced'" in diagnostics[0].message
