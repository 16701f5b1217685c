"""One Secret Manager secret with its current value, and access granted per reader, so that every service can read
exactly its own secrets and nothing else."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pulumi
import pulumi_gcp as gcp
from pydantic import model_validator

from components.config_types import Model, Region, invalid
from components.context import StackContext
from components.refs import NO_CMEK, Encryption

ACCESSOR_ROLE = "roles/secretmanager.secretAccessor"
# An automatically replicated secret's payload is encrypted with one key in the `global` KMS location.
AUTOMATIC = "global"


@dataclass(frozen=True)
class Rotation:
    """Secret Manager sends a SECRET_ROTATE message to `topic` every `days`; it rotates nothing itself. The topic must
    let the Secret Manager agent publish before the secret names it, so `topic` resolves once that grant exists."""

    days: int
    topic: pulumi.Input[str]  # projects/P/topics/T

    def args(self) -> gcp.secretmanager.SecretRotationArgs:
        # The first notification one period from the day the secret is created; Secret Manager then moves it on by
        # the period after each one, so the program never sets it again (ignored after creation).
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        first = today + timedelta(days=self.days)
        return gcp.secretmanager.SecretRotationArgs(
            next_rotation_time=first.strftime("%Y-%m-%dT%H:%M:%SZ"), rotation_period=f"{self.days * 86_400}s"
        )


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
        encryption: Encryption = NO_CMEK,
        rotation: Rotation | None = None,
        rotatable: bool = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`owner` is the component the secret belongs to, for its labels. `rotatable`: the value comes from the stack
        config and is replaced by setting it again, so its version is not protected and a replaced version is abandoned,
        still enabled: a revision pinned to it (a blue/green split, a rollback target, a job) must still start, and a
        disabled version cannot be read. Otherwise the version is the only copy of a generated credential and is
        protected like the secret."""
        super().__init__("platform:components:Secret", name, None, opts)
        self._name = name
        self.secret = gcp.secretmanager.Secret(
            f"{name}-secret",
            secret_id=secret_id,
            replication=_replication(args, encryption),
            labels=ctx.labels(owner),
            deletion_protection=ctx.deletion_protection,
            rotation=rotation.args() if rotation else None,
            topics=[gcp.secretmanager.SecretTopicArgs(name=rotation.topic)] if rotation else None,
            opts=pulumi.ResourceOptions.merge(
                ctx.stateful(self, "secretmanager.googleapis.com"),
                pulumi.ResourceOptions(ignore_changes=["rotation.nextRotationTime"] if rotation else None),
            ),
        )
        self.version = gcp.secretmanager.SecretVersion(
            f"{name}-version",
            secret=self.secret.id,
            secret_data=pulumi.Output.secret(data),
            deletion_policy="ABANDON" if rotatable else None,
            opts=pulumi.ResourceOptions(parent=self, protect=ctx.protect and not rotatable),
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


def _replication(args: SecretsArgs, encryption: Encryption) -> gcp.secretmanager.SecretReplicationArgs:
    """Where the payload is kept and, with CMEK, the key of each place: one `global` key for automatic replication,
    a key in each replica's region for user-managed replication."""
    if not args.replicas:
        key = encryption.key("secretmanager", AUTOMATIC)
        return gcp.secretmanager.SecretReplicationArgs(
            auto=gcp.secretmanager.SecretReplicationAutoArgs(
                customer_managed_encryption=gcp.secretmanager.SecretReplicationAutoCustomerManagedEncryptionArgs(
                    kms_key_name=key
                )
                if key
                else None
            )
        )
    replicas = []
    for region in args.replicas:
        key = encryption.key("secretmanager", region)
        replicas.append(
            gcp.secretmanager.SecretReplicationUserManagedReplicaArgs(
                location=region,
                customer_managed_encryption=gcp.secretmanager.SecretReplicationUserManagedReplicaCustomerManagedEncryptionArgs(
                    kms_key_name=key
                )
                if key
                else None,
            )
        )
    return gcp.secretmanager.SecretReplicationArgs(
        user_managed=gcp.secretmanager.SecretReplicationUserManagedArgs(replicas=replicas)
    )
