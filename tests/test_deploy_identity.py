"""What the deploying identity needs from Google Cloud, granted by the program where it can be narrow: actAs on exactly
the runtime service accounts the program creates, a quota project for every call, and time for grants to propagate."""

from __future__ import annotations

import copy
from typing import Any

import pulumi
import pytest

import stack_config
from components.cloud_run.service import IAM_PROPAGATION
from components.context import ACT_AS_ROLE
from offline.engine import Recording, Resource
from tests.conftest import STACKS, config_of, program_of, raw_config
from tests.test_bootstrap import ADMIN_PROJECT, ADMIN_STACKS, bootstrap_config, run_bootstrap
from tests.test_compute import run_with

ACCOUNT = "gcp:serviceaccount/account:Account"
ACCOUNT_IAM = "gcp:serviceaccount/iAMMember:IAMMember"
SERVICE = "gcp:cloudrunv2/service:Service"
JOB = "gcp:cloudrunv2/job:Job"
SCHEDULER_JOB = "gcp:cloudscheduler/job:Job"
WORKFLOW = "gcp:workflows/workflow:Workflow"
SECRET_IAM = "gcp:secretmanager/secretIamMember:SecretIamMember"
PROJECT_IAM = "gcp:projects/iAMMember:IAMMember"
API = "gcp:projects/service:Service"


def _act_as(program: Recording) -> dict[str, Resource]:
    """actAs grants by the email of the account they are on (`projects/PROJECT/serviceAccounts/EMAIL`)."""
    grants = [g for g in program.of(ACCOUNT_IAM) if g.inputs["role"] == ACT_AS_ROLE]
    assert all(g.inputs["serviceAccountId"].startswith("projects/") for g in grants)
    return {g.inputs["serviceAccountId"].rsplit("/", 1)[1]: g for g in grants}


# --- actAs ------------------------------------------------------------------------------------------------------------


def test_the_deployer_acts_as_exactly_the_runtime_accounts_the_program_creates(program: Recording, stack: str) -> None:
    accounts = {a.outputs["email"] for a in program.of(ACCOUNT)}
    grants = _act_as(program)
    assert set(grants) == accounts
    assert {g.inputs["member"] for g in grants.values()} == {config_of(stack).deployer}


def test_every_account_a_workload_runs_as_is_one_the_deployer_may_act_as(program: Recording) -> None:
    """Cloud Run, Workflows and Cloud Scheduler refuse a service, job, workflow or schedule naming an account its
    deployer cannot actAs."""
    grants = _act_as(program)
    named = [s.inputs["template"]["serviceAccount"] for s in program.of(SERVICE)]
    named += [j.inputs["template"]["template"]["serviceAccount"] for j in program.of(JOB)]
    named += [j.inputs["httpTarget"]["oauthToken"]["serviceAccountEmail"] for j in program.of(SCHEDULER_JOB)]
    named += [w.inputs["serviceAccount"] for w in program.of(WORKFLOW)]
    assert named
    assert set(named) <= set(grants)


def test_cloud_run_services_and_jobs_wait_for_the_deployers_act_as_grant(program: Recording) -> None:
    grants = _act_as(program)
    for workload in [*program.of(SERVICE), *program.of(JOB)]:
        template = workload.inputs["template"]
        email = template.get("serviceAccount") or template["template"]["serviceAccount"]
        assert program.depends_on(workload, grants[email]), workload.name


@pytest.mark.parametrize("stack", STACKS)
def test_each_stack_names_the_deployer_the_bootstrap_creates_for_it(stack: str) -> None:
    deployers = run_bootstrap_once().outputs["deployers"]
    assert config_of(stack).deployer == f"serviceAccount:{deployers[stack]}"
    assert deployers[stack] == f"{stack}-deployer@{ADMIN_PROJECT}.iam.gserviceaccount.com"


_bootstrap: list[Recording] = []


def run_bootstrap_once() -> Recording:
    if not _bootstrap:
        _bootstrap.append(run_bootstrap(bootstrap_config()))
    return _bootstrap[0]


def test_no_deployer_may_act_as_every_account_of_its_project() -> None:
    project_roles = [r for r in run_bootstrap_once().of(PROJECT_IAM) if "-deployer-" in r.name]
    assert project_roles
    assert ACT_AS_ROLE not in {r.inputs["role"] for r in project_roles}
    # ...but each may still create the runtime accounts and set their IAM policy (the actAs grants above).
    assert {r.inputs["project"] for r in project_roles if r.inputs["role"] == "roles/iam.serviceAccountAdmin"} == {
        stack["project"] for stack in ADMIN_STACKS.values()
    }


@pytest.mark.parametrize(
    ("deployer", "problem"),
    [
        ("dev-deployer@acme-platform-admin.iam.gserviceaccount.com", "is not an IAM member"),
        ("serviceAccount:", "is not an IAM member"),
        ("allUsers", "is not an IAM member"),
    ],
)
def test_a_deployer_that_is_not_an_iam_member_is_one_line(deployer: str, problem: str) -> None:
    raw = copy.deepcopy(raw_config("dev"))
    raw["deployer"] = deployer
    with pytest.raises(pulumi.RunError) as err:
        stack_config.parse(raw, stack_file="Pulumi.dev.yaml")
    assert str(err.value).startswith(f"invalid stack config in Pulumi.dev.yaml: deployer: '{deployer}' {problem}")


def test_a_stack_without_a_deployer_is_told_to_name_it() -> None:
    raw = copy.deepcopy(raw_config("dev"))
    raw.pop("deployer")
    with pytest.raises(pulumi.RunError, match=r"deployer is required; add it to Pulumi.dev.yaml"):
        stack_config.parse(raw, stack_file="Pulumi.dev.yaml")


# --- Grants propagate before a revision needs them --------------------------------------------------------------------


def _sleep_of(program: Recording, key: str) -> Resource:
    return program.named(f"{key}-iam-propagation")


def test_a_new_revision_waits_for_its_grants_to_propagate(program: Recording, stack: str) -> None:
    """A revision created before its secret accessor grant has propagated fails with "Permission denied on secret"."""
    for key in config_of(stack).services:
        sleep = _sleep_of(program, key)
        assert sleep.inputs["createDuration"] == IAM_PROPAGATION
        assert int(IAM_PROPAGATION.removesuffix("s")) >= 120  # Google: typically 2 minutes
        service = program.named(f"{key}-service")
        assert program.depends_on(service, sleep)
        grants = [g for g in program.children(program.named(key)) if g.type in (SECRET_IAM, PROJECT_IAM, ACCOUNT_IAM)]
        assert grants
        for grant in grants:
            assert program.depends_on(sleep, grant), (key, grant.name)
        for job in program.of(JOB):
            if job.parent == program.named(key).urn:
                assert program.depends_on(job, sleep)


def _triggers(raw: dict[str, Any], key: str) -> dict[str, Any]:
    return dict(_sleep_of(run_with("dev", raw), key).inputs["triggers"])


def test_the_wait_happens_again_only_when_the_grants_change() -> None:
    """The sleep waits on create; its triggers replace it (and wait again) only when the grants change."""
    base = copy.deepcopy(raw_config("dev"))
    before = _triggers(base, "analytics")
    resized = copy.deepcopy(base)
    resized["services"]["analytics"].update(memory="1Gi", max_instances=4)  # type: ignore[index]
    assert _triggers(resized, "analytics") == before
    with_redis = copy.deepcopy(base)
    with_redis["services"]["analytics"]["redis"] = True  # type: ignore[index]
    assert _triggers(with_redis, "analytics")["secrets"] != before["secrets"]


# --- Quota project ----------------------------------------------------------------------------------------------------


def test_the_google_provider_bills_every_call_to_the_stacks_project(program: Recording, stack: str) -> None:
    (provider,) = [r for r in program.resources if r.type == "pulumi:providers:gcp"]
    project = config_of(stack).gcp.project
    assert provider.inputs["billingProject"] == project
    assert str(provider.inputs["userProjectOverride"]).lower() == "true"


def test_the_budget_api_is_enabled_in_the_quota_project_before_the_budget(program: Recording, stack: str) -> None:
    budgets = program.of("gcp:billing/budget:Budget")
    if not budgets:
        pytest.skip(f"{stack} has no budget (no billing account)")
    (budget,) = budgets
    (api,) = program.of(API, service="billingbudgets.googleapis.com")
    assert program.depends_on(budget, api)
    assert api.inputs.get("project") in (None, config_of(stack).gcp.project)  # the provider's project: the quota one


def test_every_stack_project_has_the_apis_its_quota_project_needs_before_the_first_up() -> None:
    enabled = {(r.inputs.get("project"), r.inputs["service"]) for r in run_bootstrap_once().of(API)}
    for stack in STACKS:
        project = config_of(stack).gcp.project
        assert (project, "serviceusage.googleapis.com") in enabled
        assert (project, "cloudresourcemanager.googleapis.com") in enabled


def test_previewers_may_use_their_stack_project_as_quota_project() -> None:
    roles = {(r.inputs["project"], r.inputs["role"]) for r in run_bootstrap_once().of(PROJECT_IAM)}
    for stack in STACKS:
        assert (f"acme-platform-{stack}", "roles/serviceusage.serviceUsageConsumer") in roles


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_scheduled_jobs_and_export_workflows_wait_for_the_deployers_act_as_on_their_account(stack: str) -> None:
    program = program_of(stack)
    waiting = program.of("gcp:cloudscheduler/job:Job") + program.of("gcp:workflows/workflow:Workflow")
    assert waiting
    grants = program.of("gcp:serviceaccount/iAMMember:IAMMember", role="roles/iam.serviceAccountUser")
    for resource in waiting:
        account = resource.inputs.get("serviceAccount") or (
            (resource.inputs.get("httpTarget") or {}).get("oauthToken") or {}
        ).get("serviceAccountEmail")
        mine = [g for g in grants if program.depends_on(resource, g)]
        assert mine, f"{resource.name} does not wait for actAs on {account}"
