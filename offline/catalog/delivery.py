"""Delivery types (the bootstrap program): Workload Identity Federation and the billing account grants of the
deployers. The KMS keys of the stacks' secrets and the grants on them are security types (offline/catalog/security)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi_gcp as gcp

from offline.catalog.common import grant, to_member
from offline.catalog.facts import API_CALL, Facts, Inputs, MockContext

if TYPE_CHECKING:
    pass

FEDERATION_IS_FREE = "Workload Identity Federation costs nothing"


def _pool(c: MockContext, name: str, i: Inputs) -> Inputs:
    pool = f"projects/{c.project_number}/locations/global/workloadIdentityPools/{i.get('workloadIdentityPoolId')}"
    return {"id": pool, "name": pool, "state": "ACTIVE"}


def _pool_provider(c: MockContext, name: str, i: Inputs) -> Inputs:
    pool = f"projects/{c.project_number}/locations/global/workloadIdentityPools/{i.get('workloadIdentityPoolId')}"
    provider = f"{pool}/providers/{i.get('workloadIdentityPoolProviderId')}"
    return {"id": provider, "name": provider, "state": "ACTIVE"}


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
    grant(gcp.billing.AccountIamMember, to_member),
)
