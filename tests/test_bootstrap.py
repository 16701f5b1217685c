"""The bootstrap program (bootstrap/): keyless CI identities pinned to the repository, prod's deployer to main only,
least-privilege deployers and previewers, and a versioned, protected state bucket."""

from __future__ import annotations

import json
import re
import runpy
from pathlib import Path

import pulumi
import pytest
import yaml

from offline.engine import Recording, run
from policy import rules
from tests.conftest import program_of

ROOT = Path(__file__).resolve().parent.parent
BOOTSTRAP = ROOT / "bootstrap"
REPOSITORY = "acme/platform"
ADMIN_PROJECT = "acme-platform-admin"


def bootstrap_config(**overrides: object) -> dict[str, str]:
    document = yaml.safe_load((BOOTSTRAP / "Pulumi.admin.yaml").read_text())
    values = {**document["config"], **{f"platform-bootstrap:{k}": v for k, v in overrides.items()}}
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}


def run_bootstrap(config: dict[str, str]) -> Recording:
    main = str(BOOTSTRAP / "__main__.py")
    return run(
        lambda: runpy.run_path(main, run_name="__main__"), stack="admin", config=config, project_id=ADMIN_PROJECT
    )


@pytest.fixture(scope="module")
def bootstrap() -> Recording:
    return run_bootstrap(bootstrap_config())


POOL_PROVIDER = "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"
WIF_USER = "gcp:serviceaccount/iAMMember:IAMMember"


def test_every_pool_admits_only_the_repository(bootstrap: Recording) -> None:
    providers = {r.inputs["workloadIdentityPoolId"]: r.inputs for r in bootstrap.of(POOL_PROVIDER)}
    assert set(providers) == {"github", "github-main"}
    for provider in providers.values():
        assert provider["oidc"]["issuerUri"] == "https://token.actions.githubusercontent.com"
        assert provider["attributeCondition"].startswith(f"assertion.repository == '{REPOSITORY}'")
        assert provider["attributeMapping"]["attribute.repository"] == "assertion.repository"
    assert providers["github-main"]["attributeCondition"] == (
        f"assertion.repository == '{REPOSITORY}' && assertion.ref == 'refs/heads/main'"
    )


def _trusted_pool(bootstrap: Recording, account: str) -> str:
    (binding,) = [r for r in bootstrap.of(WIF_USER) if r.name == f"{account}-github"]
    assert binding.inputs["role"] == "roles/iam.workloadIdentityUser"
    member = str(binding.inputs["member"])
    assert member.startswith("principalSet://iam.googleapis.com/projects/")
    assert member.endswith(f"/attribute.repository/{REPOSITORY}")
    return member.split("/workloadIdentityPools/")[1].split("/")[0]


def test_only_main_branch_workflows_can_act_as_the_prod_deployer(bootstrap: Recording) -> None:
    assert _trusted_pool(bootstrap, "prod-deployer") == "github-main"
    assert _trusted_pool(bootstrap, "dev-deployer") == "github"
    for stack in ("dev", "staging", "prod"):  # previews run on pull requests, as the read-only previewer
        assert _trusted_pool(bootstrap, f"{stack}-previewer") == "github"


def _roles(bootstrap: Recording, account: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for r in bootstrap.of("gcp:projects/iAMMember:IAMMember"):
        if r.name.startswith(f"{account}-"):
            found.setdefault(r.inputs["project"], set()).add(r.inputs["role"])
    return found


def test_deployers_change_only_their_stack_project_with_named_roles(bootstrap: Recording) -> None:
    roles = _roles(bootstrap, "prod-deployer")
    assert set(roles) == {"acme-platform-prod"}
    assert {"roles/run.admin", "roles/cloudsql.admin"} <= roles["acme-platform-prod"]
    assert not {"roles/owner", "roles/editor"} & roles["acme-platform-prod"]


def test_previewers_only_read(bootstrap: Recording) -> None:
    assert _roles(bootstrap, "prod-previewer") == {"acme-platform-prod": {"roles/viewer", "roles/iam.securityReviewer"}}
    (key,) = [
        r for r in bootstrap.of("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember") if r.name == "prod-previewer-secrets"
    ]
    assert key.inputs["role"] == "roles/cloudkms.cryptoKeyDecrypter"


def test_each_identity_writes_only_its_own_stack_state(bootstrap: Recording) -> None:
    (write,) = [
        r for r in bootstrap.of("gcp:storage/bucketIAMMember:BucketIAMMember") if r.name == "dev-deployer-state-write"
    ]
    expression = write.inputs["condition"]["expression"]
    assert "/objects/.pulumi/stacks/platform/dev" in expression
    assert "/prod" not in expression
    (lock,) = [
        r for r in bootstrap.of("gcp:storage/bucketIAMMember:BucketIAMMember") if r.name == "prod-previewer-state-write"
    ]
    assert lock.inputs["condition"]["expression"] == (
        'resource.name.startsWith("projects/_/buckets/acme-platform-pulumi-state/objects/.pulumi/locks/platform/prod")'
    )


def test_the_state_bucket_is_versioned_private_and_protected(bootstrap: Recording) -> None:
    bucket = bootstrap.one("gcp:storage/bucket:Bucket")
    assert bucket.inputs["versioning"] == {"enabled": True}
    assert bucket.protect
    assert bootstrap.outputs["state_backend_url"] == "gs://acme-platform-pulumi-state"


def test_the_bootstrap_passes_the_policy_pack(bootstrap: Recording) -> None:
    resources = [(r.name, r.type, r.inputs, r.protect) for r in bootstrap.resources]
    assert rules.violations(resources, deletion_protection=True, protect=True) == []


def test_the_outputs_are_the_repository_variables_the_workflows_read(bootstrap: Recording) -> None:
    variables = bootstrap.outputs["github_variables"]
    assert set(variables) == {
        "PULUMI_STATE_BUCKET",
        "GCP_BOOTSTRAP_PROJECT",
        "GCP_WIF_PROVIDER",
        "GCP_WIF_PROVIDER_MAIN",
    }
    assert variables["GCP_WIF_PROVIDER_MAIN"].endswith("/workloadIdentityPools/github-main/providers/github")
    workflows = "".join(p.read_text() for p in (ROOT / ".github" / "workflows").glob("*.yml"))
    for name in variables:
        assert f"vars.{name}" in workflows
    assert bootstrap.outputs["deployers"]["prod"] == f"prod-deployer@{ADMIN_PROJECT}.iam.gserviceaccount.com"
    assert "${{ inputs.stack }}-deployer@${{ vars.GCP_BOOTSTRAP_PROJECT }}.iam.gserviceaccount.com" in workflows


def test_a_repository_that_is_not_owner_slash_name_is_refused() -> None:
    with pytest.raises(pulumi.RunError, match=r"invalid bootstrap config: github.repository"):
        run_bootstrap(bootstrap_config(github={"repository": "platform"}))


def test_docs_delivery_lists_the_repository_variables_to_set(bootstrap: Recording) -> None:
    text = (ROOT / "docs" / "delivery.md").read_text()
    section = text.split("### Repository variables", 1)[1].split("###", 1)[0]
    assert set(re.findall(r"^\| `([A-Z_]+)` \|", section, re.MULTILINE)) == set(bootstrap.outputs["github_variables"])


# The deployer role that lets `pulumi up` create each kind of resource the platform program registers.
ROLE_OF_MODULE = {
    "artifactregistry": "roles/artifactregistry.admin",
    "backupdisasterrecovery": "roles/backupdr.admin",
    "bigquery": "roles/bigquery.dataOwner",
    "certificatemanager": "roles/certificatemanager.editor",
    "cloudrunv2": "roles/run.admin",
    "cloudscheduler": "roles/cloudscheduler.admin",
    "logging": "roles/logging.configWriter",
    "monitoring": "roles/monitoring.admin",
    "pubsub": "roles/pubsub.editor",
    "redis": "roles/redis.admin",
    "secretmanager": "roles/secretmanager.admin",
    "serviceaccount": "roles/iam.serviceAccountAdmin",
    "servicenetworking": "roles/servicenetworking.networksAdmin",
    "sql": "roles/cloudsql.admin",
    "storage": "roles/storage.admin",
}
ROLE_OF_TYPE = {
    "gcp:projects/service:Service": "roles/serviceusage.serviceUsageAdmin",
    "gcp:projects/iAMMember:IAMMember": "roles/resourcemanager.projectIamAdmin",
    "gcp:projects/iAMAuditConfig:IAMAuditConfig": "roles/resourcemanager.projectIamAdmin",
    "gcp:projects/iAMCustomRole:IAMCustomRole": "roles/iam.roleAdmin",
    "gcp:compute/firewall:Firewall": "roles/compute.securityAdmin",
    "gcp:compute/securityPolicy:SecurityPolicy": "roles/compute.securityAdmin",
    "gcp:compute/sSLPolicy:SSLPolicy": "roles/compute.securityAdmin",
}
BILLING_ACCOUNT_TYPES = {"gcp:billing/budget:Budget"}  # granted on the billing account, outside the bootstrap


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_deployer_may_create_every_resource_its_stack_registers(bootstrap: Recording, stack: str) -> None:
    granted = _roles(bootstrap, f"{stack}-deployer")[f"acme-platform-{stack}"]
    missing = set()
    for r in program_of(stack).resources:
        if not (r.custom and r.type.startswith("gcp:")) or r.type in BILLING_ACCOUNT_TYPES:
            continue
        module = r.type.split(":")[1].split("/")[0]
        role = (
            ROLE_OF_TYPE.get(r.type)
            or ROLE_OF_MODULE.get(module)
            or ("roles/compute.networkAdmin" if module == "compute" else f"no role known for {r.type}")
        )
        if role not in granted:
            missing.add((r.type, role))
    assert missing == set()
