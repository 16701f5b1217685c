"""The services' own secrets (signing keys, API keys, a measurement id): created by the stack from a value set with
`pulumi config set --secret`, or an existing Secret Manager secret it only grants access to. A service reads the
secrets it names and no others; optional rotation notifications go to a topic whose due messages are kept and alert.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Literal

import pulumi
import pulumi_gcp as gcp
from pydantic import AfterValidator, Field, StringConstraints, model_validator

from components.agents import service_agent
from components.config_types import Model, invalid
from components.context import StackContext
from components.observability.signals import Alert, Runbook, Watched, metric, threshold
from components.refs import NO_CMEK, Encryption, SecretBinding
from components.secret import Rotation, Secret, SecretsArgs

# Where a created secret's value is set: `pulumi config set --secret platform:app_secret_<key>`.
VALUE_KEY_PREFIX = "app_secret_"
PUBLISHER = "roles/pubsub.publisher"
ROTATE_EVENT = "SECRET_ROTATE"
# Due rotation notifications are kept this long for whoever rotates (Pub/Sub's default; at most 31 days).
ROTATION_RETENTION_SECONDS = 7 * 86_400  # the topic's, for replays
# The due subscription keeps a notice as long as Pub/Sub allows (31 days); one ignored for a week escalates.
DUE_RETENTION_SECONDS = 31 * 86_400
OVERDUE_SECONDS = 7 * 86_400
ROTATION_RUNBOOK = Runbook(
    "An app secret reached its rotation period: Secret Manager published SECRET_ROTATE for it.",
    "Read the waiting message to see which secret; set a new value and deploy, then acknowledge the message.",
    "an-app-secret-is-due-for-rotation",
    page="app-platform.md",
)

# An app secret's name in the stack file; it names the secret in Secret Manager and its config key, so it is short.
SecretKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
_EXISTING = re.compile(
    r"^(projects/(?P<project>[a-z][a-z0-9-]{4,28}[a-z0-9])/secrets/)?(?P<name>[A-Za-z0-9_-]{1,255})$"
)


def _existing(value: str) -> str:
    if not _EXISTING.match(value):
        raise ValueError(
            f"'{value}' is not a Secret Manager secret; write its name (GA_MEASUREMENT_ID) or "
            "projects/PROJECT/secrets/NAME"
        )
    return value


ExistingSecret = Annotated[str, AfterValidator(_existing)]


class AppSecretArgs(Model):
    """One app secret. Created by the stack (its value from `platform:app_secret_<key>`), or `existing`: a secret
    someone else keeps in Secret Manager, which the stack only lets its services read.

    `version`: `latest` (an instance reads the newest enabled version when it starts), `pinned` (each revision names
    the version the stack wrote, so a new value reaches a service through a deploy), or a version number of an
    existing secret."""

    existing: ExistingSecret | None = None
    version: Literal["latest", "pinned"] | Annotated[int, Field(ge=1)] = "latest"
    rotation_days: int | None = Field(None, ge=1, le=36_500)  # a SECRET_ROTATE notification this often

    @model_validator(mode="after")
    def _consistent(self) -> AppSecretArgs:
        if self.existing is None and isinstance(self.version, int):
            invalid("version", "the stack writes this secret's versions; use latest or pinned")
        if self.existing is not None and self.version == "pinned":
            invalid("version", "pinned names the version the stack writes; for an existing secret give its number")
        if self.existing is not None and self.rotation_days is not None:
            invalid("rotation_days", "an existing secret's rotation is set where it is created; remove rotation_days")
        return self

    def secret_path(self, project: str) -> str:
        """The existing secret's id, `projects/P/secrets/NAME` (in the stack's project when only a name is given)."""
        assert self.existing is not None
        match = _EXISTING.match(self.existing)
        assert match is not None
        return f"projects/{match['project'] or project}/secrets/{match['name']}"


def value_key(key: str) -> str:
    """The config key (without the namespace) holding a created secret's value."""
    return f"{VALUE_KEY_PREFIX}{key}"


class AppSecrets(pulumi.ComponentResource):
    """Every app secret of the stack, replicated as `platform:secrets` says, each created one encrypted with Secret
    Manager's keys under CMEK. `bindings` is what a service is given for each secret it names: the secret's id and the
    version it reads. Access is granted by each service on the secrets it names (components/app_access.py)."""

    bindings: dict[str, SecretBinding]
    secret_ids: pulumi.Output[dict[str, str]]

    def __init__(
        self,
        name: str,
        args: Mapping[str, AppSecretArgs],
        *,
        ctx: StackContext,
        values: Mapping[str, pulumi.Input[str]],
        replication: SecretsArgs,
        encryption: Encryption = NO_CMEK,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`values`: the value of each created secret, as a Pulumi secret (read with `stack_config.require_secret`)."""
        super().__init__("platform:components:AppSecrets", name, None, ctx.component(opts))
        self._name = name
        self._ctx = ctx
        rotating = any(a.rotation_days is not None for a in args.values())
        self.rotation_topic: gcp.pubsub.Topic | None = None
        self.rotation_subscription: gcp.pubsub.Subscription | None = None
        topic = self._rotation_topic(encryption) if rotating else None
        self.secrets: dict[str, Secret] = {}
        self.bindings = {}
        for key, secret in sorted(args.items()):
            if secret.existing is not None:
                self.bindings[key] = SecretBinding(key, secret.secret_path(ctx.project), str(secret.version))
                continue
            created = Secret(
                f"{name}-{key}",
                secret_id=ctx.naming.physical(key, max_length=255),
                data=values[key],
                args=replication,
                ctx=ctx,
                owner="app-secrets",
                encryption=encryption,
                rotation=Rotation(secret.rotation_days, topic) if secret.rotation_days and topic else None,
                rotatable=True,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.secrets[key] = created
            version = created.version.version if secret.version == "pinned" else "latest"
            self.bindings[key] = SecretBinding(key, created.id, version)
        ids = {key: pulumi.Output.from_input(b.secret_id) for key, b in self.bindings.items()}
        self.secret_ids = pulumi.Output.all(**ids) if ids else pulumi.Output.from_input({})
        self.rotation_topic_id: pulumi.Output[str] | None = self.rotation_topic.id if self.rotation_topic else None
        self.register_outputs({"secret_ids": self.secret_ids, "rotation_topic": self.rotation_topic_id})

    def _rotation_topic(self, encryption: Encryption) -> pulumi.Output[str]:
        """The topic Secret Manager publishes to (its agent may publish there and nowhere else), and a subscription
        that keeps only the SECRET_ROTATE notifications: a topic without one would drop them. Resolves once the agent
        may publish, so a secret naming it is created after the grant."""
        ctx = self._ctx
        agent = service_agent(f"{self._name}-secretmanager-agent", "secretmanager.googleapis.com", ctx=ctx, parent=self)
        self.rotation_topic = gcp.pubsub.Topic(
            f"{self._name}-rotation",
            name=ctx.naming.physical("secret-rotation"),
            kms_key_name=encryption.key("pubsub", ctx.region),
            message_storage_policy=encryption.topic_storage(),
            message_retention_duration=f"{ROTATION_RETENTION_SECONDS}s",
            labels=ctx.labels("app-secrets"),
            opts=ctx.after(self, "pubsub.googleapis.com"),
        )
        grant = gcp.pubsub.TopicIAMMember(
            f"{self._name}-rotation-publisher",
            topic=self.rotation_topic.name,
            role=PUBLISHER,
            member=agent.member,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.rotation_subscription = gcp.pubsub.Subscription(
            f"{self._name}-rotation-due",
            name=ctx.naming.physical("secret-rotation-due"),
            topic=self.rotation_topic.id,
            filter=f'attributes.eventType = "{ROTATE_EVENT}"',
            message_retention_duration=f"{DUE_RETENTION_SECONDS}s",
            retain_acked_messages=False,
            ack_deadline_seconds=60,
            expiration_policy=gcp.pubsub.SubscriptionExpirationPolicyArgs(ttl=""),  # never expires while unused
            labels=ctx.labels("app-secrets"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return pulumi.Output.all(self.rotation_topic.id, grant.etag).apply(lambda values: str(values[0]))

    def watch(self) -> Watched:
        """A rotation notification waiting in the due subscription; nothing to watch without rotation."""
        if self.rotation_subscription is None:
            return Watched(key="app-secrets")
        subscription = self._ctx.naming.physical("secret-rotation-due")
        where = f'resource.type="pubsub_subscription" AND resource.label.subscription_id="{subscription}"'
        condition = threshold(
            "a SECRET_ROTATE notification is waiting",
            metric(where, "pubsub.googleapis.com/subscription/num_undelivered_messages"),
            0,
            "300s",
        )
        alert = Alert(
            "app-secret-rotation-due", "App secret due for rotation", [condition], ROTATION_RUNBOOK, "WARNING"
        )
        overdue = threshold(
            "a SECRET_ROTATE notification has waited a week",
            metric(where, "pubsub.googleapis.com/subscription/oldest_unacked_message_age"),
            OVERDUE_SECONDS,
            "300s",
        )
        escalated = Alert(
            "app-secret-rotation-overdue", "App secret rotation overdue", [overdue], ROTATION_RUNBOOK, "ERROR"
        )
        return Watched(key="app-secrets", alerts=(alert, escalated))


# Values that are credentials whatever their env name says.
_SECRET_VALUES = (
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
    (re.compile(r"^eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*$"), "a JSON Web Token"),
    (
        re.compile(
            r"^(sk_live_|sk_test_|rk_live_|ghp_|gho_|github_pat_|xox[abprs]-|AKIA[0-9A-Z]{16}$|AIza[0-9A-Za-z_-]{35}$)"
        ),
        "an API key or token",
    ),
    (re.compile(r"^[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"), "a URL with a password in it"),
)


def secret_value_kind(value: str) -> str | None:
    """What a plain env value looks like when it looks like a credential, else None."""
    return next((kind for pattern, kind in _SECRET_VALUES if pattern.search(value)), None)
