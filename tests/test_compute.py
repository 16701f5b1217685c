"""The registry, the Cloud Run services and the migrations job, as the engine would receive them in every stack."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from collections.abc import Callable
from typing import Any

import pulumi
import pytest

import stack_config
from components import images
from components.cloud_run import BASE_ROLES, CloudRunService, ServiceArgs
from components.cloud_run.config import mebibytes
from components.images import BuildArgs, context_digest, image_tag, tagged_inputs
from components.network import Network
from components.refs import DatabaseBinding, RedisBinding
from components.registry import Registry
from offline.engine import Recording, Resource, run, run_program
from offline.plan import describe
from tests.conftest import STACKS, config_of, context_of, program_of, raw_config
from tests.docs import yaml_blocks

REPOSITORY = "gcp:artifactregistry/repository:Repository"
SERVICE = "gcp:cloudrunv2/service:Service"
JOB = "gcp:cloudrunv2/job:Job"
ACCOUNT = "gcp:serviceaccount/account:Account"
PROJECT_IAM = "gcp:projects/iAMMember:IAMMember"
SECRET_IAM = "gcp:secretmanager/secretIamMember:SecretIamMember"
RUN_IAM = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
IMAGE = "docker:index/image:Image"
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # how the wire format marks a secret value


def service_of(program: Recording, key: str) -> Resource:
    return program.named(f"{key}-service")


def container_of(service: Resource) -> dict[str, Any]:
    (container,) = service.inputs["template"]["containers"]
    return dict(container)


def owned_by(program: Recording, key: str, type_: str) -> list[Resource]:
    return [r for r in program.children(program.named(key)) if r.type == type_]


# --- Registry -------------------------------------------------------------------------------------------------------


def test_the_repository_is_docker_scanned_and_cleaned_up_by_config(program: Recording, stack: str) -> None:
    registry = config_of(stack).registry
    repo = program.one(REPOSITORY)
    assert repo.inputs["format"] == "DOCKER"
    assert repo.inputs["vulnerabilityScanningConfig"] == {"enablementConfig": "INHERITED"}
    assert repo.inputs["cleanupPolicyDryRun"] is registry.cleanup.dry_run
    policies = {p["id"]: p for p in repo.inputs["cleanupPolicies"]}
    assert policies["keep-recent"]["action"] == "KEEP"
    assert policies["keep-recent"]["mostRecentVersions"]["keepCount"] == registry.cleanup.keep_recent
    assert policies["delete-untagged"]["action"] == "DELETE"
    assert policies["delete-untagged"]["condition"] == {
        "tagState": "UNTAGGED",
        "olderThan": f"{registry.cleanup.delete_untagged_after_days * 86400}s",
    }
    assert program.depends_on(repo, program.named("apis-containerscanning"))
    assert program.depends_on(repo, program.named("apis-artifactregistry"))


def test_prod_tags_are_immutable_and_its_repository_protected() -> None:
    repo = program_of("prod").one(REPOSITORY)
    assert repo.inputs["dockerConfig"] == {"immutableTags": True}
    assert repo.inputs["deletionPolicy"] == "PREVENT"
    assert repo.protect
    assert program_of("dev").one(REPOSITORY).inputs["dockerConfig"] == {"immutableTags": False}
    assert not program_of("dev").one(REPOSITORY).protect


def test_the_image_repository_output_is_the_docker_url_of_the_repository(program: Recording, config: Any) -> None:
    repo = program.one(REPOSITORY)
    expected = f"{config.gcp.region}-docker.pkg.dev/{config.gcp.project}/{repo.inputs['repositoryId']}"
    assert program.outputs["image_repository"] == expected


def test_a_shared_repository_is_used_without_creating_one() -> None:
    raw = copy.deepcopy(raw_config("dev"))
    raw["registry"] = {"shared": {"project": "acme-shared", "location": "europe-west1", "repository": "containers"}}
    recording = run_with("dev", raw)
    assert not recording.of(REPOSITORY)
    assert recording.outputs["image_repository"] == "europe-west1-docker.pkg.dev/acme-shared/containers"
    assert (
        recording.named("api-image")
        .inputs["imageName"]
        .startswith("europe-west1-docker.pkg.dev/acme-shared/containers/api:")
    )


# --- Images ---------------------------------------------------------------------------------------------------------


def test_dev_builds_each_example_image_tagged_by_its_context_and_runs_it_by_digest() -> None:
    program = program_of("dev")
    for key, service in config_of("dev").services.items():
        assert service.build is not None
        context = service.build.context
        tag = image_tag(service.build)
        image = program.named(f"{key}-image")
        assert image.inputs["build"] == {
            "context": context,
            "dockerfile": f"{context}/Dockerfile",
            "platform": "linux/amd64",
        }
        # Everything pulumi-docker compares to decide on a rebuild, other than the image name, is in the tag.
        assert {k: v for k, v in image.inputs.items() if k not in ("imageName", "registry")} == tagged_inputs(
            service.build
        )
        assert image.inputs["imageName"] == f"{program.outputs['image_repository']}/{key}:{tag}"
        running = container_of(service_of(program, key))["image"]
        assert running == image.outputs["repoDigest"]
        assert "@sha256:" in running
        assert program.outputs["service_images"][key] == running


def test_the_registry_login_is_a_short_lived_token_kept_secret() -> None:
    image = program_of("dev").named("api-image")
    # On the wire a secret carries a signature; the recording masks it where it is ("[secret]").
    assert image.inputs["registry"]["password"] == "[secret]", "the registry token must reach the engine as a secret"
    assert SECRET_SIG in image.revealed_inputs["registry"]["password"]
    assert image.inputs["registry"]["username"] == "oauth2accesstoken"


def test_configured_references_resolve_in_the_stack_repository_and_builds_run_by_digest(
    program: Recording, config: Any
) -> None:
    repository = program.outputs["image_repository"]
    for key, service in config.services.items():
        running = container_of(service_of(program, key))["image"]
        if service.image:
            assert running == f"{repository}/{service.image}"
            assert not [r for r in program.children(program.named(key)) if r.type == IMAGE]
        else:
            assert running == program.named(f"{key}-image").outputs["repoDigest"]


# The example image of each role: the stack files name released images by the example they were built from.
RELEASED = {"api": "gateway", "auth": "backend", "platform": "backend", "orders": "backend", "analytics": "analytics"}


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_staging_and_prod_deploy_released_digests_and_build_nothing(stack: str) -> None:
    """A release is an image digest in the stack file: nothing is built at deploy time, and no service (app-owned
    ones included) runs a tag that could move."""
    services = config_of(stack).services
    for key, service in services.items():
        assert service.build is None, key
        assert service.image is not None
        name, _, digest = service.image.partition("@sha256:")
        assert name == RELEASED[key], key
        assert re.fullmatch(r"[a-f0-9]{64}", digest), key
    assert {s.deploy_mode for s in services.values()} == {"pulumi", "app"}
    program = program_of(stack)
    assert not program.of(IMAGE)
    repository = program.outputs["image_repository"]
    for resource in program.of(SERVICE):
        assert "@sha256:" in container_of(resource)["image"]
        assert container_of(resource)["image"].startswith(f"{repository}/")


def test_dev_builds_every_service_from_this_repository() -> None:
    services = config_of("dev").services
    assert all(s.build is not None and s.image is None for s in services.values())
    assert len(program_of("dev").of(IMAGE)) == len(services)


def test_the_content_hash_ignores_mtimes_and_dockerignored_files_but_not_content(tmp_path: Any) -> None:
    (tmp_path / "app.py").write_text("print('v1')\n")
    (tmp_path / "notes.md").write_text("draft\n")
    (tmp_path / "keep.md").write_text("kept\n")
    (tmp_path / ".dockerignore").write_text("# docs stay out\n*.md\n!keep.md\n")
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM scratch\n")
    first = context_digest(tmp_path, dockerfile)
    (tmp_path / "notes.md").write_text("changed, but ignored\n")
    assert context_digest(tmp_path, dockerfile) == first
    (tmp_path / "keep.md").write_text("re-included, so it counts\n")
    second = context_digest(tmp_path, dockerfile)
    assert second != first
    (tmp_path / "app.py").write_text("print('v2')\n")
    assert context_digest(tmp_path, dockerfile) != second
    third = context_digest(tmp_path, dockerfile)
    dockerfile.write_text("FROM scratch\nUSER 1000\n")
    assert context_digest(tmp_path, dockerfile) != third


def _project(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> BuildArgs:
    """A build context in a throwaway project: app/ with a Dockerfile, a script and a README."""
    monkeypatch.setattr(images, "PROJECT_ROOT", tmp_path)
    (tmp_path / "app" / "docs").mkdir(parents=True)
    (tmp_path / "app" / "Dockerfile").write_text("FROM scratch\nCOPY run.sh /\n")
    (tmp_path / "app" / "run.sh").write_text("#!/bin/sh\n")
    (tmp_path / "app" / "docs" / "notes.md").write_text("draft\n")
    return BuildArgs(context="app")


def test_a_file_mode_change_gives_a_new_tag_since_pulumi_docker_rebuilds_on_it(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pulumi-docker hashes each file's mode into its context digest; a rebuild under the old tag is refused where tags
    are immutable."""
    build = _project(tmp_path, monkeypatch)
    before = image_tag(build)
    (tmp_path / "app" / "run.sh").chmod(0o755)
    assert image_tag(build) != before


def test_every_build_option_is_in_the_tag(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    build = _project(tmp_path, monkeypatch)
    before = image_tag(build)
    assert image_tag(BuildArgs(context="app", dockerfile="app/Dockerfile")) == before  # the same input to pulumi-docker
    (tmp_path / "Dockerfile.app").write_text((tmp_path / "app" / "Dockerfile").read_text())
    assert image_tag(BuildArgs(context="app", dockerfile="Dockerfile.app")) != before  # same content, another input
    monkeypatch.setattr(images, "PLATFORM", "linux/arm64")
    assert image_tag(build) != before


def test_ignore_patterns_match_as_docker_matches_them(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """`*` stops at `/` in a .dockerignore, so `*.md` leaves docs/notes.md in the context (and in the tag)."""
    build = _project(tmp_path, monkeypatch)
    (tmp_path / "app" / ".dockerignore").write_text("*.md\n")
    before = image_tag(build)
    (tmp_path / "app" / "docs" / "notes.md").write_text("sent to Docker, so it counts\n")
    assert image_tag(build) != before
    (tmp_path / "app" / ".dockerignore").write_text("**/*.md\n")
    before = image_tag(build)
    (tmp_path / "app" / "docs" / "notes.md").write_text("ignored at any depth\n")
    assert image_tag(build) == before


def test_a_dockerfile_specific_ignore_file_wins_over_the_contexts(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    build = _project(tmp_path, monkeypatch)
    (tmp_path / "app" / ".dockerignore").write_text("docs\n")
    (tmp_path / "app" / "Dockerfile.dockerignore").write_text("*.sh\n")
    before = image_tag(build)
    (tmp_path / "app" / "docs" / "notes.md").write_text("sent: the Dockerfile's ignore file does not name docs\n")
    assert image_tag(build) != before
    before = image_tag(build)
    (tmp_path / "app" / "run.sh").write_text("#!/bin/sh\necho ignored\n")
    assert image_tag(build) == before


# --- Services: identity, sizing, probes, network ---------------------------------------------------------------------


def test_one_service_per_configured_service_in_each_serving_region(program: Recording, config: Any, stack: str) -> None:
    placed = sorted((r.inputs["name"], r.inputs["location"]) for r in program.of(SERVICE))
    regions = config.serving_regions()
    assert placed == sorted((f"{config.prefix}-{stack}-{key}", r) for key in config.services for r in regions)
    assert set(program.outputs["service_urls"]) == set(config.services)
    assert all(
        url.startswith("https://") and url.endswith(".run.app") for url in program.outputs["service_urls"].values()
    )


def test_each_service_runs_as_its_own_account_with_only_the_roles_it_needs(program: Recording, config: Any) -> None:
    emails = program.outputs["service_accounts"]
    assert len(set(emails.values())) == len(config.services)
    for key in config.services:
        template = service_of(program, key).inputs["template"]
        assert template["serviceAccount"] == emails[key]
        connects = "volumes" in template  # wired to Cloud SQL
        grants = owned_by(program, key, PROJECT_IAM)
        assert sorted(g.inputs["role"] for g in grants) == sorted(
            [*BASE_ROLES, *(["roles/cloudsql.client"] if connects else [])]
        )
        assert {g.inputs["member"] for g in grants} == {f"serviceAccount:{emails[key]}"}


def test_scaling_resources_and_timeouts_follow_config(program: Recording, config: Any) -> None:
    for key, service in config.services.items():
        template = service_of(program, key).inputs["template"]
        assert template["executionEnvironment"] == "EXECUTION_ENVIRONMENT_GEN2"
        assert template["scaling"] == {
            "minInstanceCount": service.min_instances,
            "maxInstanceCount": service.max_instances,
        }
        assert template["maxInstanceRequestConcurrency"] == service.concurrency
        assert template["timeout"] == f"{service.timeout_seconds}s"
        resources = container_of(service_of(program, key))["resources"]
        assert resources["limits"] == {"cpu": service.cpu, "memory": service.memory}
        assert resources["startupCpuBoost"] is True
        assert resources["cpuIdle"] is service.cpu_idle


def test_dev_scales_to_zero_and_prod_keeps_warm_instances() -> None:
    dev = [service_of(program_of("dev"), k) for k in config_of("dev").services]
    prod = [service_of(program_of("prod"), k) for k in config_of("prod").services]
    assert all(s.inputs["template"]["scaling"]["minInstanceCount"] == 0 for s in dev)
    assert all(s.inputs["template"]["scaling"]["minInstanceCount"] >= 1 for s in prod)


def test_startup_and_liveness_probes_use_the_health_path(program: Recording, config: Any) -> None:
    for key, service in config.services.items():
        container = container_of(service_of(program, key))
        for probe in ("startupProbe", "livenessProbe"):
            assert container[probe]["httpGet"] == {"path": service.health_path, "port": service.port}
            assert container[probe]["timeoutSeconds"] <= container[probe]["periodSeconds"]


@pytest.mark.parametrize("stack", STACKS)
def test_no_service_is_checked_on_a_path_cloud_run_may_reserve(stack: str) -> None:
    """Cloud Run reserves /eventlog, /_ah/ and some paths ending in z at a service's URL, where the uptime checks and
    the smoke test call the health path; the probes use it too."""
    assert ServiceArgs.model_fields["health_path"].default == "/health"
    for key, service in config_of(stack).services.items():
        path = service.health_path
        assert not path.endswith("z"), key
        assert not path.startswith("/_ah/"), key
        assert path != "/eventlog", key


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/_ah/health", "/eventlog"])
def test_a_health_path_cloud_run_may_reserve_is_refused_with_one_line(path: str) -> None:
    with pytest.raises(pulumi.RunError) as err:
        parse(services_with("dev", lambda s: s["platform"].update(health_path=path)))
    message = str(err.value)
    assert message.startswith(
        "invalid stack config in Pulumi.test.yaml: services.platform.health_path: Cloud Run reserves"
    )
    assert len(message.splitlines()) == 1


def test_services_reach_the_vpc_through_direct_egress_on_the_serverless_subnet(program: Recording, config: Any) -> None:
    subnet = program.named(f"network-{config.network.serverless_subnet}").outputs["id"]
    for key, service in config.services.items():
        access = service_of(program, key).inputs["template"]["vpcAccess"]
        assert "connector" not in access
        assert [i["subnetwork"] for i in access["networkInterfaces"]] == [subnet]
        expected = {"private-ranges": "PRIVATE_RANGES_ONLY", "all-traffic": "ALL_TRAFFIC"}[service.egress]
        assert access["egress"] == expected
    backends = [k for k, s in config.services.items() if s.database and not s.public]
    assert backends
    assert all(
        service_of(program, k).inputs["template"]["vpcAccess"]["egress"] == "PRIVATE_RANGES_ONLY" for k in backends
    )


def test_services_wait_for_the_run_api(program: Recording, config: Any) -> None:
    for key in config.services:
        assert program.depends_on(service_of(program, key), program.named("apis-run"))


def test_deletion_protection_follows_the_stack(program: Recording, config: Any) -> None:
    for resource in [*program.of(SERVICE), *program.of(JOB)]:
        assert resource.inputs["deletionProtection"] is config.protection.deletion_protection


# --- Ingress and invokers -------------------------------------------------------------------------------------------


def test_public_is_the_only_way_to_get_an_allusers_invoker(program: Recording, config: Any) -> None:
    public = {r.parent for r in program.of(RUN_IAM, member="allUsers", role="roles/run.invoker")}
    expected = {program.named(k).urn for k, s in config.services.items() if s.public}
    assert public == expected
    assert expected, "every stack serves its gateway publicly"


def test_prod_gateway_is_reachable_only_through_the_load_balancer_in_every_region() -> None:
    prod = program_of("prod")
    for region in ("europe-west1", "europe-west4"):
        gateway = prod.one(SERVICE, name="acme-prod-api", location=region)
        assert gateway.inputs["ingress"] == "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
        for key in ("auth", "platform", "orders", "analytics"):
            backend = prod.one(SERVICE, name=f"acme-prod-{key}", location=region)
            assert backend.inputs["ingress"] == "INGRESS_TRAFFIC_INTERNAL_ONLY"


def test_dev_gateway_is_public_on_its_own_url_and_backends_stay_internal() -> None:
    dev = program_of("dev")
    assert service_of(dev, "api").inputs["ingress"] == "INGRESS_TRAFFIC_ALL"
    assert service_of(dev, "orders").inputs["ingress"] == "INGRESS_TRAFFIC_INTERNAL_ONLY"


def test_callers_get_the_invoker_role_on_exactly_the_services_they_call(program: Recording, config: Any) -> None:
    emails = program.outputs["service_accounts"]
    for key, service in config.services.items():
        members = {r.inputs["member"] for r in owned_by(program, key, RUN_IAM) if r.inputs["member"] != "allUsers"}
        assert members == {f"serviceAccount:{emails[c]}" for c in service.invokers}


# --- Traffic and deploy modes ---------------------------------------------------------------------------------------


def test_prod_gateway_is_released_blue_green_by_named_revision() -> None:
    gateway = service_of(program_of("prod"), "api")
    assert gateway.inputs["template"]["revision"] == "acme-prod-api-v1"
    assert gateway.inputs["traffics"] == [
        {
            "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
            "revision": "acme-prod-api-v1",
            "percent": 100,
            "tag": "blue",
        }
    ]
    assert gateway.ignore_changes == ()


def test_a_canary_is_a_config_change() -> None:
    raw = copy.deepcopy(raw_config("prod"))
    gateway = raw["services"]["api"]  # type: ignore[index]
    gateway["revision"] = "v2"
    gateway["traffic"] = [
        {"revision": "v1", "percent": 90, "tag": "blue"},
        {"revision": "v2", "percent": 10, "tag": "green"},
    ]
    traffic = service_of(run_with("prod", raw), "api").inputs["traffics"]
    assert [(t["revision"], t["percent"], t["tag"]) for t in traffic] == [
        ("acme-prod-api-v1", 90, "blue"),
        ("acme-prod-api-v2", 10, "green"),
    ]


def test_dev_sends_all_traffic_to_the_latest_revision() -> None:
    for key in config_of("dev").services:
        service = service_of(program_of("dev"), key)
        assert service.inputs["traffics"] == [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100}]
        assert service.ignore_changes == ()


def test_app_owned_services_leave_image_revision_and_traffic_to_the_app(program: Recording, config: Any) -> None:
    for key, service in config.services.items():
        resource = service_of(program, key)
        if service.deploy_mode == "app":
            assert {"template.containers[0].image", "template.revision", "traffics"} <= set(resource.ignore_changes)
            assert "traffics" not in resource.inputs
        else:
            assert resource.ignore_changes == ()
    assert any(s.deploy_mode == "app" for s in config_of("prod").services.values())


# --- Migrations job -------------------------------------------------------------------------------------------------


def test_the_migrations_job_runs_the_owner_image_with_its_identity_and_egress(program: Recording, config: Any) -> None:
    (owner,) = [k for k, s in config.services.items() if s.migrations]
    migrations = config.services[owner].migrations
    job = program.one(JOB)
    template = job.inputs["template"]["template"]
    (container,) = template["containers"]
    service = service_of(program, owner)
    assert container["image"] == container_of(service)["image"]
    assert container["commands"] == migrations.command
    assert container.get("args", []) == migrations.args
    assert template["serviceAccount"] == service.inputs["template"]["serviceAccount"]
    assert template["vpcAccess"] == service.inputs["template"]["vpcAccess"]
    # The same cpu and memory, so the service's check of what Cloud Run accepts together covers the job too.
    assert container["resources"]["limits"] == container_of(service)["resources"]["limits"]
    assert template["timeout"] == f"{migrations.timeout_seconds}s"
    assert job.inputs["template"]["taskCount"] == 1
    assert program.outputs["migration_job_name"] == job.outputs["name"] == job.inputs["name"]


def test_an_app_owned_migrations_job_follows_the_app_deploys_image() -> None:
    job = program_of("prod").one(JOB)
    assert "template.template.containers[0].image" in job.ignore_changes
    assert program_of("dev").one(JOB).ignore_changes == ()


# --- Data bindings (wired by the data tier; fake ones prove the wiring) ---------------------------------------------

CONNECTION = "acme-platform-dev:europe-west1:acme-dev-db"
DB = DatabaseBinding(
    connection_name=CONNECTION,
    database="app",
    user="app",
    password_secret_id="projects/acme-platform-dev/secrets/acme-dev-orders-password",
)
REDIS = RedisBinding(
    host="10.11.0.5", port=6378, auth_secret_id="projects/acme-platform-dev/secrets/acme-dev-redis-auth"
)


def with_bindings(
    service: ServiceArgs,
    database: DatabaseBinding | None = DB,
    redis: RedisBinding | None = REDIS,
    invokers: dict[str, str] | None = None,
) -> Recording:
    """One service on a fresh engine, given the bindings the data tier will pass."""
    config = config_of("dev")

    def program() -> None:
        # What the data tier passes: outputs of its resources (made here, on this run's event loop).
        db = dataclasses.replace(database, connection_name=pulumi.Output.from_input(CONNECTION)) if database else None
        ctx = context_of("dev")
        network = Network("network", config.network, ctx=ctx)
        registry = Registry("registry", config.registry, ctx=ctx)
        CloudRunService(
            "orders",
            service,
            ctx=ctx,
            network=network.ref,
            image_repository=registry.url,
            invokers={"api": "gw@acme-platform-dev.iam.gserviceaccount.com"} if invokers is None else invokers,
            database=db,
            redis=redis,
        )

    return run(program)


@pytest.fixture(scope="module")
def bound() -> Recording:
    return with_bindings(config_of("dev").services["orders"])


def envs_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container["envs"]}


def test_secrets_reach_the_service_as_secret_references_only(bound: Recording) -> None:
    for resource in (bound.one(SERVICE), bound.one(JOB)):
        template = resource.inputs["template"]
        container = (template.get("template") or template)["containers"][0]
        envs = envs_of(container)
        assert envs["DB_PASSWORD"] == {
            "name": "DB_PASSWORD",
            "valueSource": {"secretKeyRef": {"secret": DB.password_secret_id, "version": "latest"}},
        }
        assert envs["REDIS_AUTH"] == {
            "name": "REDIS_AUTH",
            "valueSource": {"secretKeyRef": {"secret": REDIS.auth_secret_id, "version": "latest"}},
        }
        configured = config_of("dev").services["orders"].env  # LOG_LEVEL, SERVICE_ROLE
        assert {k: e.get("value") for k, e in envs.items() if k not in configured and "value" in e} == {
            "DB_NAME": "app",
            "DB_USER": "app",
            "INSTANCE_CONNECTION_NAME": "acme-platform-dev:europe-west1:acme-dev-db",
            "DB_HOST": "/cloudsql/acme-platform-dev:europe-west1:acme-dev-db",
            "REDIS_HOST": "10.11.0.5",
            "REDIS_PORT": "6378",
        }


def test_the_cloud_sql_instance_is_mounted_in_the_service_and_the_job(bound: Recording) -> None:
    for resource in (bound.one(SERVICE), bound.one(JOB)):
        template = resource.inputs["template"]
        template = template.get("template") or template
        assert template["volumes"] == [
            {"name": "cloudsql", "cloudSqlInstance": {"instances": ["acme-platform-dev:europe-west1:acme-dev-db"]}}
        ]
        assert template["containers"][0]["volumeMounts"] == [{"name": "cloudsql", "mountPath": "/cloudsql"}]


def test_the_account_reads_exactly_its_own_secrets_and_connects_to_cloud_sql(bound: Recording) -> None:
    member = f"serviceAccount:{bound.one(ACCOUNT).outputs['email']}"
    grants = bound.of(SECRET_IAM)
    assert sorted(g.inputs["secretId"] for g in grants) == sorted(
        str(s) for s in (DB.password_secret_id, REDIS.auth_secret_id)
    )
    assert {(g.inputs["role"], g.inputs["member"]) for g in grants} == {("roles/secretmanager.secretAccessor", member)}
    assert sorted(g.inputs["role"] for g in bound.of(PROJECT_IAM)) == sorted([*BASE_ROLES, "roles/cloudsql.client"])


def test_a_revision_starts_only_after_its_secrets_are_readable(bound: Recording) -> None:
    for grant in bound.of(SECRET_IAM):
        assert bound.depends_on(bound.one(SERVICE), grant)
        assert bound.depends_on(bound.one(JOB), grant)


def test_a_service_without_bindings_gets_no_secrets_and_no_cloud_sql_role() -> None:
    recording = with_bindings(config_of("dev").services["orders"], database=None, redis=None)
    assert not recording.of(SECRET_IAM)
    assert "roles/cloudsql.client" not in {g.inputs["role"] for g in recording.of(PROJECT_IAM)}
    assert "volumes" not in recording.one(SERVICE).inputs["template"]


# --- Config validation ----------------------------------------------------------------------------------------------


def services_with(stack: str, change: Callable[[dict[str, Any]], None]) -> dict[str, object]:
    raw = copy.deepcopy(raw_config(stack))
    change(raw["services"])  # type: ignore[arg-type]
    return raw


def parse(raw: dict[str, object]) -> stack_config.StackConfig:
    return stack_config.parse(raw, stack_file="Pulumi.test.yaml")


def run_with(stack: str, raw: dict[str, object]) -> Recording:
    config = {f"platform:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}
    return run_program(stack, config=config)


@pytest.mark.parametrize(
    ("stack", "change", "message"),
    [
        ("dev", lambda s: s["orders"].update(image="orders:1.0.0"), r"services\.orders\.image: set exactly one of"),
        ("prod", lambda s: s["api"].pop("image"), r"services\.api\.image: set exactly one of"),
        ("prod", lambda s: s["api"].update(image="api:latest"), r"moving tag 'latest'"),
        ("prod", lambda s: s["api"].update(image="gcr.io/acme/gateway"), r"has no tag"),
        ("dev", lambda s: s["orders"].update(min_instances=5), r"services\.orders\.min_instances: .* above max"),
        ("dev", lambda s: s["orders"]["build"].update(context="services/nope"), r"build\.context: 'services/nope' is"),
        ("dev", lambda s: s["orders"]["build"].update(context="services/../../outside"), r"leaves the project"),
        (
            "dev",
            lambda s: s["orders"]["build"].update(dockerfile="services/Dockerfile"),
            r"no Dockerfile at 'services/Do",
        ),
        ("dev", lambda s: s["orders"]["env"].update(DB_PASSWORD="x"), r"env\.DB_PASSWORD: .* set by Cloud Run"),
        ("dev", lambda s: s["orders"]["env"].update(STRIPE_TOKEN="x"), r"env\.STRIPE_TOKEN: .* looks like a secret"),
        ("dev", lambda s: s["orders"].pop("database"), r"services\.orders\.migrations: migrations need"),
        (
            "prod",
            lambda s: s["api"].update(ingress="all"),
            r"services\.api\.ingress: .*internal-and-lb",
        ),
        (
            "dev",
            lambda s: s["api"].update(ingress="internal"),
            r"services\.api\.public: .*ingress: all",
        ),
        ("dev", lambda s: s["orders"].update(ingress="internal-and-lb"), r"ingress internal-and-lb is for services"),
        ("prod", lambda s: s["api"]["traffic"][0].update(percent=90), r"traffic: .* add up to 90"),
        ("prod", lambda s: s["api"]["traffic"][0].update(latest=True), r"traffic\.0\.revision: set exactly"),
        (
            "prod",
            lambda s: s["api"]["traffic"].append({"revision": "v1", "percent": 0}),
            r"traffic names target revision v1 more than once",
        ),
        (
            "prod",
            lambda s: s["orders"].update(traffic=[{"latest": True, "percent": 100, "tag": "live"}]),
            r"deploy_mode app leaves",
        ),
        ("prod", lambda s: s["orders"].update(revision="v2"), r"services\.orders\.revision: deploy_mode app leaves"),
        ("dev", lambda s: s["analytics"].update(migrations={"command": ["x"]}), r"analytics\.migrations: only one"),
        ("dev", lambda s: s["orders"].update(invokers=["billing"]), r"orders\.invokers: 'billing' is not another"),
        ("dev", lambda s: s["api"].update(egress="private-ranges"), r"api\.egress: .* all-traffic"),
        ("dev", lambda s: s["api"].update(invokers=["orders"]), r"services: services invoke each other"),
        ("dev", lambda s: s.update({"Billing": s["orders"]}), r"services\.Billing"),
        ("dev", lambda s: s["orders"].update(memory="1GB"), r"services\.orders\.memory"),
    ],
)
def test_a_service_config_mistake_names_the_key(
    stack: str, change: Callable[[dict[str, Any]], None], message: str
) -> None:
    with pytest.raises(pulumi.RunError, match=message):
        parse(services_with(stack, change))


@pytest.mark.parametrize(
    ("name", "word"),
    [
        ("API_KEY", "KEY"),
        ("STRIPE_KEY_LIVE", "KEY"),
        ("SSH_PRIVATE_KEY", "KEY"),
        ("apiKey", "KEY"),
        ("APIKEY", "APIKEY"),
        ("DB_PASS", "PASS"),
        ("SMTP_PASSWD", "PASSWD"),
        ("BASIC_AUTH", "AUTH"),
        ("HTTPAuth", "AUTH"),
        ("STRIPE_TOKEN", "TOKEN"),
        ("DBPASSWORD", "PASSWORD"),
    ],
)
def test_env_names_that_look_like_secrets_are_refused_and_told_where_secrets_go(name: str, word: str) -> None:
    with pytest.raises(pulumi.RunError) as err:
        parse(services_with("dev", lambda s: s["platform"]["env"].update({name: "x"})))
    assert f"services.platform.env.{name}: {name} looks like a secret ({word}); " in str(err.value)
    assert "keep the value in Secret Manager (app secrets get their own config)" in str(err.value)


@pytest.mark.parametrize(
    "name",
    [
        "KEYCLOAK_URL",
        "AUTHOR",
        "authorName",
        "PASSENGER_LIMIT",
        "MONKEY_MODE",
        "OAUTH_CLIENT_ID",
        "PUBLIC_KEY",
        "COMPASS",
    ],
)
def test_harmless_env_names_that_contain_key_pass_or_auth_are_accepted(name: str) -> None:
    config = parse(services_with("dev", lambda s: s["platform"]["env"].update({name: "x"})))
    assert config.services["platform"].env[name] == "x"


def test_memory_below_what_gen2_needs_is_refused_with_one_line() -> None:
    with pytest.raises(pulumi.RunError) as err:
        parse(services_with("dev", lambda s: s["platform"].update(memory="256Mi")))
    assert str(err.value) == (
        "invalid stack config in Pulumi.test.yaml: services.platform.memory: 256Mi is below the 512Mi that Cloud Run's "
        "second-generation execution environment needs (services here run gen2, and the migrations job can run "
        "nothing else); set memory: 512Mi or more"
    )


@pytest.mark.parametrize(
    ("cpu", "memory", "line"),
    [
        ("1", "8Gi", "services.platform.memory: memory 8Gi needs cpu 2 or more in Cloud Run"),
        ("2", "12Gi", "services.platform.memory: memory 12Gi needs cpu 4 or more in Cloud Run"),
        ("4", "20Gi", "services.platform.memory: memory 20Gi needs cpu 6 or more in Cloud Run"),
        ("6", "32Gi", "services.platform.memory: memory 32Gi needs cpu 8 or more in Cloud Run"),
        ("8", "64Gi", "services.platform.memory: 64Gi is above the 32Gi Cloud Run allows an instance"),
        ("4", "512Mi", "services.platform.cpu: cpu 4 needs memory 2Gi or more in Cloud Run"),
        ("6", "2Gi", "services.platform.cpu: cpu 6 needs memory 4Gi or more in Cloud Run"),
        ("8", "3Gi", "services.platform.cpu: cpu 8 needs memory 4Gi or more in Cloud Run"),
    ],
)
def test_cpu_and_memory_cloud_run_refuses_together_are_one_line_naming_both_keys(
    cpu: str, memory: str, line: str
) -> None:
    """The migrations job runs with its service's cpu and memory, so one check covers both."""
    with pytest.raises(pulumi.RunError) as err:
        parse(services_with("dev", lambda s: s["platform"].update(cpu=cpu, memory=memory)))
    message = str(err.value)
    assert message.startswith(f"invalid stack config in Pulumi.test.yaml: {line}"), message
    assert len(message.splitlines()) == 1
    if "above" not in line:  # the line names the other key too
        assert {"cpu", "memory"} <= set(re.findall(r"\b(cpu|memory)\b", message.split(": ", 2)[2]))


@pytest.mark.parametrize(
    ("cpu", "memory"),
    [("1", "4Gi"), ("2", "8Gi"), ("4", "2Gi"), ("4", "16Gi"), ("6", "4Gi"), ("6", "24Gi"), ("8", "4Gi"), ("8", "32Gi")],
)
def test_the_edges_of_what_cloud_run_accepts_are_accepted(cpu: str, memory: str) -> None:
    config = parse(services_with("dev", lambda s: s["platform"].update(cpu=cpu, memory=memory)))
    assert (config.services["platform"].cpu, config.services["platform"].memory) == (cpu, memory)


def test_every_service_and_job_asks_for_the_memory_its_execution_environment_needs(program: Recording) -> None:
    """Cloud Run rejects a gen2 service or job below 512 MiB; jobs always run gen2."""
    for service in program.of(SERVICE):
        assert service.inputs["template"]["executionEnvironment"] == "EXECUTION_ENVIRONMENT_GEN2"
        assert mebibytes(container_of(service)["resources"]["limits"]["memory"]) >= 512, service.name
    for job in program.of(JOB):
        (container,) = job.inputs["template"]["template"]["containers"]
        assert job.inputs["template"]["template"]["executionEnvironment"] == "EXECUTION_ENVIRONMENT_GEN2"
        assert mebibytes(container["resources"]["limits"]["memory"]) >= 512, job.name


def test_a_config_survives_a_round_trip_through_its_own_dump(config: Any) -> None:
    assert stack_config.StackConfig.model_validate(config.model_dump()) == config


def test_a_shared_registry_takes_no_options_of_its_own() -> None:
    raw = copy.deepcopy(raw_config("prod"))
    raw["registry"] = {
        "immutable_tags": True,
        "shared": {"project": "acme-shared", "location": "europe-west1", "repository": "containers"},
    }
    with pytest.raises(pulumi.RunError, match=r"registry\.immutable_tags: registry\.shared is set"):
        parse(raw)


def test_callers_are_created_before_the_services_they_call(config: Any) -> None:
    order = config.service_order()
    for key, service in config.services.items():
        assert all(order.index(caller) < order.index(key) for caller in service.invokers)


# --- Docs -----------------------------------------------------------------------------------------------------------


def test_the_config_examples_in_the_docs_are_valid() -> None:
    blocks = yaml_blocks("docs/compute.md")
    assert len(blocks) == 3
    for block in blocks:
        raw = copy.deepcopy(raw_config("dev"))
        for key, value in block.items():
            name = key.removeprefix("platform:")
            if name == "services":
                raw["services"] = {**raw["services"], **value}  # type: ignore[dict-item]
            else:
                raw[name] = value
        parsed = parse(raw)  # a stale example fails here, naming the key
        if "platform:services" in block:
            assert parsed.services["orders"].image == block["platform:services"]["orders"]["image"]


def test_the_plan_shows_each_service_image_scaling_ingress_egress_and_secrets_by_name(bound: Recording) -> None:
    line = describe(bound.one(SERVICE))
    assert f"image {container_of(bound.one(SERVICE))['image']}" in line
    assert "0-3 instances x80" in line
    assert "ingress INGRESS_TRAFFIC_INTERNAL_ONLY" in line
    assert "VPC egress PRIVATE_RANGES_ONLY" in line
    assert "secrets DB_PASSWORD, REDIS_AUTH" in line
    assert "secrets DB_PASSWORD, REDIS_AUTH" in describe(bound.one(JOB))


def test_an_app_deployed_service_whose_name_leaves_no_room_for_its_deploy_tags_is_refused() -> None:
    """Cloud Run refuses a traffic tag whose tag and service name pass 46 characters; an app deploy tags `candidate`
    and `previous`, so acme-staging-<key> must leave 9 characters for them."""
    raw = raw_config("staging")
    key = "orders-fulfilment-events"  # acme-staging-orders-fulfilment-events: 37 + 9 = 46, allowed
    raw["services"][key] = {**raw["services"]["analytics"], "deploy_mode": "app"}
    raw["estimates"]["route_share"][key] = 0
    stack_config.parse(copy.deepcopy(raw), stack_file="Pulumi.staging.yaml")
    raw["services"][key + "x"] = raw["services"].pop(key)
    raw["estimates"]["route_share"][key + "x"] = raw["estimates"]["route_share"].pop(key)
    with pytest.raises(pulumi.RunError) as err:
        stack_config.parse(raw, stack_file="Pulumi.staging.yaml")
    assert str(err.value) == (
        "invalid stack config in Pulumi.staging.yaml: services.orders-fulfilment-eventsx: the traffic tag 'candidate'"
        " and the Cloud Run name acme-staging-orders-fulfilment-eventsx make 47 characters, above Cloud Run's 46 for a"
        " tag URL; shorten the service key (or the tag)"
    )
