"""The small typed references one component takes from another: ids and outputs, never the component itself, so a
consumer can reach only what it was given and a change inside the producer does not ripple."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp


@dataclass(frozen=True)
class NetworkRef:
    """The VPC as its consumers see it.

    `private_services_network` is the network id, resolved only once private services access is peered: a Cloud SQL or
    Memorystore instance that takes its network from it waits for the peering instead of failing with "no private
    connection".
    """

    network_id: pulumi.Output[str]
    serverless_subnet_id: pulumi.Output[str]
    private_services_network: pulumi.Output[str]
    private_services_range: pulumi.Output[str]  # the reserved range's name, for allocated/reserved IP ranges
    subnet_ids: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)  # every subnet's id, by its config key


@dataclass(frozen=True)
class DatabaseBinding:
    """What a workload needs of the Cloud SQL component: no password, only the id of the secret holding it."""

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
class SecretBinding:
    """An app secret a workload reads: its key in the stack file, the secret's id and the version it reads (`latest`,
    or a version number)."""

    key: str
    secret_id: pulumi.Input[str]
    version: pulumi.Input[str] = "latest"


@dataclass(frozen=True)
class BucketBinding:
    """An application bucket a workload uses: its name and the one object role it holds on it."""

    name: pulumi.Input[str]
    role: str  # roles/storage.objectViewer, objectCreator or objectUser


@dataclass(frozen=True)
class RepositoryRef:
    """An Artifact Registry repository a runtime pulls images from: grants are made on it alone."""

    project: pulumi.Input[str]
    location: pulumi.Input[str]
    repository_id: pulumi.Input[str]


@dataclass(frozen=True)
class Encryption:
    """Customer-managed encryption keys (CMEK) by data service, when the stack turns CMEK on.

    Each value is a Cloud KMS key id (`projects/P/locations/L/keyRings/R/cryptoKeys/K`) that resolves only once the
    service's agent may use the key, so a resource that takes it waits for the grant instead of failing on its first
    create. Services: `sql`, `redis`, `storage`, `bigquery`, `pubsub`, `artifactregistry`, `secretmanager`; a key for
    another location than the stack's region is keyed `service@location`, with the location as the resource names it
    (a cross-region replica's region, a bucket's `EU` or `EUR4`, `global` for automatically replicated secrets).
    """

    keys: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    region: str | None = None  # the stack's region: a key asked for there is the plain `service` key

    def key(self, service: str, region: str | None = None) -> pulumi.Input[str] | None:
        """The key for `service` (in `region`, when it is not the stack's), or None: Google-managed encryption."""
        if region is None or region == self.region:
            return self.keys.get(service)
        return self.keys.get(f"{service}@{region}")

    def key_at(self, service: str, location: str) -> pulumi.Input[str] | None:
        """The key for the data `service` keeps in `location` (as the resource names it), or None without CMEK.

        With CMEK a missing key is an error rather than Google-managed encryption nobody asked for: the location is
        one `StackConfig.encryption_needs` does not list, and the resource would otherwise lose its key silently (or,
        given the stack region's key instead, be refused by a service that wants the key where the data is)."""
        if not self.enabled:
            return None
        key = self.key(service, location)
        if key is None:
            raise ValueError(
                f"no customer-managed {service} key for {location}: add the location to StackConfig.encryption_needs"
            )
        return key

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    def topic_storage(self) -> gcp.pubsub.TopicMessageStoragePolicyArgs | None:
        """With CMEK, a topic keeps its messages in the stack's region, where its key is: published through the global
        endpoint from elsewhere, they would otherwise be stored in the region nearest the publisher. Not enforced in
        transit: Google's own publishers (Secret Manager, Cloud Billing) must still reach the topic."""
        if not self.enabled or self.region is None:
            return None
        return gcp.pubsub.TopicMessageStoragePolicyArgs(allowed_persistence_regions=[self.region])


NO_CMEK = Encryption()


@dataclass(frozen=True)
class ServiceEndpoint:
    """A Cloud Run service as the event bus sees it: its name (resolving once the service exists, so a grant on it
    waits), its run.app URL (where Pub/Sub pushes and the audience its ID tokens carry) and its own service account."""

    name: pulumi.Input[str]
    url: pulumi.Input[str]
    service_account_email: pulumi.Input[str]


@dataclass(frozen=True)
class WarehouseTable:
    """A BigQuery table of the warehouse, as a BigQuery subscription writes into it."""

    project: str
    dataset_id: pulumi.Input[str]
    table_id: pulumi.Input[str]

    @property
    def path(self) -> pulumi.Output[str]:
        """`PROJECT.DATASET.TABLE`, the form a BigQuery subscription names its table in."""
        return pulumi.Output.concat(self.project, ".", self.dataset_id, ".", self.table_id)
