"""Delivery types: the bootstrap's state bucket, secrets keys, Workload Identity Federation and deployer accounts."""

from __future__ import annotations

from offline.catalog import Inputs, MockContext, MockOutputs, Summary, named


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


MOCK_OUTPUTS: dict[str, MockOutputs] = {
    "gcp:iam/workloadIdentityPool:WorkloadIdentityPool": _pool,
    "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider": _pool_provider,
    "gcp:kms/keyRing:KeyRing": _key_ring,
    "gcp:kms/cryptoKey:CryptoKey": lambda c, name, i: {"id": f"{i.get('keyRing')}/cryptoKeys/{named(i, name)}"},
}

SUMMARIES: dict[str, Summary] = {
    "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider": lambda i: (
        f"OIDC {(i.get('oidc') or {}).get('issuerUri')} if {i.get('attributeCondition')}"
    ),
}
