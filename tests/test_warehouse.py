"""The warehouse as the engine would receive it: datasets where and as long as config says, protected as the stack
says, tables from the repository's schema files partitioned and clustered as configured, access per service on one
dataset, encryption with the stack's BigQuery key; and one line naming the key for each mistake."""

from __future__ import annotations

import copy
import json
from typing import Any

import pulumi
import pytest
import yaml

import stack_config
from components.refs import Encryption
from components.warehouse import Warehouse, WarehouseArgs
from offline.engine import ROOT, Recording, Resource, run, run_program
from offline.engine import stack_config as stack_values
from offline.estimate.report import estimate as stack_estimate
from tests.conftest import STACKS, config_of, context_of, program_of, raw_config
from tests.docs import code_blocks

DATASET = "gcp:bigquery/dataset:Dataset"
DAY_MS = 86_400_000


def dataset(program: Recording) -> Resource:
    return program.named("warehouse-analytics")


def table(program: Recording) -> Resource:
    return program.named("warehouse-analytics-order_events")


@pytest.mark.parametrize("stack", STACKS)
def test_the_analytics_dataset_is_in_the_stack_region_with_its_expirations_and_labels(stack: str) -> None:
    config = config_of(stack)
    assert config.warehouse is not None
    args = config.warehouse.datasets["analytics"]
    inputs = dataset(program_of(stack)).inputs
    assert inputs["datasetId"] == f"{config.prefix}_{stack}_analytics"
    assert inputs["location"] == config.gcp.region
    assert inputs["defaultPartitionExpirationMs"] == args.default_partition_expiration_days * DAY_MS  # type: ignore[operator]
    assert "defaultTableExpirationMs" not in inputs  # the events table is kept; its partitions expire
    assert inputs["labels"] == {**config.naming(stack).labels_for("warehouse"), "domain": "orders"}
    assert program_of(stack).outputs["warehouse_datasets"] == {"analytics": inputs["datasetId"]}


@pytest.mark.parametrize("stack", STACKS)
def test_order_events_is_partitioned_by_day_on_publish_time_and_clustered_as_configured(stack: str) -> None:
    inputs = table(program_of(stack)).inputs
    config = config_of(stack)
    assert config.warehouse is not None
    args = config.warehouse.datasets["analytics"].tables["order_events"]
    assert json.loads(inputs["schema"]) == json.loads((ROOT / "schemas/bigquery/order_events.json").read_text())
    assert inputs["timePartitioning"] == {
        "type": "DAY",
        "field": "publish_time",
        "expirationMs": args.partitioning.expiration_days * DAY_MS,  # type: ignore[operator]
    }
    assert inputs["clusterings"] == ["event_type", "order_id"]
    assert inputs["requirePartitionFilter"] is True


@pytest.mark.parametrize("stack", STACKS)
def test_the_warehouse_is_protected_as_the_stack_says(stack: str) -> None:
    program, protection = program_of(stack), config_of(stack).protection
    assert protection.deletion_protection  # every stack keeps its data
    data = dataset(program)
    assert data.inputs["deleteContentsOnDestroy"] is False
    assert data.inputs["deletionPolicy"] == "PREVENT"
    assert table(program).inputs["deletionProtection"] is True
    assert data.protect is table(program).protect is protection.protect


def test_without_deletion_protection_a_dataset_may_be_destroyed_with_its_tables() -> None:
    recording = alone("dev", deletion_protection=False)
    inputs = recording.named("warehouse-analytics").inputs
    assert (inputs["deleteContentsOnDestroy"], inputs["deletionPolicy"]) == (True, "DELETE")
    assert recording.named("warehouse-analytics-order_events").inputs["deletionProtection"] is False


@pytest.mark.parametrize("stack", STACKS)
def test_analytics_may_read_the_analytics_dataset_and_nothing_more(stack: str) -> None:
    program = program_of(stack)
    analytics = program.outputs["service_accounts"]["analytics"]
    grants = [r for r in program.resources if r.custom and analytics in str(r.inputs.get("member", ""))]
    warehouse_grants = [g for g in grants if g.type.startswith("gcp:bigquery/")]
    assert [(g.inputs["datasetId"], g.inputs["role"]) for g in warehouse_grants] == [
        (dataset(program).inputs["datasetId"], "roles/bigquery.dataViewer")
    ]
    project_roles = {g.inputs["role"] for g in grants if g.type == "gcp:projects/iAMMember:IAMMember"}
    assert not any(role.startswith("roles/bigquery.") for role in project_roles)


def alone(stack: str, *, deletion_protection: bool = True, encryption: Encryption | None = None) -> Recording:
    config = config_of(stack)
    assert config.warehouse is not None

    def build() -> None:
        Warehouse(
            "warehouse",
            config.warehouse,  # type: ignore[arg-type]
            ctx=context_of(stack, deletion_protection=deletion_protection),
            service_accounts={name: f"{name}@example.iam.gserviceaccount.com" for name in config.services},
            encryption=encryption or Encryption(),
        )

    return run(build, stack=stack, project_id=config.gcp.project, region=config.gcp.region)


def test_datasets_and_tables_use_the_stacks_bigquery_key_when_it_has_one() -> None:
    key = "projects/p/locations/europe-west1/keyRings/r/cryptoKeys/bigquery"
    encryption = Encryption(keys={"bigquery": key, "pubsub": "other"}, region="europe-west1")
    recording = alone("prod", encryption=encryption)
    assert recording.named("warehouse-analytics").inputs["defaultEncryptionConfiguration"] == {"kmsKeyName": key}
    assert recording.named("warehouse-analytics-order_events").inputs["encryptionConfiguration"] == {"kmsKeyName": key}
    plain = alone("prod")
    assert "defaultEncryptionConfiguration" not in plain.named("warehouse-analytics").inputs
    assert "encryptionConfiguration" not in plain.named("warehouse-analytics-order_events").inputs


def test_a_dataset_outside_the_stack_region_takes_the_bigquery_key_of_its_own_location() -> None:
    values, _ = stack_values("prod")
    warehouse = json.loads(values["platform:warehouse"])
    warehouse["datasets"]["analytics"]["location"] = "EU"
    warehouse["datasets"]["regional"] = {"description": "Kept in the stack's region"}
    program = run_program("prod", config={**values, "platform:warehouse": json.dumps(warehouse)})

    def key_location(resource: Resource, field: str) -> str:
        key_id = resource.inputs[field]["kmsKeyName"]
        assert key_id.endswith("/cryptoKeys/bigquery"), key_id
        return str(key_id.split("/")[3])

    assert dataset(program).inputs["location"] == "EU"
    assert key_location(dataset(program), "defaultEncryptionConfiguration") == "europe"  # KMS names EU so
    assert key_location(table(program), "encryptionConfiguration") == "europe"
    regional = program.named("warehouse-regional")
    assert key_location(regional, "defaultEncryptionConfiguration") == config_of("prod").gcp.region


def test_with_cmek_a_dataset_without_a_key_of_its_location_stops_the_program() -> None:
    key = "projects/p/locations/europe-west1/keyRings/r/cryptoKeys/bigquery"
    with pytest.raises(Exception, match="no customer-managed bigquery key for europe-west1"):
        alone("prod", encryption=Encryption(keys={"bigquery@EU": key}, region="europe-west4"))


def test_the_warehouse_is_priced_by_storage_and_the_queries_it_scans() -> None:
    program, profile = program_of("prod"), config_of("prod").estimates
    estimate = stack_estimate("prod", program, config_of("prod")).cost
    assert estimate is not None
    lines = [line for line in estimate.lines if line.resource == "warehouse-analytics"]
    assert [(line.price, line.quantity) for line in lines] == [
        ("bigquery.active_storage", profile.warehouse_gb),
        ("bigquery.on_demand_query", profile.warehouse_query_tib),
    ]
    assert sum(line.usd for line in lines) > 0
    logs = [line for line in estimate.lines if line.resource == "observability-logs"]
    assert [(line.price, line.quantity) for line in logs] == [("bigquery.active_storage", profile.bigquery_gb)]


def test_the_documented_section_is_prods() -> None:
    block = next(b for b in code_blocks("docs/warehouse.md") if "platform:warehouse" in b)
    documented = yaml.safe_load("config:\n" + block)["config"]["platform:warehouse"]
    assert WarehouseArgs.model_validate(documented) == config_of("prod").warehouse


# Config mistakes ---------------------------------------------------------------------------------------------------


def bad(change: Any, match: str) -> None:
    raw = copy.deepcopy(raw_config("dev"))
    change(raw["warehouse"]["datasets"]["analytics"])
    with pytest.raises(pulumi.RunError, match=match):
        stack_config.parse(raw, stack_file="Pulumi.dev.yaml")


def order_events(dataset: dict[str, Any]) -> dict[str, Any]:
    return dataset["tables"]["order_events"]  # type: ignore[no-any-return]


TABLE_KEY = r"warehouse\.datasets\.analytics\.tables\.order_events"


def test_an_hourly_table_must_expire_its_partitions_before_bigquerys_partition_limit() -> None:
    bad(
        lambda d: order_events(d).update(partitioning={"granularity": "HOUR", "expiration_days": 730}),
        rf"{TABLE_KEY}\.partitioning\.expiration_days: an hourly table keeps at most 10000 partitions \(416 days\)",
    )
    bad(
        lambda d: (
            order_events(d).update(partitioning={"granularity": "HOUR"})
            or d.pop("default_partition_expiration_days", None)
        ),
        rf"{TABLE_KEY}\.partitioning\.expiration_days: .* \(got None\)",
    )
    raw = copy.deepcopy(raw_config("dev"))
    order_events(raw["warehouse"]["datasets"]["analytics"]).update(
        partitioning={"granularity": "HOUR", "expiration_days": 416}
    )
    assert stack_config.parse(raw, stack_file="Pulumi.dev.yaml").warehouse is not None


def test_partitioning_on_a_column_that_is_not_a_time_names_the_key() -> None:
    bad(
        lambda d: order_events(d).update(partitioning={"column": "order_id"}),
        rf"{TABLE_KEY}\.partitioning\.column: 'order_id' is not a TIMESTAMP, DATE or DATETIME column",
    )


def test_clustering_on_a_column_the_table_lacks_names_the_key() -> None:
    bad(
        lambda d: order_events(d).update(clustering=["country"]),
        rf"{TABLE_KEY}\.clustering: 'country' is not a top-level, non-repeated, clusterable column",
    )
    bad(
        lambda d: order_events(d).update(clustering=["attributes"]),  # a JSON column
        rf"{TABLE_KEY}\.clustering: 'attributes' is not a top-level, non-repeated, clusterable column",
    )


def test_clustering_on_more_than_four_columns_names_the_key() -> None:
    five = ["event_id", "event_type", "order_id", "customer_id", "currency"]
    bad(lambda d: order_events(d).update(clustering=five), rf"{TABLE_KEY}\.clustering: list should have at most 4")


def test_a_schema_file_that_is_missing_or_not_a_schema_names_the_key() -> None:
    bad(
        lambda d: order_events(d).update(schema_file="schemas/bigquery/missing.json"),
        rf"{TABLE_KEY}\.schema_file: 'schemas/bigquery/missing\.json' is not a file of this project",
    )
    bad(
        lambda d: order_events(d).update(schema_file="schemas/order_event.avsc"),
        rf"{TABLE_KEY}\.schema_file: 'schemas/order_event\.avsc' is not a BigQuery schema",
    )


def test_access_for_a_service_that_does_not_exist_names_the_key() -> None:
    bad(
        lambda d: d.update(access={"reports": "reader"}),
        r"warehouse\.datasets\.analytics\.access\.reports: 'reports' is not one of services",
    )


def test_an_unknown_access_level_names_the_key() -> None:
    bad(lambda d: d.update(access={"analytics": "owner"}), r"warehouse\.datasets\.analytics\.access\.analytics: input")


def test_an_unknown_location_names_the_key() -> None:
    bad(
        lambda d: d.update(location="europe"),
        r"warehouse\.datasets\.analytics\.location: 'europe' is not a BigQuery location",
    )
