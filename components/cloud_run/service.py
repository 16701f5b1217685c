"""One Cloud Run (v2) service of the product, with its own service account, its secrets, private egress into the VPC
and traffic managed by config, plus the Cloud Run Job that runs its database migrations."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from urllib.parse import urlparse

import pulumi
import pulumi_gcp as gcp
import pulumiverse_time as time

from components.app_access import app_secret_grants, bucket_env, bucket_grants
from components.cloud_run import template
from components.cloud_run.config import BASE_ROLES, INGRESS, MigrationsArgs, ServiceArgs
from components.cloud_run.watch import watch_service
from components.context import StackContext
from components.data_access import data_roles, project_grants, secret_grants
from components.images import build_image, resolve_reference
from components.naming import Naming
from components.observability.config import CloudRunAlertsArgs
from components.observability.signals import Watched
from components.refs import BucketBinding, DatabaseBinding, NetworkRef, RedisBinding, SecretBinding

IAM_PROPAGATION = "180s"  # typically 2 minutes, per Google; the first create of a service or a grant waits this long
# Readiness probes, which Cloud Run service health (cross-region failover) aggregates per region, are GA: the API reads
# a service without Preview features back as GA, so asking for BETA would differ on every refresh (and every drift
# check would fail).
LAUNCH_STAGE = "GA"


def service_name(naming: Naming, key: str) -> str:
    """The Cloud Run name of service `key`, the same in every region it runs in (Cloud Run allows 49 characters)."""
    return naming.physical(key, max_length=49)


class CloudRunService(pulumi.ComponentResource):
    """A Cloud Run service running as its own service account with only the roles it needs, reaching Cloud SQL and
    Redis over Direct VPC egress, and (when configured) the migrations job that must run before traffic moves.

    `invokers` maps each service allowed to call this one to its service account email; `database` and `redis` are
    the data the service uses, `secrets` the app secrets it reads (env name -> secret) and `buckets` the application
    buckets it uses (bucket key -> name and role); the stack config wires them, so they always agree with it.

    `regions` are the other regions the service also runs in (region -> the serverless subnet its Direct VPC egress
    uses there): a copy of the service in each, with the same name, account, settings and invokers, and no job (the
    migrations run once, in the stack's region). `upstreams` are the services this one calls (key -> Cloud Run name):
    each copy gets `<KEY>_SERVICE_URL`, the deterministic URL of the callee's copy in its own region
    (`https://NAME-PROJECT_NUMBER.REGION.run.app`, from `project_number`), so a region's gateway calls its own
    region's backends. The copies in `unprotected_regions` (regions being retired) have no deletion protection.
    """

    url: pulumi.Output[str]
    urls: dict[str, pulumi.Output[str]]
    service_account_email: pulumi.Output[str]
    image: pulumi.Output[str]
    migration_job_name: pulumi.Output[str] | None

    def __init__(
        self,
        name: str,
        args: ServiceArgs,
        *,
        ctx: StackContext,
        network: NetworkRef,
        image_repository: pulumi.Input[str],
        invokers: Mapping[str, pulumi.Input[str]] | None = None,
        database: DatabaseBinding | None = None,
        redis: RedisBinding | None = None,
        secrets: Mapping[str, SecretBinding] | None = None,
        buckets: Mapping[str, BucketBinding] | None = None,
        regions: Mapping[str, pulumi.Input[str]] | None = None,
        upstreams: Mapping[str, str] | None = None,
        project_number: pulumi.Input[str] | None = None,
        unprotected_regions: Collection[str] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:components:CloudRunService", name, None, ctx.component(opts))
        if upstreams and project_number is None:
            raise ValueError(f"{name}: upstreams need the project number, for their deterministic URLs")
        self._name = name
        self._args = args
        self._ctx = ctx
        self._network = network
        self._database = database
        self.physical_name = service_name(ctx.naming, name)
        self._runs_after = self._grants(database, redis, secrets or {}, buckets or {})
        self.image = self._image(image_repository)
        self._envs = self._base_envs(database, redis, secrets or {}, buckets or {})
        self._upstreams = dict(upstreams or {})
        self._project_number = project_number
        self._unprotected = frozenset(unprotected_regions)  # regions being retired: their copies may be deleted
        self._deploy(network.serverless_subnet_id, regions or {}, invokers or {})
        self.job = self._job(args.migrations) if args.migrations else None

        self.urls = {region: service.uri for region, service in self.services.items()}
        self.url = self.service.uri
        self.service_account_email = self.service_account.email
        self.migration_job_name = self.job.name if self.job else None
        self.register_outputs(
            {
                "url": self.url,
                "urls": self.urls,
                "service_account": self.service_account_email,
                "image": self.image,
                "migration_job_name": self.migration_job_name,
            }
        )

    def _grants(
        self,
        database: DatabaseBinding | None,
        redis: RedisBinding | None,
        secrets: Mapping[str, SecretBinding],
        buckets: Mapping[str, BucketBinding],
    ) -> list[pulumi.Resource]:
        """The service's own account, its roles and grants; returns what a revision waits for. The deployer may name the
        account on the service and the job (actAs), and a revision reads its secrets and opens its Cloud SQL connection
        when it starts: both wait for those grants to take effect."""
        name, ctx = self._name, self._ctx
        self.service_account = gcp.serviceaccount.Account(
            f"{name}-sa",
            account_id=ctx.naming.physical(name, max_length=30),
            display_name=f"Cloud Run service {name}",
            description=f"Runs the {name} service and its jobs; holds only the roles they need",
            opts=ctx.after(self, "iam.googleapis.com"),
        )
        member = self.service_account.member
        self.project_roles = self._project_roles()
        self.secret_access = self._secret_access(database, redis)
        self.app_secret_access = app_secret_grants(
            name,
            member=member,
            secrets=secrets.values(),
            parent=self,
            after=ctx.apis.require("secretmanager.googleapis.com") if secrets else (),
        )
        self.bucket_access = bucket_grants(name, member=member, buckets=buckets, parent=self)
        self.act_as = ctx.act_as(self, name, self.service_account.name)
        grants: list[pulumi.Resource] = [
            *self.secret_access.values(),
            *self.app_secret_access.values(),
            *self.project_roles.values(),
            *self.act_as,
        ]
        self.grants_settled = self._grants_settled(grants)
        return [*ctx.apis.require("run.googleapis.com"), *grants, self.grants_settled]

    def _base_envs(
        self,
        database: DatabaseBinding | None,
        redis: RedisBinding | None,
        secrets: Mapping[str, SecretBinding],
        buckets: Mapping[str, BucketBinding],
    ) -> list[template.Env]:
        """The env every copy gets: the config's, the data bindings', the secrets' and the buckets'."""
        return (
            [template.Env(key, value) for key, value in sorted(self._args.env.items())]
            + template.binding_envs(database, redis)
            + [template.Env(env, secret=s.secret_id, version=s.version) for env, s in sorted(secrets.items())]
            + [template.Env(bucket_env(key), b.name) for key, b in sorted(buckets.items())]
        )

    def _deploy(
        self,
        subnet: pulumi.Input[str],
        regions: Mapping[str, pulumi.Input[str]],
        invokers: Mapping[str, pulumi.Input[str]],
    ) -> None:
        """A copy of the service in the stack's region (on `subnet`) and in each of `regions`, and its invokers on
        each. The stack's region keeps the names it always had; a copy in another region is named after its region."""
        subnets: dict[str, pulumi.Input[str]] = {self._ctx.region: subnet, **regions}
        self.services = {region: self._service(region, on) for region, on in subnets.items()}
        self.service = self.services[self._ctx.region]
        self.invoker_bindings = {
            binding: member
            for region, service in self.services.items()
            for binding, member in self._invokers(invokers, region, service).items()
        }

    def watch(self, thresholds: CloudRunAlertsArgs, *, domain: str | None = None) -> Watched:
        """What to watch on the service. A public one is also checked where users call it: `domain`, the load
        balancer domain that routes to it when it sits behind one, else its own run.app URL."""
        host: pulumi.Input[str] | None = None
        if self._args.public:
            host = domain or self.url.apply(lambda url: urlparse(url).hostname or url)
        return watch_service(self._name, self.physical_name, self._args, thresholds, host)

    def _project_roles(self) -> dict[str, gcp.projects.IAMMember]:
        return project_grants(
            self._name,
            project=self._ctx.project,
            member=self.service_account.member,
            roles=[*BASE_ROLES, *data_roles(self._database)],
            parent=self,
        )

    def _secret_access(
        self, database: DatabaseBinding | None, redis: RedisBinding | None
    ) -> dict[str, gcp.secretmanager.SecretIamMember]:
        return secret_grants(
            self._name, member=self.service_account.member, database=database, redis=redis, parent=self
        )

    def _grants_settled(self, grants: list[pulumi.Resource]) -> time.Sleep:
        """A wait after the grants, so that they have propagated before Cloud Run checks them.

        IAM changes typically take two minutes to propagate, sometimes seven or more, and a revision created before
        its secret accessor grant has propagated fails ("Permission denied on secret"); the provider does not retry
        it. The sleep waits only when it is created: updates that leave the grants alone pass straight through, and a
        change to the grants (its triggers) replaces it, so the revision that needs the new grant waits again.
        """
        readers = [*self.secret_access.values(), *self.app_secret_access.values()]
        secrets = pulumi.Output.all(*(g.secret_id for g in readers)).apply(
            lambda ids: ",".join(sorted(str(i) for i in ids))
        )
        return time.Sleep(
            f"{self._name}-iam-propagation",
            create_duration=IAM_PROPAGATION,
            triggers={
                "service_account": self.service_account.email,
                "secrets": secrets,
                "project_roles": ",".join(sorted(self.project_roles)),
                "deployer": self._ctx.deployer or "",
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=grants),
        )

    def _image(self, repository: pulumi.Input[str]) -> pulumi.Output[str]:
        if self._args.build is None:
            assert self._args.image is not None  # validated: exactly one of image or build
            return resolve_reference(self._args.image, repository)
        built = build_image(
            f"{self._name}-image", self._args.build, repository_url=repository, image=self._name, parent=self
        )
        return built.repo_digest  # pinned: a revision never runs a tag that moved after the deploy

    def _upstream_envs(self, region: str) -> list[template.Env]:
        """`<KEY>_SERVICE_URL` for each service this one calls: that service's copy in `region`."""
        return [
            template.Env(
                template.upstream_env(key),
                template.deterministic_url(physical, self._project_number or "", region),
            )
            for key, physical in sorted(self._upstreams.items())
        ]

    def _container(self, region: str) -> gcp.cloudrunv2.ServiceTemplateContainerArgs:
        args, run, kind = self._args, gcp.cloudrunv2, template.SERVICE
        probe = run.ServiceTemplateContainerStartupProbeHttpGetArgs(path=args.health_path, port=args.port)
        return run.ServiceTemplateContainerArgs(
            name=self._name,
            image=self.image,
            ports=run.ServiceTemplateContainerPortsArgs(container_port=args.port, name="http1"),
            resources=run.ServiceTemplateContainerResourcesArgs(
                limits={"cpu": args.cpu, "memory": args.memory},
                cpu_idle=args.cpu_idle,
                startup_cpu_boost=args.startup_cpu_boost,
            ),
            envs=template.envs(kind, [*self._envs, *self._upstream_envs(region)]),
            # Up to 60 s to become healthy after start, then checked every 15 s; three misses restart the instance.
            startup_probe=run.ServiceTemplateContainerStartupProbeArgs(
                http_get=probe, period_seconds=3, timeout_seconds=2, failure_threshold=20
            ),
            # Out of rotation after three failed checks (15 s), back after two good ones; Cloud Run service health
            # counts a region healthy while 60 % of its instances pass, so the load balancer fails over on it.
            readiness_probe=run.ServiceTemplateContainerReadinessProbeArgs(
                http_get=run.ServiceTemplateContainerReadinessProbeHttpGetArgs(path=args.health_path, port=args.port),
                period_seconds=5,
                timeout_seconds=2,
                failure_threshold=3,
                success_threshold=2,
            ),
            liveness_probe=run.ServiceTemplateContainerLivenessProbeArgs(
                http_get=run.ServiceTemplateContainerLivenessProbeHttpGetArgs(path=args.health_path, port=args.port),
                period_seconds=15,
                timeout_seconds=3,
                failure_threshold=3,
            ),
            volume_mounts=template.cloud_sql_mounts(kind, self._database),
        )

    def _traffic(self) -> list[gcp.cloudrunv2.ServiceTrafficArgs] | None:
        if self._args.deploy_mode != "pulumi":
            return None
        return [
            gcp.cloudrunv2.ServiceTrafficArgs(
                type="TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST" if t.latest else "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
                revision=None if t.latest else f"{self.physical_name}-{t.revision}",
                percent=t.percent,
                tag=t.tag,
            )
            for t in self._args.traffic
        ]

    def _service(self, region: str, subnet: pulumi.Input[str]) -> gcp.cloudrunv2.Service:
        """The service in `region`, taking Direct VPC egress addresses from `subnet` (a subnet of that region)."""
        args, ctx, run = self._args, self._ctx, gcp.cloudrunv2
        suffix = "" if region == ctx.region else f"-{region}"
        ignore = (
            # The app's CI deploys images and moves traffic; Cloud Run and gcloud also stamp client fields.
            ["template.containers[0].image", "template.revision", "traffics", "client", "clientVersion"]
            if args.deploy_mode == "app"
            else []
        )
        return run.Service(
            f"{self._name}-service{suffix}",
            name=self.physical_name,
            location=region,
            description=f"The {self._name} service",
            ingress=INGRESS[args.ingress],
            launch_stage=LAUNCH_STAGE,
            deletion_protection=ctx.deletion_protection and region not in self._unprotected,
            # The guardrails allow an allUsers invoker only on a service that says it is public.
            labels={**ctx.labels(self._name), **({"exposure": "public"} if args.public else {})},
            template=run.ServiceTemplateArgs(
                revision=f"{self.physical_name}-{args.revision}" if args.revision else None,
                service_account=self.service_account.email,
                execution_environment=template.GEN2,
                timeout=f"{args.timeout_seconds}s",
                max_instance_request_concurrency=args.concurrency,
                scaling=run.ServiceTemplateScalingArgs(
                    min_instance_count=args.min_instances, max_instance_count=args.max_instances
                ),
                vpc_access=template.vpc_access(template.SERVICE, args.egress, self._network.network_id, subnet),
                volumes=template.cloud_sql_volumes(template.SERVICE, self._database),
                labels=ctx.labels(self._name),
                containers=[self._container(region)],
            ),
            traffics=self._traffic(),
            opts=pulumi.ResourceOptions(parent=self, depends_on=self._runs_after, ignore_changes=ignore),
        )

    def _invokers(
        self, invokers: Mapping[str, pulumi.Input[str]], region: str, service: gcp.cloudrunv2.Service
    ) -> dict[str, gcp.cloudrunv2.ServiceIamMember]:
        """Who may invoke the service's copy in `region`: granted on each copy, since each is a service of its own."""
        suffix = "" if region == self._ctx.region else f"-{region}"
        members: dict[str, pulumi.Input[str]] = {"public": "allUsers"} if self._args.public else {}
        members |= {
            f"invoker-{caller}": pulumi.Output.concat("serviceAccount:", email) for caller, email in invokers.items()
        }
        return {
            f"{key}{suffix}": gcp.cloudrunv2.ServiceIamMember(
                f"{self._name}-{key}{suffix}",
                name=service.name,
                location=region,
                role="roles/run.invoker",
                member=member,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for key, member in members.items()
        }

    def _job(self, migrations: MigrationsArgs) -> gcp.cloudrunv2.Job:
        args, ctx, run, kind = self._args, self._ctx, gcp.cloudrunv2, template.JOB
        container = run.JobTemplateTemplateContainerArgs(
            name="migrate",
            image=self.image,
            commands=migrations.command,
            args=migrations.args,
            resources=run.JobTemplateTemplateContainerResourcesArgs(limits={"cpu": args.cpu, "memory": args.memory}),
            envs=template.envs(kind, self._envs),
            volume_mounts=template.cloud_sql_mounts(kind, self._database),
        )
        return run.Job(
            f"{self._name}-migrations",
            name=ctx.naming.physical(self._name, "migrate"),
            location=ctx.region,
            launch_stage="GA",
            deletion_protection=ctx.deletion_protection,
            labels=ctx.labels(self._name),
            template=run.JobTemplateArgs(
                task_count=1,
                parallelism=1,
                template=run.JobTemplateTemplateArgs(
                    service_account=self.service_account.email,
                    execution_environment=template.GEN2,
                    timeout=f"{migrations.timeout_seconds}s",
                    max_retries=migrations.max_retries,
                    vpc_access=template.vpc_access(
                        kind, args.egress, self._network.network_id, self._network.serverless_subnet_id
                    ),
                    volumes=template.cloud_sql_volumes(kind, self._database),
                    containers=[container],
                ),
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=self._runs_after,
                # In app mode the deploy pipeline points the job at each release's image before running it.
                ignore_changes=["template.template.containers[0].image", "client", "clientVersion"]
                if args.deploy_mode == "app"
                else [],
            ),
        )
