"""One Google service account per Kubernetes workload, usable only by that workload's Kubernetes service account
(Workload Identity), with the data grants a Cloud Run service gets for the same bindings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import pulumi
import pulumi_gcp as gcp
from pydantic import AfterValidator, StringConstraints

from components.app_access import bucket_grants
from components.buckets import Access
from components.config_types import Key, Model, SqlIdentifier
from components.context import StackContext
from components.data_access import data_roles, project_grants, secret_grants
from components.refs import BucketBinding, DatabaseBinding, RedisBinding

WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser"
BASIC_ROLES = frozenset(("roles/owner", "roles/editor", "roles/viewer"))
# A Kubernetes namespace or service account name (an RFC 1123 label).
K8sName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]


def _role(value: str) -> str:
    if not value.startswith("roles/"):
        raise ValueError(f"'{value}' is not a predefined role like roles/cloudtrace.agent")
    if value in BASIC_ROLES:
        raise ValueError(f"{value} is a basic role covering the whole project; name the roles the workload needs")
    return value


ProjectRole = Annotated[str, AfterValidator(_role)]


class WorkloadArgs(Model):
    """A Kubernetes workload's identity: its service account (`namespace`/`service_account`) acts as a Google service
    account with `roles` on the project, plus what its data bindings need."""

    namespace: K8sName
    service_account: K8sName
    roles: list[ProjectRole] = ["roles/cloudtrace.agent", "roles/monitoring.metricWriter"]
    database: SqlIdentifier | None = None  # the Cloud SQL database it uses
    redis: bool = False  # whether it uses the platform's Redis
    buckets: dict[Key, Access] = {}  # application bucket (platform:buckets) -> the object role it holds there

    @property
    def subject(self) -> str:
        return f"{self.namespace}/{self.service_account}"


class WorkloadIdentity(pulumi.ComponentResource):
    """The Google service account of one workload. Annotate the Kubernetes service account with
    `iam.gke.io/gcp-service-account: <email>` (the `workload_service_accounts` output) in the app's manifests."""

    email: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: WorkloadArgs,
        *,
        ctx: StackContext,
        workload_pool: str,
        database: DatabaseBinding | None = None,
        redis: RedisBinding | None = None,
        buckets: Mapping[str, BucketBinding] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`buckets`: the application buckets it names, each with the one object role it holds there."""
        super().__init__("platform:components:WorkloadIdentity", name, None, ctx.component(opts))
        self.service_account = gcp.serviceaccount.Account(
            f"{name}-sa",
            account_id=ctx.naming.physical("k8s", name, max_length=30),
            display_name=f"GKE workload {args.subject}",
            description=f"Acts for the Kubernetes service account {args.subject}; holds only the roles it needs",
            opts=ctx.after(self, "iam.googleapis.com"),
        )
        member = self.service_account.member
        # On this service account only: no other Kubernetes service account, namespace or cluster may act as it.
        self.binding = gcp.serviceaccount.IAMMember(
            f"{name}-workload-identity",
            service_account_id=self.service_account.name,
            role=WORKLOAD_IDENTITY_USER,
            member=f"serviceAccount:{workload_pool}[{args.subject}]",
            opts=pulumi.ResourceOptions(parent=self),
        )
        roles = [*args.roles, *(r for r in data_roles(database) if r not in args.roles)]
        self.project_roles = project_grants(name, project=ctx.project, member=member, roles=roles, parent=self)
        self.secret_access = secret_grants(name, member=member, database=database, redis=redis, parent=self)
        self.bucket_access = bucket_grants(name, member=member, buckets=buckets or {}, parent=self)
        self.email = self.service_account.email
        self.register_outputs({"email": self.email})
