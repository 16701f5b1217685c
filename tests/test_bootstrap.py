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
BUCKET_MEMBER = "gcp:storage/bucketIAMMember:BucketIAMMember"
KEY_MEMBER = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
REPOSITORY_ID = "812345678"
STACKS = ("dev", "staging", "prod")


def test_every_pool_admits_only_the_repository_by_its_immutable_id(bootstrap: Recording) -> None:
    providers = {r.inputs["workloadIdentityPoolId"]: r.inputs for r in bootstrap.of(POOL_PROVIDER)}
    assert set(providers) == {"github", "github-environments"}
    for provider in providers.values():
        assert provider["oidc"]["issuerUri"] == "https://token.actions.githubusercontent.com"
        assert provider["attributeCondition"].startswith(f"assertion.repository_id == '{REPOSITORY_ID}'")
        assert "assertion.repository " not in provider["attributeCondition"]  # the renameable name
        assert provider["attributeMapping"]["attribute.repository_id"] == "assertion.repository_id"
        assert "attribute.repository" not in provider["attributeMapping"]
    assert providers["github-environments"]["attributeCondition"] == (
        f"assertion.repository_id == '{REPOSITORY_ID}' && assertion.ref == 'refs/heads/main'"
        " && assertion.environment in ['dev', 'staging', 'prod']"
    )
    assert providers["github-environments"]["attributeMapping"]["attribute.environment"] == "assertion.environment"


def _trust(bootstrap: Recording, account: str) -> set[tuple[str, str]]:
    """(pool, attribute/value) of every principal set that may act as the account."""
    found = set()
    for binding in bootstrap.of(WIF_USER):
        if binding.name.startswith(f"{account}-"):
            assert binding.inputs["role"] == "roles/iam.workloadIdentityUser"
            pool, attribute = str(binding.inputs["member"]).split("/workloadIdentityPools/")[1].split("/", 1)
            found.add((pool, attribute))
    return found


def test_deployers_trust_only_jobs_in_their_stack_environment(bootstrap: Recording) -> None:
    for stack in STACKS:
        assert _trust(bootstrap, f"{stack}-deployer") == {("github-environments", f"attribute.environment/{stack}")}


def test_only_previewers_of_stacks_with_pull_request_previews_are_reachable_from_pull_requests(
    bootstrap: Recording,
) -> None:
    pull_requests = ("github", f"attribute.repository_id/{REPOSITORY_ID}")
    for stack in STACKS:
        trust = _trust(bootstrap, f"{stack}-previewer")
        assert ("github-environments", f"attribute.environment/{stack}") in trust  # drift checks
        assert (pull_requests in trust) is (stack != "prod")


def _accounts_reachable_from_pull_requests(bootstrap: Recording) -> set[str]:
    return {
        b.name.rsplit("-", 2)[0]
        for b in bootstrap.of(WIF_USER)
        if "/workloadIdentityPools/github/" in str(b.inputs["member"])
    }


def _member_of(account: str) -> str:
    return f"serviceAccount:{account}@{ADMIN_PROJECT}.iam.gserviceaccount.com"


def test_no_identity_a_pull_request_can_reach_decrypts_prod_secrets_or_reads_prod_state(bootstrap: Recording) -> None:
    reachable = {_member_of(a) for a in _accounts_reachable_from_pull_requests(bootstrap)}
    assert reachable == {_member_of("dev-previewer"), _member_of("staging-previewer")}
    prod_key = bootstrap.one("gcp:kms/cryptoKey:CryptoKey", name="prod-stack-secrets").outputs["id"]
    decrypters = {g.inputs["member"] for g in bootstrap.of(KEY_MEMBER) if g.inputs["cryptoKeyId"] == prod_key}
    assert decrypters
    assert decrypters & reachable == set()
    for grant in bootstrap.of(BUCKET_MEMBER):
        if grant.inputs["member"] in reachable:
            assert "/prod" not in grant.inputs["condition"]["expression"], grant.name


def test_every_identity_that_decrypts_prod_secrets_requires_the_prod_environment(bootstrap: Recording) -> None:
    decrypters = [g for g in bootstrap.of(KEY_MEMBER) if g.name.startswith("prod-")]
    assert {g.name for g in decrypters} == {"prod-deployer-secrets", "prod-previewer-secrets"}
    for grant in decrypters:
        account = grant.name.removesuffix("-secrets")
        assert _trust(bootstrap, account) == {("github-environments", "attribute.environment/prod")}


def _prefixes(expression: str) -> list[str]:
    return re.findall(r'resource\.name\.startsWith\("([^"]+)"\)', expression)


def _grants(expression: str, object_name: str) -> bool:
    """Whether the condition lets an operation on the object through (object-level operations only)."""
    full = f"projects/_/buckets/acme-platform-pulumi-state/objects/{object_name}"
    exact = re.findall(r'resource\.name == "([^"]+)"', expression)
    return any(full.startswith(p) for p in _prefixes(expression)) or full in exact


@pytest.mark.parametrize("kind", ["deployer", "previewer"])
def test_each_identity_reads_and_writes_only_its_own_stack_state(bootstrap: Recording, kind: str) -> None:
    grants = {r.name: r.inputs for r in bootstrap.of(BUCKET_MEMBER)}
    for stack in STACKS:
        read = grants[f"{stack}-{kind}-state-read"]["condition"]["expression"]
        write = grants[f"{stack}-{kind}-state-write"]["condition"]["expression"]
        for expression in (read, write):
            assert all(p.endswith((".", "/")) for p in _prefixes(expression))  # `.../dev` would also match devx
        assert _grants(read, f".pulumi/stacks/platform/{stack}.json")
        assert _grants(read, ".pulumi/meta.yaml")
        assert _grants(write, f".pulumi/locks/organization/platform/{stack}/1234.json")
        assert _grants(write, f".pulumi/stacks/platform/{stack}.json") is (kind == "deployer")
        for other in (*(s for s in STACKS if s != stack), f"{stack}x"):
            for name in (f".pulumi/stacks/platform/{other}.json", f".pulumi/history/platform/{other}/a.json"):
                assert not _grants(read, name), (stack, name)
                assert not _grants(write, name), (stack, name)


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


@pytest.mark.parametrize("stack", STACKS)
def test_project_iam_admin_may_grant_only_the_roles_the_program_grants(bootstrap: Recording, stack: str) -> None:
    (admin,) = [
        r
        for r in bootstrap.of("gcp:projects/iAMMember:IAMMember")
        if r.name.startswith(f"{stack}-deployer-") and r.inputs["role"] == "roles/resourcemanager.projectIamAdmin"
    ]
    expression = admin.inputs["condition"]["expression"]
    match = re.fullmatch(
        r"api\.getAttribute\('iam\.googleapis\.com/modifiedGrantsByRole', \[\]\)\.hasOnly\(\[(.*)\]\)", expression
    )
    assert match is not None, expression
    allowed = set(re.findall(r"'([^']+)'", match[1]))
    granted = {r.inputs["role"] for r in program_of(stack).of("gcp:projects/iAMMember:IAMMember")}
    assert granted <= allowed  # the program can grant what it needs...
    assert not {r for r in allowed if r.startswith("roles/") and r.split("/")[1].split(".")[-1] in ("admin", "owner")}
    assert not [r for r in allowed if r in ("roles/owner", "roles/editor", "roles/resourcemanager.projectIamAdmin")]


@pytest.mark.parametrize("stack", STACKS)
def test_the_deployer_of_a_stack_with_a_budget_gets_exactly_what_budgets_need(bootstrap: Recording, stack: str) -> None:
    budgets = program_of(stack).of("gcp:billing/budget:Budget")
    billing = [
        r for r in bootstrap.of("gcp:billing/accountIamMember:AccountIamMember") if r.name.startswith(f"{stack}-")
    ]
    if not budgets:
        assert billing == []
        return
    (budget,) = budgets
    (grant,) = billing
    assert grant.inputs["billingAccountId"] == budget.inputs["billingAccount"]
    assert grant.inputs["role"] == "roles/billing.costsManager"
    assert grant.inputs["member"] == _member_of(f"{stack}-deployer")
    # The budget sets its notification topic's IAM policy: Pub/Sub Admin has setIamPolicy, Editor does not.
    assert "roles/pubsub.admin" in _roles(bootstrap, f"{stack}-deployer")[f"acme-platform-{stack}"]


def test_previewers_only_read(bootstrap: Recording) -> None:
    # Reads, and uses the stack project as quota project (serviceusage.services.use), which changes nothing.
    assert _roles(bootstrap, "prod-previewer") == {
        "acme-platform-prod": {"roles/viewer", "roles/iam.securityReviewer", "roles/serviceusage.serviceUsageConsumer"}
    }
    (key,) = [r for r in bootstrap.of(KEY_MEMBER) if r.name == "prod-previewer-secrets"]
    assert key.inputs["role"] == "roles/cloudkms.cryptoKeyDecrypter"


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
        "GCP_WIF_PROVIDER_ENVIRONMENTS",
    }
    assert variables["GCP_WIF_PROVIDER_ENVIRONMENTS"].endswith(
        "/workloadIdentityPools/github-environments/providers/github"
    )
    workflows = "".join(p.read_text() for p in (ROOT / ".github" / "workflows").glob("*.yml"))
    for name in variables:
        assert f"vars.{name}" in workflows
    assert bootstrap.outputs["deployers"]["prod"] == f"prod-deployer@{ADMIN_PROJECT}.iam.gserviceaccount.com"
    assert "${{ inputs.stack }}-deployer@${{ vars.GCP_BOOTSTRAP_PROJECT }}.iam.gserviceaccount.com" in workflows


def test_a_repository_that_is_not_owner_slash_name_is_refused() -> None:
    with pytest.raises(pulumi.RunError, match=r"invalid bootstrap config: github.repository"):
        run_bootstrap(bootstrap_config(github={"repository": "platform", "repository_id": REPOSITORY_ID}))


def test_a_repository_id_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(pulumi.RunError, match=r"invalid bootstrap config: github.repository_id"):
        run_bootstrap(bootstrap_config(github={"repository": "acme/platform", "repository_id": "acme/platform"}))


def test_docs_delivery_lists_the_repository_variables_to_set(bootstrap: Recording) -> None:
    text = (ROOT / "docs" / "delivery.md").read_text()
    section = text.split("### Repository variables", 1)[1].split("###", 1)[0]
    assert set(re.findall(r"^\| `([A-Z_]+)` \|", section, re.MULTILINE)) == set(bootstrap.outputs["github_variables"])


# The deployer role that lets `pulumi up` create each kind of resource the platform program registers.
ROLE_OF_MODULE = {
    "artifactregistry": "roles/artifactregistry.admin",
    "bigquery": "roles/bigquery.dataOwner",
    "certificatemanager": "roles/certificatemanager.editor",
    "cloudrunv2": "roles/run.admin",
    "cloudscheduler": "roles/cloudscheduler.admin",
    "logging": "roles/logging.configWriter",
    "monitoring": "roles/monitoring.admin",
    "pubsub": "roles/pubsub.admin",  # topics, subscriptions, schemas (Editor would do, but not their IAM policies)
    "redis": "roles/redis.admin",
    "secretmanager": "roles/secretmanager.admin",
    "serviceaccount": "roles/iam.serviceAccountAdmin",
    "servicenetworking": "roles/servicenetworking.networksAdmin",
    "sql": "roles/cloudsql.admin",
    "storage": "roles/storage.admin",
    "workflows": "roles/workflows.editor",
}
ROLE_OF_TYPE = {
    "gcp:projects/service:Service": "roles/serviceusage.serviceUsageAdmin",
    "gcp:projects/serviceIdentity:ServiceIdentity": "roles/serviceusage.serviceUsageAdmin",
    "gcp:projects/iAMMember:IAMMember": "roles/resourcemanager.projectIamAdmin",  # conditional: see above
    "gcp:projects/iAMAuditConfig:IAMAuditConfig": "roles/resourcemanager.projectIamAdmin",
    "gcp:projects/iAMCustomRole:IAMCustomRole": "roles/iam.roleAdmin",
    "gcp:compute/firewall:Firewall": "roles/compute.securityAdmin",
    "gcp:compute/securityPolicy:SecurityPolicy": "roles/compute.securityAdmin",
    "gcp:compute/securityPolicyRule:SecurityPolicyRule": "roles/compute.securityAdmin",
    "gcp:compute/sSLPolicy:SSLPolicy": "roles/compute.securityAdmin",
    # Setting a topic's or subscription's IAM policy: Pub/Sub Editor lacks setIamPolicy.
    "gcp:pubsub/topicIAMMember:TopicIAMMember": "roles/pubsub.admin",
    "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember": "roles/pubsub.admin",
}
BILLING_ACCOUNT_TYPES = {"gcp:billing/budget:Budget"}  # granted on the billing account (test above)


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
