"""Customer-managed encryption keys (CMEK): a key ring per location the stack's data lives in, one rotating key per
data service there, and each service's Google agent allowed to use its own key and no other.

The keys come out as an `Encryption` (components/refs.py) whose ids resolve only once the agent's grant exists and has
had time to propagate, so the database, cache, buckets, repository, secrets and topics that take them wait for it
instead of failing on create.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumiverse_time as time
from pydantic import Field

from components.agents import service_agent
from components.config_types import REGIONS, Model
from components.context import StackContext
from components.refs import Encryption

ENCRYPTER_DECRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
KMS_API = "cloudkms.googleapis.com"
DAY_SECONDS = 86_400
# IAM changes typically propagate in 2 minutes (sometimes 7 or more): a resource created with a key right after its
# agent's grant fails its first create with a KMS permission error, so a key resolves only once this has passed.
IAM_PROPAGATION = "180s"
# Cloud Storage multi-regions and predefined dual-regions, and the Cloud KMS multi-region their keys live in: a key
# must be where the data is, and KMS names its multi-regions differently (`europe`, not `EU`).
MULTI_REGIONS = {"EU": "europe", "US": "us", "ASIA": "asia"}
DUAL_REGIONS = {"ASIA1": "asia", "EUR4": "europe", "EUR5": "europe", "EUR7": "europe", "EUR8": "europe", "NAM4": "us"}


@dataclass(frozen=True)
class Agent:
    """The Google service agent that encrypts and decrypts a service's data with its key."""

    api: str  # the API whose resources take the key
    identity: str | None  # the service whose agent `gcp.projects.ServiceIdentity` creates; None: read from an API


# The data services that take a key, and whose agent uses it. Cloud Storage's and BigQuery's agents are created when
# their APIs are asked for them (the storage and BigQuery service account lookups).
AGENTS: dict[str, Agent] = {
    "sql": Agent("sqladmin.googleapis.com", "sqladmin.googleapis.com"),
    "redis": Agent("redis.googleapis.com", "redis.googleapis.com"),
    "storage": Agent("storage.googleapis.com", None),
    "bigquery": Agent("bigquery.googleapis.com", None),
    "pubsub": Agent("pubsub.googleapis.com", "pubsub.googleapis.com"),
    "artifactregistry": Agent("artifactregistry.googleapis.com", "artifactregistry.googleapis.com"),
    "secretmanager": Agent("secretmanager.googleapis.com", "secretmanager.googleapis.com"),
}


class EncryptionArgs(Model):
    """`platform:encryption`: whether the stack's data is encrypted with its own keys, and how they are kept."""

    cmek: bool = False
    rotation_days: int = Field(90, ge=2, le=36_500)  # a new primary version this often (Cloud KMS: more than a day)
    # How long a version scheduled for destruction can still be restored; fixed when the key is created.
    destroy_scheduled_days: int = Field(30, ge=1, le=120)


def kms_location(location: str) -> str:
    """The Cloud KMS location of a key for data in `location` (a region, `global`, a multi- or dual-region)."""
    if location == "global" or location in REGIONS:
        return location
    upper = location.upper()
    if upper in MULTI_REGIONS:
        return MULTI_REGIONS[upper]
    if upper in DUAL_REGIONS:
        return DUAL_REGIONS[upper]
    raise ValueError(f"no Cloud KMS location is known for '{location}'")


class CustomerManagedKeys(pulumi.ComponentResource):
    """Key rings and keys for the locations each data service needs (`needs`: service -> the locations its resources
    name), the agents that use them and their grants. Keys and key rings are retained on delete, whatever the stack's
    `protect`: a key the config no longer needs (a replica region dropped, a dataset moved) leaves the stack and stays
    in Cloud KMS with every version enabled, instead of failing the update (protect) or having its versions scheduled
    for destruction, after which nothing it encrypted can be read again."""

    encryption: Encryption
    key_ids: pulumi.Output[dict[str, str]]

    def __init__(
        self,
        name: str,
        args: EncryptionArgs,
        *,
        ctx: StackContext,
        needs: Mapping[str, Set[str]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:components:CustomerManagedKeys", name, None, ctx.component(opts))
        self._name = name
        self._ctx = ctx
        self._args = args
        unknown = sorted(set(needs) - set(AGENTS))
        if unknown:
            raise ValueError(f"no service agent is known for {', '.join(unknown)}")
        self.rings: dict[str, gcp.kms.KeyRing] = {}
        self.keys: dict[tuple[str, str], gcp.kms.CryptoKey] = {}
        self.grants: dict[tuple[str, str], gcp.kms.CryptoKeyIAMMember] = {}
        self.settled: dict[tuple[str, str], time.Sleep] = {}
        members = {service: self._agent(service) for service in sorted(needs)}
        granted: dict[str, pulumi.Output[str]] = {}
        for service in sorted(needs):
            for location in sorted(needs[service]):
                key_id = self._key(service, kms_location(location), members[service])
                granted[service if location == ctx.region else f"{service}@{location}"] = key_id
        self.encryption = Encryption(keys=granted, region=ctx.region)
        self.key_ids = pulumi.Output.all(**granted) if granted else pulumi.Output.from_input({})
        self.register_outputs({"key_ids": self.key_ids})

    def _agent(self, service: str) -> pulumi.Output[str]:
        """The member (`serviceAccount:...`) of the service's agent, created where it does not exist yet."""
        agent = AGENTS[service]
        invoke = pulumi.InvokeOutputOptions(parent=self, depends_on=self._ctx.apis.require(agent.api))
        if service == "storage":
            return gcp.storage.get_project_service_account_output(project=self._ctx.project, opts=invoke).member
        if service == "bigquery":
            return gcp.bigquery.get_default_service_account_output(project=self._ctx.project, opts=invoke).member
        assert agent.identity is not None
        return service_agent(f"{self._name}-agent-{service}", agent.identity, ctx=self._ctx, parent=self).member

    def _ring(self, location: str) -> gcp.kms.KeyRing:
        if location not in self.rings:
            self.rings[location] = gcp.kms.KeyRing(
                f"{self._name}-ring-{location}",
                name=self._ctx.naming.physical("keys"),
                location=location,
                project=self._ctx.project,
                opts=pulumi.ResourceOptions(
                    parent=self, retain_on_delete=True, depends_on=self._ctx.apis.require(KMS_API)
                ),
            )
        return self.rings[location]

    def _key(self, service: str, location: str, member: pulumi.Input[str]) -> pulumi.Output[str]:
        """The service's key in `location` (one per service and location, shared by its resources there), resolving
        once the agent's grant exists."""
        if (service, location) not in self.keys:
            key = gcp.kms.CryptoKey(
                f"{self._name}-{service}-{location}",
                name=service,
                key_ring=self._ring(location).id,
                purpose="ENCRYPT_DECRYPT",
                rotation_period=f"{self._args.rotation_days * DAY_SECONDS}s",
                destroy_scheduled_duration=f"{self._args.destroy_scheduled_days * DAY_SECONDS}s",
                version_template=gcp.kms.CryptoKeyVersionTemplateArgs(
                    algorithm="GOOGLE_SYMMETRIC_ENCRYPTION", protection_level="SOFTWARE"
                ),
                labels=self._ctx.labels("encryption"),
                # Set once, when the key is created: a later change would replace a key whose name KMS never frees.
                opts=pulumi.ResourceOptions(
                    parent=self, retain_on_delete=True, ignore_changes=["destroyScheduledDuration"]
                ),
            )
            self.keys[(service, location)] = key
            grant = gcp.kms.CryptoKeyIAMMember(
                f"{self._name}-{service}-{location}-agent",
                crypto_key_id=key.id,
                role=ENCRYPTER_DECRYPTER,
                member=member,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.grants[(service, location)] = grant
            # Waits when created, and again only when the grant is (a new key or agent), never on other updates.
            self.settled[(service, location)] = time.Sleep(
                f"{self._name}-{service}-{location}-agent-propagation",
                create_duration=IAM_PROPAGATION,
                triggers={"key": key.id, "member": member},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[grant]),
            )
        key, grant = self.keys[(service, location)], self.grants[(service, location)]
        settled = self.settled[(service, location)]
        return pulumi.Output.all(key.id, grant.etag, settled.id).apply(lambda values: str(values[0]))
