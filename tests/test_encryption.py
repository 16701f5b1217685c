"""Customer-managed encryption (CMEK): each data service's resources take a rotating key of their own location, each
key may be used by its service's Google agent alone, and nothing is created before its agent may use its key."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pulumi
import pytest

import stack_config
from components.agents import AGENT_DOMAINS
from components.encryption import AGENTS, ENCRYPTER_DECRYPTER, kms_location
from offline import mocks
from offline.catalog import facts_of
from offline.catalog.facts import Facts
from offline.engine import Recording, Resource, run_program
from tests.conftest import STACKS, config_of, program_of, raw_config

KEY = "gcp:kms/cryptoKey:CryptoKey"
RING = "gcp:kms/keyRing:KeyRing"
KEY_GRANT = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
IDENTITY = "gcp:projects/serviceIdentity:ServiceIdentity"
SQL = "gcp:sql/databaseInstance:DatabaseInstance"
BUCKET = "gcp:storage/bucket:Bucket"
SECRET = "gcp:secretmanager/secret:Secret"
TOPIC = "gcp:pubsub/topic:Topic"
DATASET = "gcp:bigquery/dataset:Dataset"
TABLE = "gcp:bigquery/table:Table"
CMEK_STACKS = ("staging", "prod")
# Agents Google creates when their API is asked for them rather than through a service identity.
LOOKED_UP = {
    "storage": "@gs-project-accounts.iam.gserviceaccount.com",
    "bigquery": "@bigquery-encryption.iam.gserviceaccount.com",
}


def keys(program: Recording) -> dict[str, Resource]:
    """The customer-managed keys by id (projects/P/locations/L/keyRings/R/cryptoKeys/SERVICE); not other keys of the
    stack, such as a Binary Authorization signing key."""
    return {k.outputs["id"]: k for k in program.of(KEY) if "platform:components:CustomerManagedKeys$" in k.urn}


def location_of(key_id: str) -> str:
    match = re.fullmatch(r"projects/[^/]+/locations/([^/]+)/keyRings/[^/]+/cryptoKeys/([^/]+)", key_id)
    assert match, key_id
    return match[1]


def service_of(key_id: str) -> str:
    return key_id.rsplit("/", 1)[1]


def assert_key(program: Recording, key_id: object, service: str, location: str) -> None:
    """`key_id` is a key of the stack, for `service`, in the Cloud KMS location of data kept in `location`."""
    assert isinstance(key_id, str)
    assert key_id in keys(program), key_id
    assert (service_of(key_id), location_of(key_id)) == (service, kms_location(location))


@pytest.mark.parametrize("stack", CMEK_STACKS)
def test_cloud_sql_and_each_replica_take_the_sql_key_of_their_own_region(stack: str) -> None:
    program, config = program_of(stack), config_of(stack)
    primary = program.named("database-primary")
    assert_key(program, primary.inputs["encryptionKeyName"], "sql", config.gcp.region)
    for name, replica in config.database.replicas.items():
        inputs = program.named(f"database-replica-{name}").inputs
        assert_key(program, inputs["encryptionKeyName"], "sql", replica.region)
    assert any(r.region != config.gcp.region for r in config.database.replicas.values())  # a cross-region one


@pytest.mark.parametrize("stack", CMEK_STACKS)
def test_redis_registry_topics_and_the_warehouse_take_their_services_keys(stack: str) -> None:
    program, config = program_of(stack), config_of(stack)
    region = config.gcp.region
    assert_key(program, program.named("redis-instance").inputs["customerManagedKey"], "redis", region)
    assert_key(program, program.named("registry-repository").inputs["kmsKeyName"], "artifactregistry", region)
    topics = program.of(TOPIC)
    assert topics
    for topic in topics:
        assert_key(program, topic.inputs.get("kmsKeyName"), "pubsub", region)
    datasets = program.of(DATASET)
    assert datasets
    for dataset in datasets:
        if dataset.inputs["labels"]["component"] != "warehouse":
            continue  # the log sink's dataset keeps Google-managed encryption
        key = dataset.inputs["defaultEncryptionConfiguration"]["kmsKeyName"]
        assert_key(program, key, "bigquery", dataset.inputs["location"])
    for table in program.of(TABLE):
        assert_key(program, table.inputs["encryptionConfiguration"]["kmsKeyName"], "bigquery", region)


@pytest.mark.parametrize("stack", CMEK_STACKS)
def test_every_bucket_takes_the_storage_key_of_its_location(stack: str) -> None:
    program = program_of(stack)
    buckets = program.of(BUCKET)
    assert {b.inputs["location"] for b in buckets} >= {"EU", "europe-west1", "europe-west4"}
    for bucket in buckets:
        assert_key(program, bucket.inputs["encryption"]["defaultKmsKeyName"], "storage", bucket.inputs["location"])


@pytest.mark.parametrize("stack", CMEK_STACKS)
def test_every_secret_replica_takes_the_secret_manager_key_of_its_region(stack: str) -> None:
    program, config = program_of(stack), config_of(stack)
    secrets = program.of(SECRET)
    assert secrets
    for secret in secrets:
        replicas = secret.inputs["replication"]["userManaged"]["replicas"]
        assert [r["location"] for r in replicas] == config.secrets.replicas
        for replica in replicas:
            key = replica["customerManagedEncryption"]["kmsKeyName"]
            assert_key(program, key, "secretmanager", replica["location"])


def test_automatically_replicated_secrets_take_one_global_key() -> None:
    raw = raw_config("staging")
    raw["secrets"] = {"replicas": []}
    config = stack_config.parse(raw, stack_file="Pulumi.staging.yaml")
    assert config.encryption_needs()["secretmanager"] == {"global"}
    assert kms_location("global") == "global"


def test_dev_keeps_google_managed_encryption() -> None:
    program = program_of("dev")
    assert not config_of("dev").encryption.cmek
    assert program.of(KEY) == program.of(RING) == program.of(KEY_GRANT) == []
    assert "encryptionKeyName" not in program.named("database-primary").inputs
    assert "customerManagedKey" not in program.named("redis-instance").inputs
    assert all("encryption" not in b.inputs for b in program.of(BUCKET))
    assert program.outputs["encryption_keys"] == {}


@pytest.mark.parametrize("stack", STACKS)
def test_each_key_may_be_used_by_its_own_services_agent_and_nobody_else(stack: str) -> None:
    program = program_of(stack)
    mine = keys(program)
    grants = [g for g in program.of(KEY_GRANT) if g.inputs["cryptoKeyId"] in mine]  # from any component
    by_key: dict[str, list[Resource]] = {}
    for grant in grants:
        by_key.setdefault(grant.inputs["cryptoKeyId"], []).append(grant)
    assert set(by_key) == set(mine)  # every key has a grant (and, below, exactly one)
    for key_id, on_key in by_key.items():
        (grant,) = on_key
        service = service_of(key_id)
        assert grant.inputs["role"] == ENCRYPTER_DECRYPTER
        domain = LOOKED_UP.get(service) or "@" + AGENT_DOMAINS[AGENTS[service].identity or ""]
        assert grant.inputs["member"].startswith("serviceAccount:")
        assert grant.inputs["member"].endswith(domain), (key_id, grant.inputs["member"])
    project_kms = [g for g in program.of("gcp:projects/iAMMember:IAMMember") if "cloudkms" in g.inputs["role"]]
    assert project_kms == []  # never a project-wide key role


@pytest.mark.parametrize("stack", CMEK_STACKS)
def test_agents_that_may_not_exist_yet_are_created_before_their_grant(stack: str) -> None:
    program = program_of(stack)
    identities = {i.inputs["service"]: i for i in program.of(IDENTITY) if i.name.startswith("encryption-")}
    assert set(identities) == {a.identity for a in AGENTS.values() if a.identity}
    for grant in program.of(KEY_GRANT):
        service = service_of(grant.inputs["cryptoKeyId"])
        if service in LOOKED_UP:
            continue
        assert grant.inputs["member"] == identities[AGENTS[service].identity or ""].outputs["member"]


@pytest.mark.parametrize("stack", CMEK_STACKS)
def test_what_takes_a_key_waits_for_its_agents_grant(stack: str) -> None:
    program = program_of(stack)
    grants = {g.inputs["cryptoKeyId"]: g for g in program.of(KEY_GRANT)}
    takers = [
        (program.named("database-primary"), "encryptionKeyName"),
        (program.named("redis-instance"), "customerManagedKey"),
        (program.named("registry-repository"), "kmsKeyName"),
    ]
    for resource, field in takers:
        assert program.depends_on(resource, grants[resource.inputs[field]]), resource.name


@pytest.mark.parametrize("stack", CMEK_STACKS)
def test_what_takes_a_key_waits_for_its_agents_grant_to_propagate(stack: str) -> None:
    """IAM changes typically take 2 minutes to propagate: a resource created with its key right after a grant fails."""
    program = program_of(stack)
    sleeps = {s.name: s for s in program.of("time:index/sleep:Sleep") if s.name.startswith("encryption-")}
    grants = list(program.of(KEY_GRANT))
    assert len(sleeps) == len(grants)
    for grant in grants:
        sleep = sleeps[f"{grant.name}-propagation"]
        assert program.depends_on(sleep, grant)
        assert int(sleep.inputs["createDuration"].removesuffix("s")) >= 120
    takers = [
        (program.named("database-primary"), "encryptionKeyName"),
        (program.named("redis-instance"), "customerManagedKey"),
        (program.named("registry-repository"), "kmsKeyName"),
    ]
    by_key = {g.inputs["cryptoKeyId"]: sleeps[f"{g.name}-propagation"] for g in grants}
    for resource, field in takers:
        assert program.depends_on(resource, by_key[resource.inputs[field]]), resource.name


@pytest.mark.parametrize("stack", CMEK_STACKS)
def test_keys_rotate_as_config_says_and_nothing_can_destroy_them_by_accident(stack: str) -> None:
    program, config = program_of(stack), config_of(stack)
    args = config.encryption
    for key in program.of(KEY):
        assert key.inputs["rotationPeriod"] == f"{args.rotation_days * 86400}s"
        assert key.inputs["destroyScheduledDuration"] == f"{args.destroy_scheduled_days * 86400}s"
        assert key.inputs["purpose"] == "ENCRYPT_DECRYPT"
        # Whatever the stack's own protect: a key leaving the program is abandoned in KMS, never destroyed (a destroyed
        # key takes its data with it), and never protected (a protected key the config drops fails every update).
        assert (key.retain_on_delete, key.protect) == (True, False)
        assert "destroyScheduledDuration" in key.ignore_changes  # fixed at creation: a change must not replace it
    for ring in program.of(RING):
        assert (ring.retain_on_delete, ring.protect) == (True, False)
    assert program.outputs["encryption_keys"] == {
        k: v for k, v in program.outputs["encryption_keys"].items() if v in keys(program)
    }


def test_prod_has_one_key_ring_per_location_its_data_lives_in() -> None:
    program = program_of("prod")
    assert {r.inputs["location"] for r in program.of(RING)} == {"europe-west1", "europe-west4", "europe"}


@pytest.mark.parametrize(
    ("location", "expected"),
    [("europe-west4", "europe-west4"), ("EU", "europe"), ("EUR4", "europe"), ("NAM4", "us"), ("global", "global")],
)
def test_a_key_lives_in_the_kms_location_of_the_data_it_encrypts(location: str, expected: str) -> None:
    assert kms_location(location) == expected


def test_an_unknown_location_has_no_key_location() -> None:
    with pytest.raises(ValueError, match="no Cloud KMS location"):
        kms_location("mars-north1")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("rotation_days", 1, r"encryption\.rotation_days: input should be greater than or equal to 2"),
        ("destroy_scheduled_days", 365, r"encryption\.destroy_scheduled_days: input should be less than or equal"),
        ("rotate", 30, r"encryption\.rotate is not a known key"),
    ],
)
def test_bad_encryption_config_names_the_key(key: str, value: int, message: str) -> None:
    raw = raw_config("prod")
    raw["encryption"] = {"cmek": True, key: value}
    with pytest.raises(pulumi.RunError, match=message):
        stack_config.parse(raw, stack_file="Pulumi.prod.yaml")


def test_with_cmek_a_dual_region_bucket_is_refused_until_its_key_location_is_known() -> None:
    raw = raw_config("prod")
    raw["buckets"] = {**raw["buckets"], "media": {"location": "EUR4"}}
    with pytest.raises(pulumi.RunError, match=r"buckets\.media\.location: EUR4 is a dual-region"):
        stack_config.parse(raw, stack_file="Pulumi.prod.yaml")
    raw["encryption"] = {**raw["encryption"], "cmek": False}
    assert stack_config.parse(raw, stack_file="Pulumi.prod.yaml").buckets["media"].location == "EUR4"


def test_a_service_that_keeps_no_data_in_the_stack_gets_no_key() -> None:
    """Every key version is billed, used or not: bro-ai has no warehouse (its event bus and its budget's topic need
    the Pub/Sub key), and without either it has no rotating secret, so no Pub/Sub topic at all."""
    services = {service_of(k) for k in keys(program_of("bro-ai"))}
    assert services == {"sql", "redis", "storage", "secretmanager", "artifactregistry", "pubsub"}
    assert {"bigquery", "pubsub"} <= {service_of(k) for k in keys(program_of("prod"))}
    raw = raw_config("bro-ai")
    raw.pop("events")
    raw["budget"].pop("billing_account")
    assert set(stack_config.parse(raw, stack_file="Pulumi.bro-ai.yaml").encryption_needs()) == {
        "sql",
        "redis",
        "storage",
        "secretmanager",
        "artifactregistry",
    }


def _identity_without_email(token: str) -> Facts | None:
    """The provider relays whatever generateServiceIdentity returns, and for some services that is no email."""
    facts = facts_of(token)
    if token != IDENTITY or facts is None:
        return facts
    return dataclasses.replace(facts, outputs=lambda c, name, i: {"id": f"projects/{c.project}/services/x"})


def test_agent_grants_name_the_documented_agent_even_when_the_api_returns_no_email(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(mocks, "facts_of", _identity_without_email)
    program = run_program("prod")
    members: list[tuple[str, Any]] = [(g.name, g.inputs.get("member")) for g in program.of(KEY_GRANT)]
    members += [
        (g.name, g.inputs.get("member"))
        for g in program.resources
        if g.custom and g.name.endswith(("-agent-subscriber", "-dead-letter-publisher", "-rotation-publisher"))
    ]
    assert len(members) > len(list(program.of(KEY_GRANT)))
    for name, member in members:
        assert re.fullmatch(r"serviceAccount:(service|bq)-\d+@[a-z-]+\.iam\.gserviceaccount\.com", str(member)), name


@pytest.mark.parametrize("stack", STACKS)
def test_with_cmek_every_topic_stores_its_messages_in_the_region_of_its_key(stack: str) -> None:
    """Published through the global endpoint from elsewhere, a message is stored in the region nearest the publisher
    unless the topic's storage policy names the allowed regions; the key is in the stack's region."""
    program, config = program_of(stack), config_of(stack)
    topics = list(program.of(TOPIC))
    assert topics
    for topic in topics:
        policy = topic.inputs.get("messageStoragePolicy")
        if config.encryption.cmek:
            assert topic.inputs["kmsKeyName"].split("/")[3] == config.gcp.region
            assert policy == {"allowedPersistenceRegions": [config.gcp.region]}, topic.name
            # Not in transit: Secret Manager and Cloud Billing publish from Google's side, not from the region.
            assert "enforceInTransit" not in policy
        else:
            assert policy is None, topic.name
