"""What a Cloud Run service and its jobs share: env (plain and from Secret Manager), the Cloud SQL volume and Direct VPC
egress. The provider gives services and jobs the same shapes as distinct Args classes; one builder fills either."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp

from components.refs import DatabaseBinding, RedisBinding

run = gcp.cloudrunv2
CLOUDSQL_MOUNT = "/cloudsql"
CLOUDSQL_VOLUME = "cloudsql"
EGRESS = {"private-ranges": "PRIVATE_RANGES_ONLY", "all-traffic": "ALL_TRAFFIC"}
GEN2 = "EXECUTION_ENVIRONMENT_GEN2"  # config.EXECUTION_ENVIRONMENT: the minimum memory is checked there


@dataclass(frozen=True)
class Env:
    name: str
    value: pulumi.Input[str] | None = None
    secret: pulumi.Input[str] | None = None  # a Secret Manager secret id; the value never passes through Pulumi
    version: pulumi.Input[str] = "latest"  # the secret's version: latest, or a number the revision is pinned to


@dataclass(frozen=True)
class TemplateKind:
    """The typed Args classes of one kind of Cloud Run template, service or job."""

    env: Any
    env_source: Any
    secret_ref: Any
    volume: Any
    cloud_sql: Any
    mount: Any
    vpc_access: Any
    interface: Any


SERVICE = TemplateKind(
    run.ServiceTemplateContainerEnvArgs,
    run.ServiceTemplateContainerEnvValueSourceArgs,
    run.ServiceTemplateContainerEnvValueSourceSecretKeyRefArgs,
    run.ServiceTemplateVolumeArgs,
    run.ServiceTemplateVolumeCloudSqlInstanceArgs,
    run.ServiceTemplateContainerVolumeMountArgs,
    run.ServiceTemplateVpcAccessArgs,
    run.ServiceTemplateVpcAccessNetworkInterfaceArgs,
)
JOB = TemplateKind(
    run.JobTemplateTemplateContainerEnvArgs,
    run.JobTemplateTemplateContainerEnvValueSourceArgs,
    run.JobTemplateTemplateContainerEnvValueSourceSecretKeyRefArgs,
    run.JobTemplateTemplateVolumeArgs,
    run.JobTemplateTemplateVolumeCloudSqlInstanceArgs,
    run.JobTemplateTemplateContainerVolumeMountArgs,
    run.JobTemplateTemplateVpcAccessArgs,
    run.JobTemplateTemplateVpcAccessNetworkInterfaceArgs,
)


def binding_envs(database: DatabaseBinding | None, redis: RedisBinding | None) -> list[Env]:
    """The env a workload gets from its data bindings: names and addresses in clear, credentials as secret ids."""
    envs: list[Env] = []
    if database:
        envs += [
            Env("DB_NAME", database.database),
            Env("DB_USER", database.user),
            Env("DB_PASSWORD", secret=database.password_secret_id),
            Env("INSTANCE_CONNECTION_NAME", database.connection_name),
            Env("DB_HOST", pulumi.Output.concat(CLOUDSQL_MOUNT, "/", database.connection_name)),
        ]
    if redis:
        envs += [
            Env("REDIS_HOST", redis.host),
            Env("REDIS_PORT", pulumi.Output.from_input(redis.port).apply(str)),
            Env("REDIS_AUTH", secret=redis.auth_secret_id),
        ]
    return envs


def envs(kind: TemplateKind, entries: Sequence[Env]) -> list[Any]:
    return [
        kind.env(name=e.name, value=e.value)
        if e.secret is None
        else kind.env(
            name=e.name,
            value_source=kind.env_source(secret_key_ref=kind.secret_ref(secret=e.secret, version=e.version)),
        )
        for e in entries
    ]


def cloud_sql_volumes(kind: TemplateKind, database: DatabaseBinding | None) -> list[Any] | None:
    if database is None:
        return None
    return [kind.volume(name=CLOUDSQL_VOLUME, cloud_sql_instance=kind.cloud_sql(instances=[database.connection_name]))]


def cloud_sql_mounts(kind: TemplateKind, database: DatabaseBinding | None) -> list[Any] | None:
    if database is None:
        return None
    return [kind.mount(name=CLOUDSQL_VOLUME, mount_path=CLOUDSQL_MOUNT)]


def vpc_access(kind: TemplateKind, egress: str, network: pulumi.Input[str], subnet: pulumi.Input[str]) -> Any:
    """Direct VPC egress on a serverless subnet of the workload's own region: no connector to run or pay for."""
    return kind.vpc_access(
        egress=EGRESS[egress], network_interfaces=[kind.interface(network=network, subnetwork=subnet)]
    )


def upstream_env(service: str) -> str:
    """The env name that carries the URL of a service this one calls: `orders` -> `ORDERS_SERVICE_URL`."""
    return f"{service.upper().replace('-', '_')}_SERVICE_URL"


def deterministic_url(name: str, project_number: pulumi.Input[str], region: str) -> pulumi.Output[str]:
    """A Cloud Run service's deterministic URL, known before the service exists: `https://NAME-NUMBER.REGION.run.app`
    (Cloud Run assigns it when `NAME-NUMBER` fits a 63-character DNS label, which the 49-character names here do)."""
    return pulumi.Output.concat("https://", name, "-", project_number, ".", region, ".run.app")
