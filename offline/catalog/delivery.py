"""Delivery and key types: Workload Identity Federation (the bootstrap program), Cloud KMS key rings and keys (the
bootstrap's keys of the stacks' secrets, and the stacks' customer-managed encryption keys), the service agents that use
them (the services' agents: records in offline/catalog/messaging.py), and the grants that tie them and the billing
account to their users."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi_gcp as gcp

from offline.catalog.common import duration, grant, to_member
from offline.catalog.facts import API_CALL, Facts, Inputs, MockContext, named
from offline.estimate.pricing import Context, Usage

if TYPE_CHECKING:
    from offline.engine import Resource

FEDERATION_IS_FREE = "Workload Identity Federation costs nothing"


def _pool(c: MockContext, name: str, i: Inputs) -> Inputs:
    pool = f"projects/{c.project_number}/locations/global/workloadIdentityPools/{i.get('workloadIdentityPoolId')}"
    return {"id": pool, "name": pool, "state": "ACTIVE"}


def _pool_provider(c: MockContext, name: str, i: Inputs) -> Inputs:
    pool = f"projects/{c.project_number}/locations/global/workloadIdentityPools/{i.get('workloadIdentityPoolId')}"
    provider = f"{pool}/providers/{i.get('workloadIdentityPoolProviderId')}"
    return {"id": provider, "name": provider, "state": "ACTIVE"}


def _key_ring(c: MockContext, name: str, i: Inputs) -> Inputs:
    path = f"projects/{i.get('project') or c.project}/locations/{i.get('location')}/keyRings/{named(i, name)}"
    return {"id": path}


def _rotation_days(i: Inputs) -> int:
    return int(str(i.get("rotationPeriod") or "0s").removesuffix("s")) // 86400


def _key_summary(i: Inputs) -> str:
    days = _rotation_days(i)
    parts = [str(i.get("name")), f"rotated every {days} days" if days else "not rotated"]
    if i.get("destroyScheduledDuration"):
        parts.append(f"versions destroyed {duration(i['destroyScheduledDuration'])} after they are scheduled")
    return ", ".join(parts)


def _key_price(r: Resource, ctx: Context) -> list[Usage]:
    """Every version a rotation creates stays active (and billed) until it is destroyed: a year's worth."""
    days = _rotation_days(r.inputs)
    versions = 1 + (365 // days if days else 0)
    operations = ctx.profile.kms_operations_per_month
    return [
        Usage(f"{versions} active key versions after a year", "kms.key_version", versions),
        Usage(f"{operations:,} cryptographic operations", "kms.operations", operations / 10_000),
    ]


RECORDS = (
    Facts(
        gcp.iam.WorkloadIdentityPool,
        outputs=_pool,
        summary=lambda i: f"{i.get('workloadIdentityPoolId')}: {i.get('description')}",
        create_seconds=API_CALL,
        free=FEDERATION_IS_FREE,
    ),
    Facts(
        gcp.iam.WorkloadIdentityPoolProvider,
        outputs=_pool_provider,
        summary=lambda i: f"OIDC {(i.get('oidc') or {}).get('issuerUri')} if {i.get('attributeCondition')}",
        create_seconds=API_CALL,
        free=FEDERATION_IS_FREE,
    ),
    Facts(
        gcp.kms.KeyRing,
        outputs=_key_ring,
        summary=lambda i: f"{i.get('name')} in {i.get('location')}",
        create_seconds=API_CALL,
        free="a key ring costs nothing; its keys' versions are priced",
    ),
    Facts(
        gcp.kms.CryptoKey,
        outputs=lambda c, name, i: {"id": f"{i.get('keyRing')}/cryptoKeys/{named(i, name)}"},
        summary=_key_summary,
        create_seconds=API_CALL,
        price=_key_price,
    ),
    grant(gcp.kms.CryptoKeyIAMMember, to_member),
    grant(gcp.billing.AccountIamMember, to_member),
)
