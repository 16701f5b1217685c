"""The bootstrap program (bootstrap/): keyless CI identities pinned to the repository, prod's deployer to main only,
least-privilege deployers and previewers, and a versioned, protected state bucket."""

from __future__ import annotations

import inspect
import json
import re
import runpy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pulumi
import pulumi_gcp as gcp
import pytest
import yaml

from offline.engine import Recording, Resource, run
from policy import rules
from tests.conftest import config_of, program_of

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
        " && assertion.environment in"
        " ['dev', 'dev-readonly', 'staging', 'staging-readonly', 'prod', 'prod-readonly']"
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
        assert ("github-environments", f"attribute.environment/{stack}-readonly") in trust  # drift checks
        assert (pull_requests in trust) is (stack != "prod")


def test_previewers_trust_only_the_read_only_environment_of_their_stack(bootstrap: Recording) -> None:
    # Drift checks run unattended in `<stack>-readonly` (main only, no reviewers); the stack's own environment, behind
    # prod's reviewers, is for the deployer alone.
    for stack in STACKS:
        environments = {a for pool, a in _trust(bootstrap, f"{stack}-previewer") if pool == "github-environments"}
        assert environments == {f"attribute.environment/{stack}-readonly"}


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


def test_every_identity_that_decrypts_prod_secrets_requires_a_prod_environment(bootstrap: Recording) -> None:
    decrypters = [g for g in bootstrap.of(KEY_MEMBER) if g.name.startswith("prod-")]
    assert {g.name for g in decrypters} == {"prod-deployer-secrets", "prod-previewer-secrets"}
    assert _trust(bootstrap, "prod-deployer") == {("github-environments", "attribute.environment/prod")}
    assert _trust(bootstrap, "prod-previewer") == {("github-environments", "attribute.environment/prod-readonly")}


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
        write = grants.get(f"{stack}-{kind}-state-write", {"condition": {"expression": "false"}})["condition"]
        for expression in (read, write["expression"]):
            assert all(p.endswith((".", "/")) for p in _prefixes(expression))  # `.../dev` would also match devx
        assert _grants(read, f".pulumi/stacks/platform/{stack}.json")
        assert _grants(read, ".pulumi/meta.yaml")
        assert _grants(write["expression"], f".pulumi/locks/organization/platform/{stack}/1234.json") is (
            kind == "deployer"
        )
        assert _grants(write["expression"], f".pulumi/stacks/platform/{stack}.json") is (kind == "deployer")
        for other in (*(s for s in STACKS if s != stack), f"{stack}x"):
            for name in (f".pulumi/stacks/platform/{other}.json", f".pulumi/history/platform/{other}/a.json"):
                assert not _grants(read, name), (stack, name)
                assert not _grants(write["expression"], name), (stack, name)


def test_previewers_write_no_state_not_even_a_lock(bootstrap: Recording) -> None:
    # `pulumi preview` in the self-managed backend takes no lock and saves no checkpoint (pkg/backend/diy/backend.go:
    # Preview goes straight to apply with DryRun). A lock write would let pull-request code (which can obtain the dev
    # and staging previewers) delete a running deploy's lock.
    for stack in STACKS:
        member = _member_of(f"{stack}-previewer")
        roles = {g.inputs["role"] for g in bootstrap.of(BUCKET_MEMBER) if g.inputs["member"] == member}
        assert roles == {"roles/storage.objectViewer"}


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
        r
        for r in bootstrap.of("gcp:billing/accountIamMember:AccountIamMember")
        if r.inputs["member"] == _member_of(f"{stack}-deployer")
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
    # Reads, and uses the stack project as quota project (serviceusage.services.use), which changes nothing; the
    # refresh grants (tests below) read too.
    custom = {
        f"projects/{r.inputs['project']}/roles/{r.inputs['roleId']}": r.inputs["permissions"]
        for r in bootstrap.of(CUSTOM_ROLE)
    }
    for stack in STACKS:
        roles = _roles(bootstrap, f"{stack}-previewer")
        assert set(roles) == {f"acme-platform-{stack}"}
        predefined = {r for r in roles[f"acme-platform-{stack}"] if r.startswith("roles/")}
        assert predefined == {
            "roles/viewer",
            "roles/iam.securityReviewer",
            "roles/serviceusage.serviceUsageConsumer",
            "roles/secretmanager.secretAccessor",
        }
        for role in roles[f"acme-platform-{stack}"] - predefined:
            assert all(p.rsplit(".", 1)[1].startswith(("get", "access", "list")) for p in custom[role]), role
    (key,) = [r for r in bootstrap.of(KEY_MEMBER) if r.name == "prod-previewer-secrets"]
    assert key.inputs["role"] == "roles/cloudkms.cryptoKeyDecrypter"


# --- What a refresh reads -------------------------------------------------------------------------------------------
# A PR preview and the nightly drift check run `pulumi preview --refresh` as the stack's previewer: every resource's
# Read runs, and some Reads need more than Viewer (get/list) and Security Reviewer (getIamPolicy).

CUSTOM_ROLE = "gcp:projects/iAMCustomRole:IAMCustomRole"
PREVIEWER_ROLES = ("roles/viewer", "roles/iam.securityReviewer", "roles/serviceusage.serviceUsageConsumer")
BILLING_MEMBER = "gcp:billing/accountIamMember:AccountIamMember"


@dataclass(frozen=True)
class RefreshNeed:
    """The permission a resource type's Read needs beyond Viewer, where it is checked, and which resources need it."""

    permission: str
    on: Literal["project", "billing account"]
    needs: Callable[[Resource], bool] = lambda _: True


REFRESH_NEEDS = {
    # The provider reads the payload back (:access) when the version holds `secret_data`; write-only data is not read.
    "gcp:secretmanager/secretVersion:SecretVersion": RefreshNeed(
        "secretmanager.versions.access", "project", lambda r: "secretData" in r.inputs
    ),
    # With AUTH on, the provider reads the AUTH string (getAuthString), which Viewer's redis.*.get does not cover.
    "gcp:redis/instance:Instance": RefreshNeed(
        "redis.instances.getAuthString", "project", lambda r: bool(r.inputs.get("authEnabled"))
    ),
    # A budget lives on its billing account: GetBudget needs billing.budgets.get there.
    "gcp:billing/budget:Budget": RefreshNeed("billing.budgets.get", "billing account"),
}
# Modules whose resources' Reads Viewer (*.get, *.list) and Security Reviewer (*.getIamPolicy) cover.
VIEWER_READ_MODULES = {
    "artifactregistry",
    "bigquery",
    "certificatemanager",
    "cloudrunv2",
    "cloudscheduler",
    "compute",
    "kms",  # key rings and keys (cloudkms.*.get), their IAM policies (Security Reviewer); never key material
    "logging",
    "monitoring",
    "projects",
    "pubsub",
    "secretmanager",
    "serviceaccount",
    "servicenetworking",
    "sql",
    "storage",
    "workflows",
}
# The permissions of the predefined roles the previewer may hold for a refresh (roles/secretmanager.secretAccessor:
# https://cloud.google.com/secret-manager/docs/access-control; roles/billing.viewer:
# https://cloud.google.com/billing/docs/how-to/budget-api-access-control).
PREDEFINED_PERMISSIONS = {
    "roles/secretmanager.secretAccessor": {"secretmanager.versions.access"},
    "roles/billing.viewer": {"billing.budgets.get", "billing.budgets.list"},
}


def _needs(stack: str) -> list[tuple[Resource, RefreshNeed]]:
    return [
        (r, REFRESH_NEEDS[r.type])
        for r in program_of(stack).resources
        if r.type in REFRESH_NEEDS and REFRESH_NEEDS[r.type].needs(r)
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_every_resource_type_a_stack_registers_has_a_known_refresh_permission(stack: str) -> None:
    unknown = {
        r.type
        for r in program_of(stack).resources
        if r.custom
        and r.type.startswith("gcp:")
        and r.type not in REFRESH_NEEDS
        and r.type.split(":")[1].split("/")[0] not in VIEWER_READ_MODULES
    }
    assert unknown == set()  # decide what its Read needs, and grant it to the previewer in bootstrap/


def _previewer_grants(bootstrap: Recording, stack: str) -> list[tuple[str, str, set[str], str | None]]:
    """(scope, role, its permissions, condition expression) of every grant the previewer holds beyond Viewer."""
    member = _member_of(f"{stack}-previewer")
    custom = {f"projects/{r.inputs['project']}/roles/{r.inputs['roleId']}": r for r in bootstrap.of(CUSTOM_ROLE)}
    found = []
    for grant in bootstrap.of("gcp:projects/iAMMember:IAMMember", member=member):
        role = grant.inputs["role"]
        if role in PREVIEWER_ROLES:
            continue
        if role.startswith("projects/"):
            assert role.startswith(f"projects/{grant.inputs['project']}/roles/")  # a role of the stack's project
            permissions = set(custom[role].inputs["permissions"])
        else:
            permissions = PREDEFINED_PERMISSIONS[role]
        condition = grant.inputs.get("condition")
        found.append((f"projects/{grant.inputs['project']}", role, permissions, condition and condition["expression"]))
    for grant in bootstrap.of(BILLING_MEMBER, member=member):
        scope = f"billingAccounts/{grant.inputs['billingAccountId']}"
        found.append((scope, grant.inputs["role"], PREDEFINED_PERMISSIONS[grant.inputs["role"]], None))
    return found


def _admits(expression: str | None, resource_name: str) -> bool:
    if expression is None:
        return True
    match = re.fullmatch(r'resource\.name\.startsWith\("([^"]+)"\)', expression)
    assert match is not None, f"a condition this test cannot read: {expression}"
    return resource_name.startswith(match[1])


def _secret_version_name(stack: str, version: Resource, expression: str | None) -> str:
    """The name IAM checks `secretmanager.versions.access` against: projects/NUMBER/secrets/ID/versions/N."""
    (secret,) = [s for s in program_of(stack).of(SECRET) if s.outputs["id"] == version.inputs["secret"]]
    number = re.search(r"projects/([0-9]+)/", expression or "projects/123/")
    assert number is not None
    return f"projects/{number[1]}/secrets/{secret.inputs['secretId']}/versions/1"


SECRET = "gcp:secretmanager/secret:Secret"


@pytest.mark.parametrize("stack", STACKS)
def test_the_previewer_may_read_everything_its_stack_refresh_reads(bootstrap: Recording, stack: str) -> None:
    needs = _needs(stack)
    assert {n.permission for _, n in needs} >= {"secretmanager.versions.access", "redis.instances.getAuthString"}
    grants = _previewer_grants(bootstrap, stack)
    for resource, need in needs:
        if need.on == "billing account":
            scope = f"billingAccounts/{resource.inputs['billingAccount']}"
        else:
            scope = f"projects/acme-platform-{stack}"
        holding = [g for g in grants if g[0] == scope and need.permission in g[2]]
        assert holding, f"{stack}-previewer cannot refresh {resource.name}: no {need.permission} on {scope}"
        if need.permission == "secretmanager.versions.access":
            assert any(_admits(g[3], _secret_version_name(stack, resource, g[3])) for g in holding), resource.name


@pytest.mark.parametrize("stack", STACKS)
def test_the_previewer_holds_nothing_beyond_what_its_stack_refresh_reads(bootstrap: Recording, stack: str) -> None:
    needed = {(n.on, n.permission) for _, n in _needs(stack)}
    for scope, role, permissions, _ in _previewer_grants(bootstrap, stack):
        on = "billing account" if scope.startswith("billingAccounts/") else "project"
        assert {p for p in permissions if (on, p) in needed}, f"{role} on {scope} serves no refresh of {stack}"
        if role.startswith("projects/"):  # a custom role has exactly what the refresh needs
            assert {(on, p) for p in permissions} <= needed


@pytest.mark.parametrize("stack", STACKS)
def test_the_previewer_reads_only_the_secrets_the_program_creates(bootstrap: Recording, stack: str) -> None:
    (expression,) = [g[3] for g in _previewer_grants(bootstrap, stack) if "secretmanager.versions.access" in g[2]]
    assert expression is not None  # never every secret of the project
    prefix = config_of(stack).naming(stack).physical("x").removesuffix("x")
    assert re.fullmatch(rf'resource\.name\.startsWith\("projects/[0-9]+/secrets/{prefix}"\)', expression)
    outsider = f"projects/123/secrets/{stack}-partner-api-key/versions/1"
    assert not _admits(expression, re.sub(r"projects/[0-9]+/", "projects/123/", outsider))


# --- Limits the API enforces and the mocks do not --------------------------------------------------------------------

POOL = "gcp:iam/workloadIdentityPool:WorkloadIdentityPool"
# Every length or character limit the installed SDK's docstrings state for an input the bootstrap sets: the class, the
# phrase that states it, and the check.
NAME_LIMITS: dict[str, tuple[type, dict[str, tuple[str, Callable[[str], bool]]]]] = {
    POOL: (
        gcp.iam.WorkloadIdentityPool,
        {
            "workloadIdentityPoolId": (
                "should be 4-32 characters, and may contain the characters [a-z0-9-]",
                lambda v: bool(re.fullmatch(r"[a-z0-9-]{4,32}", v)) and not v.startswith("gcp-"),
            ),
            "displayName": ("A display name for the pool. Cannot exceed 32 characters.", lambda v: len(v) <= 32),
            "description": ("A description of the pool. Cannot exceed 256 characters.", lambda v: len(v) <= 256),
        },
    ),
    POOL_PROVIDER: (
        gcp.iam.WorkloadIdentityPoolProvider,
        {
            "workloadIdentityPoolProviderId": (
                "must be 4-32 characters, and may contain the characters [a-z0-9-]",
                lambda v: bool(re.fullmatch(r"[a-z0-9-]{4,32}", v)) and not v.startswith("gcp-"),
            ),
            "displayName": ("A display name for the provider. Cannot exceed 32 characters.", lambda v: len(v) <= 32),
            "description": ("A description for the provider. Cannot exceed 256 characters.", lambda v: len(v) <= 256),
        },
    ),
    "gcp:serviceaccount/account:Account": (
        gcp.serviceaccount.Account,
        {
            "accountId": (
                "must be 6-30 characters long",
                lambda v: bool(re.fullmatch(r"[a-z][-a-z0-9]{4,28}[a-z0-9]", v)),
            )
        },
    ),
    "gcp:storage/bucket:Bucket": (
        gcp.storage.Bucket,
        {
            "name": (
                "must be in lowercase and no more than 63 characters long",
                lambda v: v == v.lower() and len(v) <= 63,
            )
        },
    ),
    CUSTOM_ROLE: (
        gcp.projects.IAMCustomRole,
        {"roleId": ("Cannot contain `-` characters.", lambda v: "-" not in v)},
    ),
}


def _mapping_fits(mapping: dict[str, str]) -> bool:
    """A provider's attribute mapping: at most 50 custom attributes, each key at most 100 characters of [a-z0-9_],
    each expression at most 2048 characters."""
    custom = [k.removeprefix("attribute.") for k in mapping if k.startswith("attribute.")]
    return (
        len(custom) <= 50
        and all(re.fullmatch(r"[a-z0-9_]{1,100}", k) for k in custom)
        and all(len(v) <= 2048 for v in mapping.values())
    )


def test_the_name_limits_are_the_ones_the_sdk_states() -> None:
    for cls, fields in NAME_LIMITS.values():
        source = " ".join(inspect.getsource(inspect.getmodule(cls)).split())  # type: ignore[arg-type]
        for phrase, _ in fields.values():
            assert phrase in source, (cls.__name__, phrase)
    provider = " ".join(inspect.getsource(gcp.iam.workload_identity_pool_provider).split())
    assert "The maximum length of a mapped attribute key is 100 characters" in provider
    assert "The maximum length of an attribute mapping expression is 2048 characters" in provider


LONGEST_STACK = "s" * 20  # StackName's longest


@pytest.mark.parametrize("stacks", ["admin", "longest"])
def test_every_bootstrap_name_fits_the_limits_the_api_enforces(bootstrap: Recording, stacks: str) -> None:
    recording = bootstrap
    if stacks == "longest":
        recording = run_bootstrap(
            bootstrap_config(stacks={LONGEST_STACK: {"project": "acme-platform-dev", "prefix": "acmeacmeacme"}})
        )
    checked = 0
    for type_, (_, fields) in NAME_LIMITS.items():
        for resource in recording.of(type_):
            for field_name, (phrase, fits) in fields.items():
                value = resource.inputs.get(field_name)
                if value is not None:
                    checked += 1
                    assert fits(str(value)), f"{resource.name}.{field_name} = {value!r}: {phrase}"
    for provider in recording.of(POOL_PROVIDER):
        assert _mapping_fits(provider.inputs["attributeMapping"]), provider.name
    assert checked >= 10


# --- The bootstrap's own calls ----------------------------------------------------------------------------------------


def test_the_bootstrap_bills_every_call_to_the_admin_project_where_cloud_billing_is_on(bootstrap: Recording) -> None:
    # With a person's ADC the Cloud Billing API refuses calls that name no quota project, and the Google provider does
    # not take the quota project of the ADC file.
    (provider,) = bootstrap.of("pulumi:providers:gcp")
    assert provider.inputs["billingProject"] == ADMIN_PROJECT
    assert str(provider.inputs["userProjectOverride"]).lower() == "true"
    billing_api = bootstrap.one("gcp:projects/service:Service", service="cloudbilling.googleapis.com")
    assert billing_api.inputs.get("project", ADMIN_PROJECT) == ADMIN_PROJECT
    grants = bootstrap.of(BILLING_MEMBER)
    assert grants
    assert all(bootstrap.depends_on(g, billing_api) for g in grants)


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
    "kms": "roles/cloudkms.admin",  # key rings, keys and their IAM policies; no cryptographic operations
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
    assert roles_missing(_roles(bootstrap, f"{stack}-deployer")[f"acme-platform-{stack}"], stack) == set()


def roles_missing(granted: set[str], stack: str) -> set[tuple[str, str]]:
    """(type, role) of each Google Cloud resource the stack registers whose creating role is not granted."""
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
    return missing
