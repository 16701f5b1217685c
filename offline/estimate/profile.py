"""The usage profile a stack is priced with: what the resources alone do not say (traffic, data, log volume)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from components.config_types import Model

CloudflarePlan = Literal["free", "pro", "business", "enterprise"]


class EstimatesArgs(Model):
    """`platform:estimates`: a month of expected usage. Defaults describe a quiet stack; prod states its traffic."""

    requests_per_month: int = Field(1_000_000, ge=0)  # requests reaching each Cloud Run service
    avg_request_ms: int = Field(200, ge=1, le=3_600_000)  # billable time per request
    ingress_gb: float = Field(1, ge=0)  # request bytes the load balancer processes
    egress_gb: float = Field(10, ge=0)  # response bytes leaving Google Cloud for the internet (or Cloudflare)
    nat_instances: int = Field(1, ge=0)  # instances egressing through Cloud NAT at a time, on average
    nat_gb: float = Field(5, ge=0)  # data through Cloud NAT (calls to third-party APIs)
    log_gb: float = Field(10, ge=0)  # log volume ingested into Cloud Logging
    database_backup_gb: float | None = Field(None, ge=0)  # Cloud SQL backup storage; None: the size of the disk
    bucket_gb: float = Field(10, ge=0)  # stored in each Cloud Storage bucket
    artifact_gb: float = Field(2, ge=0)  # container images in each Artifact Registry repository
    bigquery_gb: float = Field(5, ge=0)  # active storage in each BigQuery dataset
    secret_accesses_per_month: int = Field(100_000, ge=0)  # Secret Manager access operations
    pubsub_gib: float = Field(
        1, ge=0
    )  # published to each Pub/Sub topic (not a budget's); each subscription gets it too
    cloudflare_plan: CloudflarePlan = "free"  # used when the program does not manage the zone's subscription
    budget_usd: float | None = Field(None, gt=0)  # warn above this when the program creates no billing budget
