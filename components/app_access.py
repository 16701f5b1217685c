"""What a workload's own service account is granted on the app secrets and application buckets it names: read access
on each secret (roles/secretmanager.secretAccessor on that secret alone) and one object role on each bucket (on that
bucket alone), the same on every runtime; and the env that tells the workload where they are."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import pulumi
import pulumi_gcp as gcp

from components.refs import BucketBinding, SecretBinding
from components.secret import ACCESSOR_ROLE


def bucket_env(bucket: str) -> str:
    """The env name that carries a bucket's name to a workload: `uploads` -> `BUCKET_UPLOADS`."""
    return "BUCKET_" + bucket.upper().replace("-", "_")


def app_secret_grants(
    name: str,
    *,
    member: pulumi.Input[str],
    secrets: Iterable[SecretBinding],
    parent: pulumi.Resource,
    after: Sequence[pulumi.Resource] = (),
) -> dict[str, gcp.secretmanager.SecretIamMember]:
    """Read access to each app secret the workload names, on that secret only: one grant per secret, however many
    env names read it. `after`: what the grants wait for (the Secret Manager API, for a secret the stack did not
    create)."""
    by_key = {binding.key: binding for binding in secrets}
    return {
        key: gcp.secretmanager.SecretIamMember(
            f"{name}-secret-{key}-accessor",
            secret_id=binding.secret_id,
            role=ACCESSOR_ROLE,
            member=member,
            opts=pulumi.ResourceOptions(parent=parent, depends_on=list(after)),
        )
        for key, binding in sorted(by_key.items())
    }


def bucket_grants(
    name: str,
    *,
    member: pulumi.Input[str],
    buckets: Mapping[str, BucketBinding],
    parent: pulumi.Resource,
) -> dict[str, gcp.storage.BucketIAMMember]:
    """The one object role the workload holds on each bucket it names (`buckets`: bucket key -> binding)."""
    return {
        key: gcp.storage.BucketIAMMember(
            f"{name}-bucket-{key}",
            bucket=binding.name,
            role=binding.role,
            member=member,
            opts=pulumi.ResourceOptions(parent=parent),
        )
        for key, binding in sorted(buckets.items())
    }
