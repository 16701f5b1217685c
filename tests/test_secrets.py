"""Secret Manager secrets: where they are replicated, who may read them, and that no secret value leaks anywhere."""

from __future__ import annotations

import json

import pytest

import stack_config
from components.secret import ACCESSOR_ROLE, Secret, SecretsArgs
from offline.engine import Recording, run
from offline.estimate import report
from offline.plan import render, to_json
from tests.conftest import STACKS, context_of, program_of

SECRET = "gcp:secretmanager/secret:Secret"
PLAINTEXT = "plain-value-that-must-not-leak"


def secrets(program: Recording) -> list[str]:
    return [r.inputs["secretId"] for r in program.of(SECRET)]


def test_every_database_password_and_the_redis_auth_string_have_a_secret(
    stack: str, program: Recording, config: stack_config.StackConfig
) -> None:
    prefix = f"{config.prefix}-{stack}"
    wanted = {f"{prefix}-db-{db}-password" for db in config.database.databases} | {f"{prefix}-redis-auth"}
    # The only others are the app secrets the stack creates (existing ones are only granted on).
    created = {f"{prefix}-{key.replace('_', '-')}" for key, s in config.app_secrets.items() if s.existing is None}
    assert set(secrets(program)) == wanted | created


def test_secrets_replicate_where_config_says(program: Recording, config: stack_config.StackConfig) -> None:
    for secret in program.of(SECRET):
        replication = secret.inputs["replication"]
        if config.secrets.replicas:
            assert set(replication) == {"userManaged"}
            assert [r["location"] for r in replication["userManaged"]["replicas"]] == config.secrets.replicas
        else:
            assert set(replication) == {"auto"}
    assert program_of("prod").of(SECRET)[0].inputs["replication"]["userManaged"]


def test_secrets_carry_labels_deletion_protection_and_protect_from_config(
    program: Recording, config: stack_config.StackConfig
) -> None:
    for secret in program.of(SECRET):
        assert secret.inputs["labels"]["cost-center"] == config.cost_center
        assert secret.inputs["labels"]["component"] in ("database", "redis", "app-secrets")
        assert secret.inputs["deletionProtection"] is config.protection.deletion_protection
        assert secret.protect is config.protection.protect
        assert program.depends_on(secret, program.named("apis-secretmanager"))


def test_generated_credentials_are_protected_in_prod_and_app_secret_values_can_be_replaced() -> None:
    """A generated password's version is its only copy; an app secret's value lives in the stack config, so setting it
    again replaces the version, and the one it replaces stays enabled (abandoned, not disabled or destroyed): a
    disabled version cannot be accessed, and revisions pinned to it must still start."""
    program = program_of("prod")
    versions = program.of("gcp:secretmanager/secretVersion:SecretVersion")
    generated = [v for v in versions if not v.name.startswith("app-secrets-")]
    app = [v for v in versions if v.name.startswith("app-secrets-")]
    assert generated
    assert app
    assert all(v.protect for v in generated)
    assert all(not v.protect and v.inputs["deletionPolicy"] == "ABANDON" for v in app)
    assert all("deletionPolicy" not in v.inputs for v in generated)


def _one_secret() -> None:
    secret = Secret(
        "token",
        secret_id="acme-dev-token",
        data=PLAINTEXT,
        args=SecretsArgs(replicas=["europe-west1"]),
        ctx=context_of("dev"),
        owner="test",
        accessors={"ops": "group:ops@example.com"},
    )
    secret.grant_access("api", "serviceAccount:api@acme-platform-dev.iam.gserviceaccount.com")


def test_readers_are_granted_secret_accessor_on_their_own_secret_only() -> None:
    recording = run(_one_secret)
    grants = recording.of("gcp:secretmanager/secretIamMember:SecretIamMember")
    assert {g.inputs["member"] for g in grants} == {
        "group:ops@example.com",
        "serviceAccount:api@acme-platform-dev.iam.gserviceaccount.com",
    }
    for grant in grants:
        assert grant.inputs["role"] == ACCESSOR_ROLE
        assert grant.inputs["secretId"] == "projects/acme-platform-dev/secrets/acme-dev-token"
    assert not recording.of("gcp:projects/iAMMember:IAMMember")  # never project-wide


def test_a_plain_value_becomes_a_secret_before_it_reaches_the_engine() -> None:
    recording = run(_one_secret)
    assert recording.named("token-version").inputs["secretData"] == "[secret]"
    assert PLAINTEXT not in json.dumps([r.to_json() for r in recording.resources])


@pytest.mark.parametrize("stack", STACKS)
def test_no_generated_password_or_auth_string_appears_in_the_plan(stack: str) -> None:
    program = program_of(stack)
    values = [r.outputs["result"] for r in program.of("random:index/randomPassword:RandomPassword")]
    values += [r.outputs["authString"] for r in program.of("gcp:redis/instance:Instance")]
    assert values
    assert all(len(v) >= 16 for v in values)
    estimates = report.estimate(stack, program, report.config_of(stack))
    plan = json.dumps(to_json(stack, program, estimates)) + render(stack, program) + report.render(estimates)
    for value in values:
        assert value not in plan
