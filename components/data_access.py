"""The grants a workload's own service account gets for the data it uses, the same on every runtime (a Cloud Run
service, a GKE workload through Workload Identity): the Cloud SQL client role, and read access to exactly the secrets
its bindings name, each granted on that secret alone."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_gcp as gcp

from components.refs import DatabaseBinding, RedisBinding
from components.secret import ACCESSOR_ROLE

CLOUD_SQL_CLIENT = "roles/cloudsql.client"


def data_roles(database: DatabaseBinding | None) -> list[str]:
    """Project roles the data bindings need: connecting to Cloud SQL is granted on the project (Cloud SQL has no
    instance-level IAM); everything else is granted on its resource."""
    return [CLOUD_SQL_CLIENT] if database else []


def project_grants(
    name: str, *, project: str, member: pulumi.Input[str], roles: Sequence[str], parent: pulumi.Resource
) -> dict[str, gcp.projects.IAMMember]:
    """`roles` on the project for `member`, each named `{name}-{role}`."""
    return {
        role: gcp.projects.IAMMember(
            f"{name}-{role.removeprefix('roles/').replace('.', '-')}",
            project=project,
            role=role,
            member=member,
            opts=pulumi.ResourceOptions(parent=parent),
        )
        for role in roles
    }


def secret_grants(
    name: str,
    *,
    member: pulumi.Input[str],
    database: DatabaseBinding | None,
    redis: RedisBinding | None,
    parent: pulumi.Resource,
) -> dict[str, gcp.secretmanager.SecretIamMember]:
    """Read access to the database password and the Redis AUTH string the bindings name, on those secrets only."""
    secrets = {
        **({"db-password": database.password_secret_id} if database else {}),
        **({"redis-auth": redis.auth_secret_id} if redis else {}),
    }
    return {
        key: gcp.secretmanager.SecretIamMember(
            f"{name}-{key}-accessor",
            secret_id=secret_id,
            role=ACCESSOR_ROLE,
            member=member,
            opts=pulumi.ResourceOptions(parent=parent),
        )
        for key, secret_id in secrets.items()
    }
