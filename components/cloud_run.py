"""One Cloud Run (v2) service of the product, with its own service account, its secrets, private egress into the VPC
and traffic managed by config, plus the Cloud Run Job that runs its database migrations."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from typing import Annotated, Any, Literal

import pulumi
import pulumi_gcp as gcp
from pydantic import Field, StringConstraints, model_validator

from components.config_types import Model, invalid
from components.images import BuildArgs, ImageRef, build_image, check_reference, resolve_reference
from components.naming import Naming
from components.network import Network
from components.project_services import ProjectServices
from components.registry import Registry

# A DNS label short enough that `{prefix}-{env}-{name}` fits Cloud Run's 49 characters.
ServiceName = Annotated[str, StringConstraints(pattern=r"^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$")]
RevisionSuffix = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?$")]
TrafficTag = Annotated[str, StringConstraints(pattern=r"^[a-z]([a-z0-9-]{0,18}[a-z0-9])?$")]
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
DatabaseName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
HealthPath = Annotated[str, StringConstraints(pattern=r"^/[A-Za-z0-9._~/-]*$")]
Memory = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]*(Mi|Gi)$")]

INGRESS = {
    "internal": "INGRESS_TRAFFIC_INTERNAL_ONLY",
    "internal-and-lb": "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
    "all": "INGRESS_TRAFFIC_ALL",
}
EGRESS = {"private-ranges": "PRIVATE_RANGES_ONLY", "all-traffic": "ALL_TRAFFIC"}
GEN2 = "EXECUTION_ENVIRONMENT_GEN2"
CLOUDSQL_MOUNT = "/cloudsql"
# Set by Cloud Run itself, or by this component from the data bindings: config may not override them.
RESERVED_ENV = frozenset(
    (
        "PORT",
        "K_SERVICE",
        "K_REVISION",
        "K_CONFIGURATION",
        "CLOUD_RUN_JOB",
        "CLOUD_RUN_EXECUTION",
        "CLOUD_RUN_TASK_INDEX",
    )
) | frozenset(
    (
        "DB_NAME",
        "DB_USER",
        "DB_PASSWORD",
        "DB_HOST",
        "INSTANCE_CONNECTION_NAME",
        "REDIS_HOST",
        "REDIS_PORT",
        "REDIS_AUTH",
    )
)
SECRET_WORDS = ("PASSWORD", "SECRET", "TOKEN", "PRIVATE_KEY", "CREDENTIAL")
BASE_ROLES = ("roles/logging.logWriter", "roles/monitoring.metricWriter", "roles/cloudtrace.agent")


class TrafficArgs(Model):
    """A share of the traffic: to the latest revision, or to a named one (`{service}-{revision}`), optionally tagged
    so it also gets its own URL (`https://TAG---SERVICE...`) for testing before it gets a share."""

    percent: int = Field(ge=0, le=100)
    latest: bool = False
    revision: RevisionSuffix | None = None
    tag: TrafficTag | None = None

    @model_validator(mode="after")
    def _one_target(self) -> TrafficArgs:
        if self.latest == (self.revision is not None):
            invalid("revision", "set exactly one of latest: true or revision: <suffix> for each traffic entry")
        return self

    @property
    def target(self) -> str:
        return "latest" if self.latest else f"revision {self.revision}"


LATEST = TrafficArgs(percent=100, latest=True)


class MigrationsArgs(Model):
    command: list[str] = Field(min_length=1)  # e.g. [alembic]; the image's entrypoint is replaced
    args: list[str] = []  # e.g. [upgrade, head]
    timeout_seconds: int = Field(600, ge=1, le=86_400)
    max_retries: int = Field(0, ge=0, le=10)  # a failed migration is looked at, not retried blindly


class ServiceArgs(Model):
    image: ImageRef | None = None  # `host/path:tag` or `@sha256:`, or `name:tag` in the stack's repository
    build: BuildArgs | None = None  # built from this project and pushed to the stack's repository
    port: int = Field(8080, ge=1, le=65535)
    cpu: Literal["1", "2", "4", "8"] = "1"
    memory: Memory = "512Mi"
    cpu_idle: bool = True  # CPU only while serving requests (cheaper); false keeps it for background work
    startup_cpu_boost: bool = True
    concurrency: int = Field(80, ge=1, le=1000)  # requests per instance
    min_instances: int = Field(0, ge=0, le=1000)  # >= 1 keeps an instance warm: no cold start on the first request
    max_instances: int = Field(10, ge=1, le=1000)
    timeout_seconds: int = Field(300, ge=1, le=3600)  # per request
    health_path: HealthPath = "/healthz"
    latency_p99_ms: int = Field(1000, ge=10, le=3_600_000)  # the p99 latency target: alert and latency SLO threshold
    env: dict[EnvName, str] = {}  # plain settings; secrets come from Secret Manager through the data bindings
    public: bool = False  # anyone may invoke it (allUsers), at the network edge ingress allows
    behind_load_balancer: bool = False  # served through the global HTTPS load balancer (Cloud Armor in front)
    ingress: Literal["internal", "internal-and-lb", "all"] = "internal"
    egress: Literal["private-ranges", "all-traffic"] = "private-ranges"
    invokers: list[ServiceName] = []  # other services allowed to call this one (roles/run.invoker on their account)
    database: DatabaseName | None = None  # the Cloud SQL database it uses (wired from the data tier)
    redis: bool = False  # whether it uses the platform's Redis (wired from the data tier)
    deploy_mode: Literal["pulumi", "app"] = "pulumi"  # app: the app's CI deploys images and moves traffic
    revision: RevisionSuffix | None = None  # names the revision Pulumi creates `{service}-{revision}`
    traffic: list[TrafficArgs] = [LATEST]
    migrations: MigrationsArgs | None = None  # a Cloud Run Job on the same image, run before traffic moves

    @model_validator(mode="after")
    def _consistent(self) -> ServiceArgs:
        self._check_image()
        if self.min_instances > self.max_instances:
            invalid(
                "min_instances", f"min_instances ({self.min_instances}) is above max_instances ({self.max_instances})"
            )
        if self.latency_p99_ms >= self.timeout_seconds * 1000:
            invalid(
                "latency_p99_ms",
                f"latency_p99_ms ({self.latency_p99_ms}) is not below the request timeout ({self.timeout_seconds} s); "
                "requests are cut off before they could miss it",
            )
        self._check_env()
        self._check_exposure()
        self._check_traffic()
        if self.migrations is not None and self.database is None:
            invalid("migrations", "migrations need the service's database; set database: <name>")
        return self

    def _check_image(self) -> None:
        if (self.image is None) == (self.build is None):
            invalid("image", "set exactly one of image: <reference> or build: {context: <directory>}")
        problem = check_reference(self.image) if self.image else None
        if problem:
            invalid("image", problem)

    def _check_env(self) -> None:
        for key in self.env:
            if key in RESERVED_ENV:
                invalid(f"env.{key}", f"{key} is set by Cloud Run or from the data bindings; use another name")
            if any(word in key.upper() for word in SECRET_WORDS):
                invalid(f"env.{key}", f"{key} looks like a secret; keep it in Secret Manager, not in plain env")

    def _check_exposure(self) -> None:
        if self.behind_load_balancer and self.ingress != "internal-and-lb":
            invalid(
                "ingress",
                f"a service behind the load balancer needs ingress: internal-and-lb (got {self.ingress}), so no "
                "client can bypass Cloud Armor through the run.app URL",
            )
        if self.ingress == "internal-and-lb" and not self.behind_load_balancer:
            invalid(
                "ingress",
                "ingress internal-and-lb is for services behind the load balancer; set "
                "behind_load_balancer: true or ingress: internal",
            )
        if self.public and not self.behind_load_balancer and self.ingress != "all":
            invalid("public", f"a public service not behind the load balancer needs ingress: all (got {self.ingress})")

    def _check_traffic(self) -> None:
        if self.deploy_mode == "app":
            for key, configured in (("revision", self.revision is not None), ("traffic", self.traffic != [LATEST])):
                if configured:
                    invalid(key, f"deploy_mode app leaves {key} to the app's deploys; remove it or use pulumi")
            return
        total = sum(t.percent for t in self.traffic)
        if total != 100:
            invalid("traffic", f"traffic percentages add up to {total}; they must add up to 100")
        for kind, values in (
            ("tag", [t.tag for t in self.traffic if t.tag]),
            ("target", [t.target for t in self.traffic]),
        ):
            repeated = sorted({v for v in values if values.count(v) > 1})
            if repeated:
                invalid("traffic", f"traffic names {kind} {repeated[0]} more than once; merge the entries")


def check_services(services: Mapping[str, ServiceArgs]) -> None:
    """Rules that span services; raised from the stack config's validator with the key to fix."""
    for name, service in services.items():
        for caller in service.invokers:
            if caller == name or caller not in services:
                invalid(f"services.{name}.invokers", f"'{caller}' is not another service: {', '.join(services)}")
            if service.ingress != "all" and services[caller].egress != "all-traffic":
                invalid(
                    f"services.{caller}.egress",
                    f"{caller} calls {name}, whose ingress is {service.ingress}; only requests routed through the VPC "
                    "count as internal, so set egress: all-traffic",
                )
    owners = [name for name, service in services.items() if service.migrations is not None]
    if len(owners) > 1:
        invalid(f"services.{owners[1]}.migrations", f"only one service runs migrations; {owners[0]} already does")
    try:
        creation_order(services)
    except CycleError as err:
        invalid("services", f"services invoke each other in a cycle ({' -> '.join(err.args[1])}); break it")


def creation_order(services: Mapping[str, ServiceArgs]) -> list[str]:
    """Callers before the services they call: a callee's invoker binding names the caller's service account."""
    graph = {name: set(service.invokers) for name, service in services.items()}
    return list(TopologicalSorter(graph).static_order())


@dataclass(frozen=True)
class DatabaseBinding:
    """What a service needs from the Cloud SQL component: no password, only the id of the secret holding it."""

    connection_name: pulumi.Input[str]
    database: str
    user: pulumi.Input[str]
    password_secret_id: pulumi.Input[str]


@dataclass(frozen=True)
class RedisBinding:
    host: pulumi.Input[str]
    port: pulumi.Input[int]
    auth_secret_id: pulumi.Input[str]


@dataclass(frozen=True)
class _Env:
    name: str
    value: pulumi.Input[str] | None = None
    secret: pulumi.Input[str] | None = None  # a Secret Manager secret id; the value never passes through Pulumi


class CloudRunService(pulumi.ComponentResource):
    """A Cloud Run service running as its own service account with only the roles it needs, reaching Cloud SQL and
    Redis over Direct VPC egress, and (when configured) the migrations job that must run before traffic moves."""

    url: pulumi.Output[str]
    service_account_email: pulumi.Output[str]
    image: pulumi.Output[str]
    migration_job_name: pulumi.Output[str] | None

    def __init__(
        self,
        name: str,
        args: ServiceArgs,
        *,
        naming: Naming,
        project: str,
        region: str,
        apis: ProjectServices,
        network: Network,
        registry: Registry,
        deletion_protection: bool,
        invokers: Mapping[str, pulumi.Input[str]] | None = None,
        database: DatabaseBinding | None = None,
        redis: RedisBinding | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:components:CloudRunService", name, None, opts)
        _check_bindings(name, args, database, redis)
        self._name = name
        self._args = args
        self.physical_name = naming.physical(name, max_length=49)
        child = pulumi.ResourceOptions(parent=self)

        self.service_account = gcp.serviceaccount.Account(
            f"{name}-sa",
            account_id=naming.physical(name, max_length=30),
            display_name=f"Cloud Run service {name}",
            description=f"Runs the {name} service and its jobs; holds only the roles they need",
            opts=pulumi.ResourceOptions(parent=self, depends_on=apis.require("iam.googleapis.com")),
        )
        roles = [*BASE_ROLES, *(["roles/cloudsql.client"] if database else [])]
        self.project_roles = {
            role: gcp.projects.IAMMember(
                f"{name}-{role.removeprefix('roles/').replace('.', '-')}",
                project=project,
                role=role,
                member=self.service_account.member,
                opts=child,
            )
            for role in roles
        }
        secrets = {
            **({"db-password": database.password_secret_id} if database else {}),
            **({"redis-auth": redis.auth_secret_id} if redis else {}),
        }
        self.secret_access = {
            key: gcp.secretmanager.SecretIamMember(
                f"{name}-{key}-accessor",
                secret_id=secret_id,
                role="roles/secretmanager.secretAccessor",
                member=self.service_account.member,
                opts=child,
            )
            for key, secret_id in secrets.items()
        }

        if args.build is not None:
            built = build_image(
                f"{name}-image",
                args.build,
                repository_url=registry.url,
                image=name,
                parent=self,
                depends_on=[registry],
            )
            self.image = built.repo_digest  # pinned: a revision never runs a tag that moved after the deploy
        else:
            assert args.image is not None  # validated: exactly one of image or build
            self.image = resolve_reference(args.image, registry.url)

        envs = self._envs(database, redis)
        # A revision reads its secrets and opens its Cloud SQL connection when it starts, so it waits for those grants.
        runs_after = [*apis.require("run.googleapis.com"), *self.secret_access.values(), *self.project_roles.values()]
        self.service = self._service(naming, region, network, envs, database, deletion_protection, runs_after)
        self.invoker_bindings = self._invokers(region, invokers or {})
        self.job = (
            self._job(naming, region, network, envs, database, deletion_protection, runs_after)
            if args.migrations
            else None
        )

        self.url = self.service.uri
        self.service_account_email = self.service_account.email
        self.migration_job_name = self.job.name if self.job else None
        self.register_outputs(
            {
                "url": self.url,
                "service_account": self.service_account_email,
                "image": self.image,
                "migration_job_name": self.migration_job_name,
            }
        )

    def _envs(self, database: DatabaseBinding | None, redis: RedisBinding | None) -> list[_Env]:
        envs = [_Env(key, value) for key, value in sorted(self._args.env.items())]
        if database:
            envs += [
                _Env("DB_NAME", database.database),
                _Env("DB_USER", database.user),
                _Env("DB_PASSWORD", secret=database.password_secret_id),
                _Env("INSTANCE_CONNECTION_NAME", database.connection_name),
                _Env("DB_HOST", pulumi.Output.concat(CLOUDSQL_MOUNT, "/", database.connection_name)),
            ]
        if redis:
            envs += [
                _Env("REDIS_HOST", redis.host),
                _Env("REDIS_PORT", pulumi.Output.from_input(redis.port).apply(str)),
                _Env("REDIS_AUTH", secret=redis.auth_secret_id),
            ]
        return envs

    def _service(
        self,
        naming: Naming,
        region: str,
        network: Network,
        envs: list[_Env],
        database: DatabaseBinding | None,
        deletion_protection: bool,
        runs_after: list[pulumi.Resource],
    ) -> gcp.cloudrunv2.Service:
        args = self._args
        run = gcp.cloudrunv2
        probe = run.ServiceTemplateContainerStartupProbeHttpGetArgs(path=args.health_path, port=args.port)
        container = run.ServiceTemplateContainerArgs(
            name=self._name,
            image=self.image,
            ports=run.ServiceTemplateContainerPortsArgs(container_port=args.port, name="http1"),
            resources=run.ServiceTemplateContainerResourcesArgs(
                limits={"cpu": args.cpu, "memory": args.memory},
                cpu_idle=args.cpu_idle,
                startup_cpu_boost=args.startup_cpu_boost,
            ),
            envs=_typed_envs(
                envs,
                run.ServiceTemplateContainerEnvArgs,
                run.ServiceTemplateContainerEnvValueSourceArgs,
                run.ServiceTemplateContainerEnvValueSourceSecretKeyRefArgs,
            ),
            # Up to 60 s to become healthy after start, then checked every 15 s; three misses restart the instance.
            startup_probe=run.ServiceTemplateContainerStartupProbeArgs(
                http_get=probe, period_seconds=3, timeout_seconds=2, failure_threshold=20
            ),
            liveness_probe=run.ServiceTemplateContainerLivenessProbeArgs(
                http_get=run.ServiceTemplateContainerLivenessProbeHttpGetArgs(path=args.health_path, port=args.port),
                period_seconds=15,
                timeout_seconds=3,
                failure_threshold=3,
            ),
            volume_mounts=[run.ServiceTemplateContainerVolumeMountArgs(name="cloudsql", mount_path=CLOUDSQL_MOUNT)]
            if database
            else None,
        )
        ignore = (
            # The app's CI deploys images and moves traffic; Cloud Run and gcloud also stamp client fields.
            ["template.containers[0].image", "template.revision", "traffics", "client", "clientVersion"]
            if args.deploy_mode == "app"
            else []
        )
        return run.Service(
            f"{self._name}-service",
            name=self.physical_name,
            location=region,
            description=f"The {self._name} service",
            ingress=INGRESS[args.ingress],
            launch_stage="GA",
            deletion_protection=deletion_protection,
            # The guardrails allow an allUsers invoker only on a service that says it is public.
            labels={**naming.labels_for(self._name), **({"exposure": "public"} if args.public else {})},
            template=run.ServiceTemplateArgs(
                revision=f"{self.physical_name}-{args.revision}" if args.revision else None,
                service_account=self.service_account.email,
                execution_environment=GEN2,
                timeout=f"{args.timeout_seconds}s",
                max_instance_request_concurrency=args.concurrency,
                scaling=run.ServiceTemplateScalingArgs(
                    min_instance_count=args.min_instances, max_instance_count=args.max_instances
                ),
                vpc_access=run.ServiceTemplateVpcAccessArgs(
                    egress=EGRESS[args.egress],
                    network_interfaces=[
                        run.ServiceTemplateVpcAccessNetworkInterfaceArgs(
                            network=network.network_id, subnetwork=network.serverless_subnet.id
                        )
                    ],
                ),
                volumes=[
                    run.ServiceTemplateVolumeArgs(
                        name="cloudsql",
                        cloud_sql_instance=run.ServiceTemplateVolumeCloudSqlInstanceArgs(
                            instances=[database.connection_name]
                        ),
                    )
                ]
                if database
                else None,
                labels=naming.labels_for(self._name),
                containers=[container],
            ),
            traffics=[
                run.ServiceTrafficArgs(
                    type="TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
                    if t.latest
                    else "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
                    revision=None if t.latest else f"{self.physical_name}-{t.revision}",
                    percent=t.percent,
                    tag=t.tag,
                )
                for t in args.traffic
            ]
            if args.deploy_mode == "pulumi"
            else None,
            opts=pulumi.ResourceOptions(parent=self, depends_on=runs_after, ignore_changes=ignore),
        )

    def _invokers(
        self, region: str, invokers: Mapping[str, pulumi.Input[str]]
    ) -> dict[str, gcp.cloudrunv2.ServiceIamMember]:
        members: dict[str, pulumi.Input[str]] = {"public": "allUsers"} if self._args.public else {}
        missing = sorted(set(self._args.invokers) - set(invokers))
        if missing:
            raise ValueError(f"{self._name}: no service account email passed for invoker(s) {', '.join(missing)}")
        members |= {
            f"invoker-{caller}": pulumi.Output.concat("serviceAccount:", invokers[caller])
            for caller in self._args.invokers
        }
        return {
            key: gcp.cloudrunv2.ServiceIamMember(
                f"{self._name}-{key}",
                name=self.service.name,
                location=region,
                role="roles/run.invoker",
                member=member,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for key, member in members.items()
        }

    def _job(
        self,
        naming: Naming,
        region: str,
        network: Network,
        envs: list[_Env],
        database: DatabaseBinding | None,
        deletion_protection: bool,
        runs_after: list[pulumi.Resource],
    ) -> gcp.cloudrunv2.Job:
        migrations = self._args.migrations
        assert migrations is not None
        run = gcp.cloudrunv2
        return run.Job(
            f"{self._name}-migrations",
            name=naming.physical(self._name, "migrate"),
            location=region,
            launch_stage="GA",
            deletion_protection=deletion_protection,
            labels=naming.labels_for(self._name),
            template=run.JobTemplateArgs(
                task_count=1,
                parallelism=1,
                template=run.JobTemplateTemplateArgs(
                    service_account=self.service_account.email,
                    execution_environment=GEN2,
                    timeout=f"{migrations.timeout_seconds}s",
                    max_retries=migrations.max_retries,
                    vpc_access=run.JobTemplateTemplateVpcAccessArgs(
                        egress=EGRESS[self._args.egress],
                        network_interfaces=[
                            run.JobTemplateTemplateVpcAccessNetworkInterfaceArgs(
                                network=network.network_id, subnetwork=network.serverless_subnet.id
                            )
                        ],
                    ),
                    volumes=[
                        run.JobTemplateTemplateVolumeArgs(
                            name="cloudsql",
                            cloud_sql_instance=run.JobTemplateTemplateVolumeCloudSqlInstanceArgs(
                                instances=[database.connection_name]
                            ),
                        )
                    ]
                    if database
                    else None,
                    containers=[
                        run.JobTemplateTemplateContainerArgs(
                            name="migrate",
                            image=self.image,
                            commands=migrations.command,
                            args=migrations.args,
                            resources=run.JobTemplateTemplateContainerResourcesArgs(
                                limits={"cpu": self._args.cpu, "memory": self._args.memory}
                            ),
                            envs=_typed_envs(
                                envs,
                                run.JobTemplateTemplateContainerEnvArgs,
                                run.JobTemplateTemplateContainerEnvValueSourceArgs,
                                run.JobTemplateTemplateContainerEnvValueSourceSecretKeyRefArgs,
                            ),
                            volume_mounts=[
                                run.JobTemplateTemplateContainerVolumeMountArgs(
                                    name="cloudsql", mount_path=CLOUDSQL_MOUNT
                                )
                            ]
                            if database
                            else None,
                        )
                    ],
                ),
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=runs_after,
                # In app mode the deploy pipeline points the job at each release's image before running it.
                ignore_changes=["template.template.containers[0].image", "client", "clientVersion"]
                if self._args.deploy_mode == "app"
                else [],
            ),
        )


def _check_bindings(name: str, args: ServiceArgs, database: DatabaseBinding | None, redis: RedisBinding | None) -> None:
    """A binding must match the service's config, so the config stays the one place that says what a service uses."""
    if database is not None and database.database != args.database:
        raise ValueError(
            f"{name}: database binding for '{database.database}' but services.{name}.database is {args.database!r}"
        )
    if redis is not None and not args.redis:
        raise ValueError(f"{name}: Redis binding passed but services.{name}.redis is false")


def _typed_envs(envs: list[_Env], env: Any, source: Any, secret_ref: Any) -> list[Any]:
    """Env entries as the service's or the job's own Args classes (they are distinct types with the same shape)."""
    return [
        env(name=e.name, value=e.value)
        if e.secret is None
        else env(name=e.name, value_source=source(secret_key_ref=secret_ref(secret=e.secret, version="latest")))
        for e in envs
    ]
