"""Cloud CDN for static assets on the load balancer: a private bucket (the load balancer's own, or an application
bucket) that only Cloud CDN's cache-fill identity reads, behind a CDN-enabled backend bucket. Its resources are
children of the load balancer, under the names they always had."""

from __future__ import annotations

from typing import Annotated, Literal

import pulumi
import pulumi_gcp as gcp
from pydantic import Field, StringConstraints, model_validator

from components.config_types import Model, invalid
from components.context import StackContext
from components.refs import Encryption
from components.routing import UrlPath

# Static assets replaced by a deploy stay restorable this long as noncurrent versions, then are deleted.
NONCURRENT_ASSET_DAYS = 30


class CdnArgs(Model):
    """Cloud CDN in front of a private bucket of static assets, served on `paths` of every domain (on every path when
    the load balancer has no services): the load balancer's own bucket, or the application bucket (`platform:buckets`)
    that says `public_through_cdn: true`."""

    enabled: bool = False
    paths: list[UrlPath] = ["/static/*"]
    location: Annotated[str, StringConstraints(pattern=r"^(EU|US|ASIA|[a-z]+-[a-z]+[0-9])$")] = "EU"
    cache_mode: Literal["CACHE_ALL_STATIC", "USE_ORIGIN_HEADERS", "FORCE_CACHE_ALL"] = "CACHE_ALL_STATIC"
    default_ttl: int = Field(3600, ge=0, le=31_536_000)
    max_ttl: int = Field(86_400, ge=0, le=31_536_000)
    client_ttl: int = Field(3600, ge=0, le=31_536_000)
    serve_while_stale: int = Field(86_400, ge=0, le=604_800)
    negative_caching: bool = True

    @model_validator(mode="after")
    def _ttls(self) -> CdnArgs:
        if self.enabled and not self.paths:
            invalid("paths", "list the URL paths served from the bucket, like /static/*")
        if self.cache_mode == "CACHE_ALL_STATIC":
            for key in ("default_ttl", "client_ttl"):
                if getattr(self, key) > self.max_ttl:
                    invalid(key, f"{key} ({getattr(self, key)}) is above max_ttl ({self.max_ttl})")
        return self


def static_assets(
    name: str,
    cdn: CdnArgs,
    *,
    ctx: StackContext,
    parent: pulumi.Resource,
    app_bucket: pulumi.Input[str] | None,
    encryption: Encryption,
    edge_policy: pulumi.Input[str] | None,
) -> tuple[gcp.storage.Bucket | None, gcp.compute.BackendBucket]:
    """A bucket anyone may read (`name`'s own, or the application bucket that says `public_through_cdn`), behind a
    CDN-enabled backend bucket carrying the edge policy. Returns the own bucket (if any) and the backend bucket."""
    child = pulumi.ResourceOptions(parent=parent)
    bucket: gcp.storage.Bucket | None = None
    if app_bucket is None:
        bucket = _static_bucket(name, cdn, ctx=ctx, parent=parent, encryption=encryption)
        bucket_name: pulumi.Input[str] = bucket.name
    else:
        bucket_name = app_bucket
    # A backend bucket without signed URLs fills Cloud CDN's cache with unauthenticated reads: its objects must be
    # readable by allUsers. Cloud CDN's cache-fill account exists only once a signed URL key does, so a grant to it
    # fails on a fresh project (and where the organization allows only its own domain's members).
    gcp.storage.BucketIAMMember(
        f"{name}-static-cdn-reader",
        bucket=bucket_name,
        role="roles/storage.objectViewer",
        member="allUsers",
        opts=child,
    )
    ttls = cdn.cache_mode != "USE_ORIGIN_HEADERS"  # with origin headers, the API rejects explicit TTLs
    backend_bucket = gcp.compute.BackendBucket(
        f"{name}-static-backend",
        name=ctx.naming.physical("static"),
        description="Static assets from Cloud Storage through Cloud CDN",
        bucket_name=bucket_name,
        enable_cdn=True,
        edge_security_policy=edge_policy,
        compression_mode="AUTOMATIC",
        cdn_policy=gcp.compute.BackendBucketCdnPolicyArgs(
            cache_mode=cdn.cache_mode,
            default_ttl=cdn.default_ttl if ttls else None,
            max_ttl=cdn.max_ttl if cdn.cache_mode == "CACHE_ALL_STATIC" else None,
            client_ttl=cdn.client_ttl if ttls else None,
            serve_while_stale=cdn.serve_while_stale,
            negative_caching=cdn.negative_caching,
            request_coalescing=True,
        ),
        opts=pulumi.ResourceOptions.merge(
            ctx.after(parent, "compute.googleapis.com"),
            pulumi.ResourceOptions(aliases=[pulumi.Alias(name=f"{name}-static")]),
        ),
    )
    return bucket, backend_bucket


def _static_bucket(
    name: str, cdn: CdnArgs, *, ctx: StackContext, parent: pulumi.Resource, encryption: Encryption
) -> gcp.storage.Bucket:
    key = encryption.key("storage", cdn.location)
    return gcp.storage.Bucket(
        f"{name}-static",
        name=ctx.naming.physical("static"),
        location=cdn.location,
        uniform_bucket_level_access=True,
        public_access_prevention="inherited",  # public through the CDN: a grant to allUsers is refused otherwise
        # A deploy that overwrites or deletes assets leaves the old ones restorable for a while.
        versioning=gcp.storage.BucketVersioningArgs(enabled=True),
        lifecycle_rules=[
            gcp.storage.BucketLifecycleRuleArgs(
                action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                    days_since_noncurrent_time=NONCURRENT_ASSET_DAYS, with_state="ARCHIVED"
                ),
            )
        ],
        encryption=gcp.storage.BucketEncryptionArgs(default_kms_key_name=key) if key else None,
        force_destroy=not ctx.deletion_protection,
        deletion_policy="PREVENT" if ctx.deletion_protection else "DELETE",
        labels={**ctx.labels("load-balancer"), "exposure": "cdn"},
        opts=ctx.stateful(parent, "storage.googleapis.com"),
    )
