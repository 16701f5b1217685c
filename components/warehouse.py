"""The analytics warehouse: BigQuery datasets from config, each with its location, default expirations, labels and
per-service access, and tables whose schemas are JSON files in the repository, partitioned by time and clustered."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cached_property
from typing import Annotated, Any, Literal

import pulumi
import pulumi_gcp as gcp
from pydantic import Field, StringConstraints, model_validator

from components.cloud_run import ServiceName
from components.config_types import REGIONS, Key, LabelKey, LabelValue, Model, invalid
from components.context import StackContext
from components.images import PROJECT_ROOT, RelativePath
from components.refs import NO_CMEK, Encryption, WarehouseTable

DAY_MS = 86_400_000
# BigQuery table ids: letters, digits and underscores; here lowercase and starting with a letter.
TableKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
PARTITION_TYPES = frozenset(("TIMESTAMP", "DATE", "DATETIME"))
# Column types BigQuery cannot cluster on (besides REPEATED columns and nested fields).
UNCLUSTERABLE = frozenset(("RECORD", "STRUCT", "JSON", "FLOAT", "FLOAT64", "BYTES", "INTERVAL"))
# BigQuery keeps at most this many partitions in a table; writes into a new one fail beyond it.
MAX_PARTITIONS = 10_000
# Roles a service may hold on one dataset: read its tables, or also write them.
ACCESS_ROLES = {"reader": "roles/bigquery.dataViewer", "writer": "roles/bigquery.dataEditor"}


def _location(value: str) -> str:
    if value not in REGIONS and value not in ("EU", "US"):
        raise ValueError(f"'{value}' is not a BigQuery location; use a region like europe-west1 or EU or US")
    return value


class PartitioningArgs(Model):
    """Time partitioning: on a TIMESTAMP, DATE or DATETIME column, or (without `column`) by ingestion time."""

    column: str | None = None
    granularity: Literal["HOUR", "DAY", "MONTH", "YEAR"] = "DAY"
    expiration_days: int | None = Field(None, ge=1)  # None: the dataset's default partition expiration


class TableArgs(Model):
    schema_file: RelativePath  # a BigQuery JSON schema (a list of fields), relative to the project
    description: str = ""
    partitioning: PartitioningArgs = PartitioningArgs()
    clustering: list[str] = Field([], max_length=4)  # up to four top-level columns, most selective first
    require_partition_filter: bool = True  # queries must say which partitions they read (cost control)

    @model_validator(mode="after")
    def _fits_its_schema(self) -> TableArgs:
        columns = self.columns  # reads and checks the file
        column = self.partitioning.column
        if column is not None and columns.get(column, ("", ""))[0] not in PARTITION_TYPES:
            invalid(
                "partitioning.column",
                f"'{column}' is not a TIMESTAMP, DATE or DATETIME column of {self.schema_file}; name one, or leave "
                "column out to partition by ingestion time",
            )
        for name in self.clustering:
            kind, mode = columns.get(name, ("", ""))
            if not kind or mode == "REPEATED" or kind in UNCLUSTERABLE:
                invalid(
                    "clustering", f"'{name}' is not a top-level, non-repeated, clusterable column of {self.schema_file}"
                )
        if len(set(self.clustering)) != len(self.clustering):
            invalid("clustering", "a column is named twice; name each once, most selective first")
        return self

    @cached_property
    def fields(self) -> list[dict[str, Any]]:
        """The schema file's fields, as BigQuery takes them."""
        path = PROJECT_ROOT / self.schema_file
        if not path.is_file():
            invalid("schema_file", f"'{self.schema_file}' is not a file of this project")
        try:
            fields = json.loads(path.read_text())
        except ValueError as err:
            invalid("schema_file", f"'{self.schema_file}' is not JSON: {err}")
        if not isinstance(fields, list) or not fields or not all(_is_field(f) for f in fields):
            invalid("schema_file", f"'{self.schema_file}' is not a BigQuery schema: a list of {{name, type}} fields")
        return fields

    @cached_property
    def columns(self) -> dict[str, tuple[str, str]]:
        """Top-level column name -> (type, mode)."""
        return {f["name"]: (str(f["type"]).upper(), str(f.get("mode", "NULLABLE")).upper()) for f in self.fields}


def _is_field(field: object) -> bool:
    return isinstance(field, dict) and isinstance(field.get("name"), str) and isinstance(field.get("type"), str)


class DatasetArgs(Model):
    location: str | None = None  # a region or the EU/US multi-region; default: the stack's region
    description: str = ""
    default_table_expiration_days: int | None = Field(None, ge=1)
    default_partition_expiration_days: int | None = Field(None, ge=1)
    labels: dict[LabelKey, LabelValue] = {}
    access: dict[ServiceName, Literal["reader", "writer"]] = {}  # service -> its role on this dataset only
    tables: dict[TableKey, TableArgs] = {}

    @model_validator(mode="after")
    def _known_location(self) -> DatasetArgs:
        if self.location is not None:
            try:
                _location(self.location)
            except ValueError as err:
                invalid("location", str(err))
        return self

    @model_validator(mode="after")
    def _hourly_partitions_expire_within_the_limit(self) -> DatasetArgs:
        """An hourly table keeps 24 partitions a day: without an expiration short enough, it reaches BigQuery's
        partition limit and every write into a new hour fails (the BigQuery subscription's too)."""
        most = MAX_PARTITIONS // 24
        for key, table in self.tables.items():
            days = table.partitioning.expiration_days or self.default_partition_expiration_days
            if table.partitioning.granularity == "HOUR" and (days is None or days > most):
                invalid(
                    f"tables.{key}.partitioning.expiration_days",
                    f"an hourly table keeps at most {MAX_PARTITIONS} partitions ({most} days); set expiration_days "
                    f"to {most} or less (got {days}), or partition by DAY",
                )
        return self


class WarehouseArgs(Model):
    """`platform:warehouse`: the stack's BigQuery datasets and tables."""

    datasets: dict[Key, DatasetArgs] = Field(min_length=1)

    def table(self, ref: str) -> TableArgs | None:
        """The table a `dataset.table` reference names, or None."""
        dataset, _, table = ref.partition(".")
        found = self.datasets.get(dataset)
        return found.tables.get(table) if found else None

    def table_refs(self) -> list[str]:
        return [f"{d}.{t}" for d, dataset in self.datasets.items() for t in dataset.tables]


class Warehouse(pulumi.ComponentResource):
    """BigQuery datasets and tables, protected as the stack says, encrypted with CMEK when the stack has it: each
    dataset and its tables take the BigQuery key of the dataset's own location (BigQuery refuses a key elsewhere).
    Each service in a dataset's `access` gets a reader or writer role on that dataset only."""

    dataset_ids: pulumi.Output[dict[str, str]]
    table_ids: pulumi.Output[dict[str, str]]
    tables: dict[str, WarehouseTable]

    def __init__(
        self,
        name: str,
        args: WarehouseArgs,
        *,
        ctx: StackContext,
        service_accounts: Mapping[str, pulumi.Input[str]],
        encryption: Encryption = NO_CMEK,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:components:Warehouse", name, None, ctx.component(opts))
        self._name = name
        self._ctx = ctx
        self._encryption = encryption
        self.datasets: dict[str, gcp.bigquery.Dataset] = {}
        self._keys: dict[str, pulumi.Input[str] | None] = {}  # dataset key -> the BigQuery key of its location
        self.table_resources: dict[str, gcp.bigquery.Table] = {}
        self.access: dict[str, gcp.bigquery.DatasetIamMember] = {}
        self.tables = {}
        for key, dataset in args.datasets.items():
            self.datasets[key] = self._dataset(key, dataset)
            for table_key, table in dataset.tables.items():
                self._table(key, table_key, table)
            for service, level in sorted(dataset.access.items()):
                self.access[f"{key}/{service}"] = gcp.bigquery.DatasetIamMember(
                    f"{name}-{key}-{service}-{level}",
                    dataset_id=self.datasets[key].dataset_id,
                    role=ACCESS_ROLES[level],
                    member=pulumi.Output.concat("serviceAccount:", service_accounts[service]),
                    opts=pulumi.ResourceOptions(parent=self),
                )
        self.dataset_ids = pulumi.Output.all(
            **{key: dataset.dataset_id for key, dataset in self.datasets.items()}
        ).apply(dict)
        self.table_ids = pulumi.Output.all(**{ref: table.path for ref, table in self.tables.items()}).apply(dict)
        self.register_outputs({"dataset_ids": self.dataset_ids, "table_ids": self.table_ids})

    def _dataset(self, key: str, args: DatasetArgs) -> gcp.bigquery.Dataset:
        ctx = self._ctx
        location = args.location or ctx.region
        self._keys[key] = kms_key = self._encryption.key_at("bigquery", location)
        return gcp.bigquery.Dataset(
            f"{self._name}-{key}",
            dataset_id=ctx.naming.physical(key, max_length=1024).replace("-", "_"),
            location=location,
            description=args.description or f"Warehouse dataset {key}",
            default_table_expiration_ms=_ms(args.default_table_expiration_days),
            default_partition_expiration_ms=_ms(args.default_partition_expiration_days),
            default_encryption_configuration=gcp.bigquery.DatasetDefaultEncryptionConfigurationArgs(
                kms_key_name=kms_key
            )
            if kms_key
            else None,
            # Destroying the dataset with its tables in it is refused while the stack asks for deletion protection.
            delete_contents_on_destroy=not ctx.deletion_protection,
            deletion_policy="PREVENT" if ctx.deletion_protection else "DELETE",
            labels={**args.labels, **ctx.labels("warehouse")},
            opts=ctx.stateful(self, "bigquery.googleapis.com"),
        )

    def _table(self, dataset_key: str, key: str, args: TableArgs) -> None:
        ctx, dataset, kms_key = self._ctx, self.datasets[dataset_key], self._keys[dataset_key]
        partitioning = args.partitioning
        table = gcp.bigquery.Table(
            f"{self._name}-{dataset_key}-{key}",
            dataset_id=dataset.dataset_id,
            table_id=key,
            description=args.description or None,
            schema=json.dumps(args.fields),
            time_partitioning=gcp.bigquery.TableTimePartitioningArgs(
                type=partitioning.granularity,
                field=partitioning.column,
                expiration_ms=_ms(partitioning.expiration_days),
            ),
            clusterings=list(args.clustering) or None,
            require_partition_filter=args.require_partition_filter,
            encryption_configuration=gcp.bigquery.TableEncryptionConfigurationArgs(kms_key_name=kms_key)
            if kms_key
            else None,
            deletion_protection=ctx.deletion_protection,
            labels=ctx.labels("warehouse"),
            opts=ctx.stateful(self, "bigquery.googleapis.com"),
        )
        ref = f"{dataset_key}.{key}"
        self.table_resources[ref] = table
        self.tables[ref] = WarehouseTable(project=ctx.project, dataset_id=table.dataset_id, table_id=table.table_id)


def _ms(days: int | None) -> int | None:
    return days * DAY_MS if days is not None else None
