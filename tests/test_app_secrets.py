"""App secrets: each service reads the secrets it names and no others, at the version config chooses, through a grant on
that one secret; created secrets replicate and rotate as config says; mistakes name their key."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

import stack_config
from components.app_secrets import ROTATE_EVENT
from components.secret import ACCESSOR_ROLE
from offline.engine import SECRET_PLACEHOLDER, Recording, Resource, run_program
from offline.engine import stack_config as stack_values
from tests.conftest import STACKS, config_of, program_of, raw_config
from tests.docs import yaml_blocks

SECRET = "gcp:secretmanager/secret:Secret"
VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
SECRET_GRANT = "gcp:secretmanager/secretIamMember:SecretIamMember"
SERVICE = "gcp:cloudrunv2/service:Service"
TOPIC = "gcp:pubsub/topic:Topic"
TOPIC_GRANT = "gcp:pubsub/topicIAMMember:TopicIAMMember"
SUBSCRIPTION = "gcp:pubsub/subscription:Subscription"
DAY = 86_400


def secret_envs(program: Recording, service: str) -> dict[str, dict[str, Any]]:
    """The service's env from Secret Manager: name -> {secret, version}."""
    (container,) = program.named(f"{service}-service").inputs["template"]["containers"]
    return {e["name"]: e["valueSource"]["secretKeyRef"] for e in container.get("envs", []) if "valueSource" in e}


def app_secret_ids(program: Recording) -> dict[str, str]:
    return dict(program.outputs["app_secret_ids"])


def parse(stack: str, **changes: Any) -> stack_config.StackConfig:
    raw = raw_config(stack)
    raw.update(changes)
    return stack_config.parse(raw, stack_file=f"Pulumi.{stack}.yaml")


@pytest.mark.parametrize("stack", STACKS)
def test_each_service_reads_exactly_the_app_secrets_it_names(stack: str) -> None:
    program, config = program_of(stack), config_of(stack)
    ids = app_secret_ids(program)
    data = {"DB_PASSWORD", "REDIS_AUTH"}  # the data bindings' own secrets
    for name, service in config.services.items():
        envs = {env: ref["secret"] for env, ref in secret_envs(program, name).items() if env not in data}
        assert envs == {env: ids[key] for env, key in service.secrets.items()}, name
        account = f"serviceAccount:{program.outputs['service_accounts'][name]}"
        granted = {g.inputs["secretId"] for g in program.of(SECRET_GRANT) if g.inputs["member"] == account}
        bindings = {program.outputs["database_password_secret_ids"].get(service.database or ""), None}
        if service.redis:
            bindings.add(program.outputs["redis_auth_secret_id"])
        assert granted - bindings == {ids[key] for key in service.secrets.values()}, name
    assert any(config.services[s].secrets for s in config.services)


@pytest.mark.parametrize("stack", STACKS)
def test_every_app_secret_grant_is_the_accessor_role_on_one_secret_for_one_service_account(stack: str) -> None:
    program = program_of(stack)
    ids = set(app_secret_ids(program).values())
    grants = [g for g in program.of(SECRET_GRANT) if g.inputs["secretId"] in ids]
    assert grants
    for grant in grants:
        assert grant.inputs["role"] == ACCESSOR_ROLE
        assert grant.inputs["member"].startswith("serviceAccount:")
        assert grant.inputs["secretId"].startswith(f"projects/{config_of(stack).gcp.project}/secrets/")
    roles = [g.inputs["role"] for g in program.of("gcp:projects/iAMMember:IAMMember")]
    assert ACCESSOR_ROLE not in roles  # never on the project, where it would open every secret


@pytest.mark.parametrize("stack", STACKS)
def test_a_revision_waits_for_its_app_secret_grants(stack: str) -> None:
    program = program_of(stack)
    service = program.named("api-service")
    grants = [g for g in program.of(SECRET_GRANT) if g.name.startswith("api-secret-")]
    assert grants
    assert all(program.depends_on(service, g) for g in grants)


def test_prod_pins_the_version_the_stack_wrote_and_dev_reads_the_latest() -> None:
    prod = program_of("prod")
    (version,) = [v for v in prod.of(VERSION) if v.name == "app-secrets-jwt_signing_key-version"]
    for service in ("api", "auth", "orders"):
        assert secret_envs(prod, service)["JWT_SIGNING_KEY"]["version"] == version.outputs["version"]
    assert secret_envs(program_of("dev"), "orders")["JWT_SIGNING_KEY"]["version"] == "latest"
    assert secret_envs(prod, "api")["GA_MEASUREMENT_ID"]["version"] == "latest"


@pytest.mark.parametrize("stack", STACKS)
def test_an_existing_secret_is_granted_on_and_never_created(stack: str) -> None:
    program, config = program_of(stack), config_of(stack)
    existing = f"projects/{config.gcp.project}/secrets/GA_MEASUREMENT_ID"
    assert app_secret_ids(program)["ga_measurement_id"] == existing
    assert "GA_MEASUREMENT_ID" not in {s.inputs["secretId"] for s in program.of(SECRET)}
    assert {g.inputs["member"] for g in program.of(SECRET_GRANT) if g.inputs["secretId"] == existing} == {
        f"serviceAccount:{program.outputs['service_accounts'][s]}" for s in ("api",)
    }


@pytest.mark.parametrize("stack", STACKS)
def test_a_created_secret_holds_the_config_value_as_a_secret_and_replicates_as_secrets_replicas_says(
    stack: str,
) -> None:
    program, config = program_of(stack), config_of(stack)
    secret = program.named("app-secrets-jwt_signing_key-secret")
    replication = secret.inputs["replication"]
    if config.secrets.replicas:
        assert [r["location"] for r in replication["userManaged"]["replicas"]] == config.secrets.replicas
    else:
        assert set(replication) == {"auto"}
    version = program.named("app-secrets-jwt_signing_key-version")
    assert version.inputs["secretData"] == "[secret]"
    assert version.revealed_inputs["secretData"]["value"] == SECRET_PLACEHOLDER
    assert SECRET_PLACEHOLDER not in json.dumps([r.inputs for r in program.resources])


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_a_rotating_secret_notifies_a_topic_only_secret_managers_agent_may_publish_to(stack: str) -> None:
    program, config = program_of(stack), config_of(stack)
    days = config.app_secrets["jwt_signing_key"].rotation_days
    assert days is not None
    secret = program.named("app-secrets-jwt_signing_key-secret")
    topic = program.named("app-secrets-rotation")
    assert secret.inputs["rotation"]["rotationPeriod"] == f"{days * DAY}s"
    assert secret.inputs["rotation"]["nextRotationTime"].endswith("T00:00:00Z")
    assert "rotation.nextRotationTime" in secret.ignore_changes  # Secret Manager moves it on after each notice
    assert secret.inputs["topics"] == [{"name": topic.outputs["id"]}]
    (grant,) = [g for g in program.of(TOPIC_GRANT) if g.inputs["topic"] == topic.inputs["name"]]
    assert grant.inputs["role"] == "roles/pubsub.publisher"
    assert grant.inputs["member"].endswith("@gcp-sa-secretmanager.iam.gserviceaccount.com")
    assert program.depends_on(secret, grant)  # Secret Manager checks it may publish when the secret names the topic


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_rotation_notices_are_kept_and_alerted_on_until_someone_rotates(stack: str) -> None:
    program = program_of(stack)
    topic = program.named("app-secrets-rotation")
    (due,) = [s for s in program.of(SUBSCRIPTION) if s.inputs["topic"] == topic.outputs["id"]]
    assert due.inputs["filter"] == f'attributes.eventType = "{ROTATE_EVENT}"'
    # Kept as long as Pub/Sub allows: a notice that expired would close the alert with nothing rotated.
    assert int(due.inputs["messageRetentionDuration"].removesuffix("s")) == 31 * DAY
    assert due.inputs["expirationPolicy"] == {"ttl": ""}
    alert = program.named("observability-app-secret-rotation-due")
    condition = alert.inputs["conditions"][0]["conditionThreshold"]
    assert f'resource.label.subscription_id="{due.inputs["name"]}"' in condition["filter"]
    assert "num_undelivered_messages" in condition["filter"]
    overdue = program.named("observability-app-secret-rotation-overdue")
    assert overdue.inputs["severity"] == "ERROR"
    aged = overdue.inputs["conditions"][0]["conditionThreshold"]
    assert f'resource.label.subscription_id="{due.inputs["name"]}"' in aged["filter"]
    assert "oldest_unacked_message_age" in aged["filter"]
    assert aged["thresholdValue"] == 7 * DAY  # well before the notice expires
    assert program.outputs["secret_rotation_topic"] == topic.outputs["id"]


def test_without_rotation_there_is_no_rotation_topic() -> None:
    program = program_of("dev")
    assert [t for t in program.of(TOPIC) if t.inputs["labels"]["component"] == "app-secrets"] == []
    assert "rotation" not in program.named("app-secrets-jwt_signing_key-secret").inputs
    assert program.outputs["secret_rotation_topic"] is None


def test_a_secret_no_service_names_is_kept_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *args, **kwargs: warnings.append(message))
    values, _ = stack_values("dev")
    secrets = json.loads(values["platform:app_secrets"])
    secrets["stripe_key"] = {"existing": "STRIPE_KEY"}
    program = run_program("dev", config={**values, "platform:app_secrets": json.dumps(secrets)})
    assert warnings == ["app_secrets.stripe_key is named by no service (services.<name>.secrets); remove it or use it"]
    assert program.outputs["app_secret_ids"]["stripe_key"].endswith("/secrets/STRIPE_KEY")


def test_every_secret_the_stacks_define_is_used() -> None:
    assert all(config_of(stack).unused_app_secrets() == [] for stack in STACKS)


def _service(stack: str, name: str, **changes: Any) -> dict[str, Any]:
    services = raw_config(stack)["services"]
    services[name] = {**services[name], **changes}
    return dict(services)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"services": _service("dev", "api", secrets={"STRIPE_KEY": "stripe_key"})},
            r"services\.api\.secrets\.STRIPE_KEY: 'stripe_key' is not defined in app_secrets",
        ),
        (
            {
                "services": _service(
                    "dev", "api", env={"UPSTREAM": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhcGkifQ.c2lnbmF0dXJl"}
                )
            },
            r"services\.api\.env\.UPSTREAM: its value looks like a JSON Web Token; .* name it under secrets",
        ),
        (
            {"services": _service("dev", "api", env={"SEED": "-----BEGIN RSA PRIVATE KEY-----\nMIIE"})},
            r"services\.api\.env\.SEED: its value looks like a private key",
        ),
        (
            {"services": _service("dev", "api", env={"DATABASE_URL": "postgres://app:hunter2@10.0.0.3/app"})},
            r"services\.api\.env\.DATABASE_URL: its value looks like a URL with a password in it",
        ),
        (
            {"services": _service("dev", "api", secrets={"DB_PASSWORD": "jwt_signing_key"})},
            r"services\.api\.secrets\.DB_PASSWORD: DB_PASSWORD is set by Cloud Run or from the data bindings",
        ),
        (
            {"services": _service("dev", "api", secrets={"LOG_LEVEL": "jwt_signing_key"})},
            r"services\.api\.secrets\.LOG_LEVEL: LOG_LEVEL is also a plain env value",
        ),
        (
            {"app_secrets": {"jwt_signing_key": {}, "ga_measurement_id": {"existing": "GA", "rotation_days": 30}}},
            r"app_secrets\.ga_measurement_id\.rotation_days: an existing secret's rotation is set where it is created",
        ),
        (
            {"app_secrets": {"jwt_signing_key": {}, "ga_measurement_id": {"existing": "GA", "version": "pinned"}}},
            r"app_secrets\.ga_measurement_id\.version: pinned names the version the stack writes",
        ),
        (
            {"app_secrets": {"jwt_signing_key": {"version": 3}, "ga_measurement_id": {"existing": "GA"}}},
            r"app_secrets\.jwt_signing_key\.version: the stack writes this secret's versions",
        ),
        (
            {"app_secrets": {"jwt_signing_key": {}, "ga_measurement_id": {"existing": "projects/x/secrets/GA"}}},
            r"app_secrets\.ga_measurement_id\.existing: .*is not a Secret Manager secret",
        ),
        (
            {
                "app_secrets": {
                    "jwt_signing_key": {},
                    "ga_measurement_id": {"existing": "projects/marketing-1/secrets/GA"},
                }
            },
            r"app_secrets\.ga_measurement_id\.existing: projects/marketing-1/secrets/GA is in another project",
        ),
        (
            {"app_secrets": {"JWT": {}}},
            r"app_secrets\.JWT\.\[key\]: string should match pattern",
        ),
    ],
)
def test_bad_app_secret_config_names_the_key(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(pulumi.RunError, match=message) as raised:
        parse("dev", **changes)
    assert "\n" not in str(raised.value)


def test_an_env_value_that_merely_looks_technical_is_not_taken_for_a_secret() -> None:
    env = {"CALLBACK_URL": "https://api.example.com/cb", "COMMIT": "3f9c2e1d4b5a69788a7b6c5d4e3f2a1b0c9d8e7f"}
    config = parse("dev", services=_service("dev", "api", env=env))
    assert config.services["api"].env == env


def _secret_resource(program: Recording, key: str) -> Resource:
    return program.named(f"app-secrets-{key}-secret")


def test_app_secrets_are_labelled_and_protected_as_the_stack_says() -> None:
    for stack in STACKS:
        secret, config = _secret_resource(program_of(stack), "jwt_signing_key"), config_of(stack)
        assert secret.inputs["labels"]["component"] == "app-secrets"
        assert secret.inputs["deletionProtection"] is config.protection.deletion_protection
        assert secret.protect is config.protection.protect


def test_the_examples_in_the_app_platform_guide_are_valid_stack_config() -> None:
    """docs/app-platform.md's examples, laid over prod's config, are what the stack file accepts."""
    raw = raw_config("prod")
    blocks = yaml_blocks("docs/app-platform.md")
    assert len(blocks) == 3
    for block in blocks:
        for key, value in block.items():
            name = key.removeprefix(f"{stack_config.NAMESPACE}:")
            if name == "services":  # wiring added to the services the stack already has
                raw["services"] = {**raw["services"], **{s: {**raw["services"][s], **v} for s, v in value.items()}}
            else:
                raw[name] = value
    config = stack_config.parse(raw, stack_file="docs/app-platform.md")
    assert config.app_secrets["jwt_signing_key"].version == "pinned"
    assert config.services["api"].secrets == {
        "JWT_SIGNING_KEY": "jwt_signing_key",
        "GA_MEASUREMENT_ID": "ga_measurement_id",
    }
    assert config.buckets["exports"].retention_policy is not None
    assert config.encryption.cmek
