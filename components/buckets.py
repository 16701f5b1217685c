"""Application buckets (uploads, media, exports): private by construction, kept as config says, each service granted one
object role on the buckets it names and nothing else."""

from __future__ import annotations

import re
from typing import Annotated, Literal

import pulumi
import pulumi_gcp as gcp
from pydantic import AfterValidator, Field, model_validator

from components.backup.config import DUAL_REGIONS, RetentionPolicyArgs
from components.config_types import REGIONS, Model, invalid
from components.context import StackContext
from components.refs import NO_CMEK, Encryption

DAY_SECONDS = 86_400
MULTI_REGIONS = frozenset(("EU", "US", "ASIA"))
# The object roles a service may hold on a bucket, by the name config gives them.
ACCESS = {
    "viewer": "roles/storage.objectViewer",  # read and list objects
    "creator": "roles/storage.objectCreator",  # create objects; cannot read, replace or delete them
    "user": "roles/storage.objectUser",  # read, create, replace and delete objects
}
Access = Literal["viewer", "creator", "user"]
StorageClass = Literal["STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE"]
_ORIGIN = re.compile(r"^https://[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$")


def _location(value: str) -> str:
    if value in REGIONS or value in MULTI_REGIONS or value in DUAL_REGIONS:
        return value
    raise ValueError(
        f"'{value}' is neither a Google Cloud region, a multi-region ({', '.join(sorted(MULTI_REGIONS))}) nor a "
        f"dual-region ({', '.join(sorted(DUAL_REGIONS))})"
    )


def _origin(value: str) -> str:
    if not _ORIGIN.match(value):
        raise ValueError(f"'{value}' is not an origin like https://app.example.com (https, a host, no path, no '*')")
    return value


BucketLocation = Annotated[str, AfterValidator(_location)]
Origin = Annotated[str, AfterValidator(_origin)]


class CorsArgs(Model):
    """Which web origins may call the bucket from a browser (uploads with signed URLs, downloads)."""

    origins: list[Origin] = Field(min_length=1)
    methods: list[Literal["GET", "HEAD", "PUT", "POST", "DELETE"]] = ["GET", "HEAD", "PUT", "POST"]
    response_headers: list[str] = ["Content-Type"]
    max_age_seconds: int = Field(3600, ge=0, le=86_400)


class LifecycleRuleArgs(Model):
    """One lifecycle rule: delete objects, or move them to a colder class, once they match every condition given."""

    action: Literal["Delete", "SetStorageClass", "AbortIncompleteMultipartUpload"]
    storage_class: Literal["NEARLINE", "COLDLINE", "ARCHIVE"] | None = None  # SetStorageClass only
    age_days: int | None = Field(None, ge=0)  # days since the object was created
    noncurrent_days: int | None = Field(None, ge=0)  # days since a version stopped being the live one
    newer_versions: int | None = Field(None, ge=1)  # versions kept newer than this one
    prefixes: list[str] = []  # only objects whose names start with one of these

    @model_validator(mode="after")
    def _consistent(self) -> LifecycleRuleArgs:
        if (self.action == "SetStorageClass") != (self.storage_class is not None):
            invalid("storage_class", "give storage_class exactly when action is SetStorageClass")
        if self.age_days is None and self.noncurrent_days is None and self.newer_versions is None:
            invalid("age_days", "give a condition: age_days, noncurrent_days or newer_versions")
        return self


class BucketArgs(Model):
    """One application bucket: uniform access and public access prevention always; the rest from config."""

    location: BucketLocation | None = None  # default: the stack's region
    storage_class: StorageClass = "STANDARD"
    versioning: bool = False  # keep replaced and deleted objects as noncurrent versions
    soft_delete_days: int = Field(7, ge=0, le=90)  # deleted objects stay restorable this long; 0 turns it off
    lifecycle: list[LifecycleRuleArgs] = []
    cors: list[CorsArgs] = []
    retention_policy: RetentionPolicyArgs | None = None  # records that must be kept (Bucket Lock)
    # Served to anyone through the load balancer's Cloud CDN paths (load_balancer.cdn): its objects are readable by
    # allUsers (Cloud CDN fills its cache with unsigned reads), so directly from Cloud Storage too. Only such a bucket
    # may be public.
    public_through_cdn: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> BucketArgs:
        if 0 < self.soft_delete_days < 7:
            invalid("soft_delete_days", f"{self.soft_delete_days} is not 0 (off) or 7 to 90 days")
        if self.retention_policy is not None and self.versioning:
            invalid(
                "versioning",
                "a bucket with a retention policy cannot keep object versions; set versioning: false (the policy "
                "already stops objects being replaced or deleted early)",
            )
        kept = self.retention_policy
        for index, rule in enumerate(self.lifecycle):
            deletes = rule.action == "Delete" and rule.age_days is not None
            if kept is not None and deletes and rule.age_days is not None and rule.age_days < kept.days:
                invalid(
                    f"lifecycle.{index}.age_days",
                    f"{rule.age_days} days is less than retention_policy.days ({kept.days}); objects cannot be deleted "
                    "before the retention period, so delete them later (or shorten the retention period)",
                )
            if (rule.noncurrent_days is not None or rule.newer_versions is not None) and not self.versioning:
                invalid(f"lifecycle.{index}", "noncurrent_days and newer_versions need versioning: true")
        return self


class AppBucket(pulumi.ComponentResource):
    """A private bucket: uniform bucket-level access, public access prevention enforced, labels, deletion protection
    as the stack says; the default key of its location with CMEK. Services get access through their bindings
    (`BucketBinding`), granted on this bucket alone."""

    name: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: BucketArgs,
        *,
        ctx: StackContext,
        encryption: Encryption = NO_CMEK,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:components:AppBucket", name, None, ctx.component(opts))
        location = args.location or ctx.region
        key = encryption.key("storage", location)
        self.bucket = gcp.storage.Bucket(
            f"{name}-bucket",
            name=ctx.naming.physical("app", name, ctx.project),
            location=location,
            storage_class=args.storage_class,
            uniform_bucket_level_access=True,
            # The bucket the load balancer's Cloud CDN serves is readable by allUsers (see LoadBalancer._cdn), which
            # public access prevention would refuse; every other bucket enforces it.
            public_access_prevention="inherited" if args.public_through_cdn else "enforced",
            versioning=gcp.storage.BucketVersioningArgs(enabled=args.versioning),
            soft_delete_policy=gcp.storage.BucketSoftDeletePolicyArgs(
                retention_duration_seconds=args.soft_delete_days * DAY_SECONDS
            ),
            lifecycle_rules=[_rule(rule) for rule in args.lifecycle],
            cors=[
                gcp.storage.BucketCorArgs(
                    origins=list(c.origins),
                    methods=list(c.methods),
                    response_headers=list(c.response_headers),
                    max_age_seconds=c.max_age_seconds,
                )
                for c in args.cors
            ],
            retention_policy=gcp.storage.BucketRetentionPolicyArgs(
                retention_period=str(args.retention_policy.days * DAY_SECONDS),
                is_locked=args.retention_policy.locked,
            )
            if args.retention_policy
            else None,
            encryption=gcp.storage.BucketEncryptionArgs(default_kms_key_name=key) if key else None,
            force_destroy=False,
            deletion_policy="PREVENT" if ctx.deletion_protection else "DELETE",
            labels={
                **ctx.labels("buckets"),
                "bucket": name,
                **({"exposure": "cdn"} if args.public_through_cdn else {}),
            },
            opts=ctx.stateful(self, "storage.googleapis.com"),
        )
        self.name = self.bucket.name
        self.register_outputs({"name": self.name})


def _rule(rule: LifecycleRuleArgs) -> gcp.storage.BucketLifecycleRuleArgs:
    return gcp.storage.BucketLifecycleRuleArgs(
        action=gcp.storage.BucketLifecycleRuleActionArgs(type=rule.action, storage_class=rule.storage_class),
        condition=gcp.storage.BucketLifecycleRuleConditionArgs(
            age=rule.age_days,
            days_since_noncurrent_time=rule.noncurrent_days,
            num_newer_versions=rule.newer_versions,
            matches_prefixes=list(rule.prefixes) or None,
            with_state="ARCHIVED" if rule.noncurrent_days is not None or rule.newer_versions is not None else None,
        ),
    )
