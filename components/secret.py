"""One Secret Manager secret with its current value, and access granted per reader, so that every service can read
exactly its own secrets and nothing else."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_gcp as gcp
from pydantic import model_validator

from components.config_types import Model, Region, invalid
from components.context import StackContext

ACCESSOR_ROLE = "roles/secretmanager.secretAccessor"


class SecretsArgs(Model):
    """How every secret of the stack is stored; `replicas` empty lets Google choose (automatic replication)."""

    replicas: list[Region] = []  # user-managed replication: the value never leaves these regions

    @model_validator(mode="after")
    def _distinct(self) -> SecretsArgs:
        if len(set(self.replicas)) != len(self.replicas):
            invalid("replicas", f"{self.replicas} lists a region twice; name each region once")
        return self


class Secret(pulumi.ComponentResource):
    """A secret and one version holding `data` (kept a Pulumi secret end to end). Readers are granted
    `roles/secretmanager.secretAccessor` on this secret only, by `accessors` or later with `grant_access`."""

    id: pulumi.Output[str]
    secret_id: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        secret_id: str,
        data: pulumi.Input[str],
        args: SecretsArgs,
        ctx: StackContext,
        owner: str,
        accessors: Mapping[str, pulumi.Input[str]] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`owner` is the component the secret belongs to, for its labels."""
        super().__init__("platform:components:Secret", name, None, opts)
        self._name = name
        self.secret = gcp.secretmanager.Secret(
            f"{name}-secret",
            secret_id=secret_id,
            replication=_replication(args),
            labels=ctx.labels(owner),
            deletion_protection=ctx.deletion_protection,
            opts=ctx.stateful(self, "secretmanager.googleapis.com"),
        )
        # The version is the only copy of a generated credential: protected like the secret that holds it.
        self.version = gcp.secretmanager.SecretVersion(
            f"{name}-version",
            secret=self.secret.id,
            secret_data=pulumi.Output.secret(data),
            opts=pulumi.ResourceOptions(parent=self, protect=ctx.protect),
        )
        self.id = self.secret.id
        self.secret_id = self.secret.secret_id
        self.accessors = {key: self.grant_access(key, member) for key, member in (accessors or {}).items()}
        self.register_outputs({"id": self.id, "version": self.version.name})

    def grant_access(self, key: str, member: pulumi.Input[str]) -> gcp.secretmanager.SecretIamMember:
        """Let `member` (e.g. `serviceAccount:api@...`) read this secret's versions; `key` names the grant."""
        return gcp.secretmanager.SecretIamMember(
            f"{self._name}-accessor-{key}",
            secret_id=self.secret.id,
            role=ACCESSOR_ROLE,
            member=member,
            opts=pulumi.ResourceOptions(parent=self),
        )


def _replication(args: SecretsArgs) -> gcp.secretmanager.SecretReplicationArgs:
    if not args.replicas:
        return gcp.secretmanager.SecretReplicationArgs(auto=gcp.secretmanager.SecretReplicationAutoArgs())
    return gcp.secretmanager.SecretReplicationArgs(
        user_managed=gcp.secretmanager.SecretReplicationUserManagedArgs(
            replicas=[gcp.secretmanager.SecretReplicationUserManagedReplicaArgs(location=r) for r in args.replicas]
        )
    )
