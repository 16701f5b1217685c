"""The mock engine's answers: realistic outputs per resource type (from its facts record) and provider functions."""

from __future__ import annotations

from typing import Any

from pulumi.runtime import mocks as pulumi_mocks

from offline.catalog import facts_of
from offline.catalog.facts import MockContext, named


class PlatformMocks(pulumi_mocks.Mocks):  # type: ignore[misc]
    def __init__(self, project_id: str, region: str) -> None:
        self.ctx = MockContext(project_id, region)

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        if args.typ.startswith("pulumi:providers:"):
            return f"{args.name}-provider-id", dict(args.inputs)
        facts = facts_of(args.typ) if args.custom else None
        computed = facts.outputs(self.ctx, args.name, args.inputs) if facts else {}
        state = {**args.inputs, **computed}
        self.ctx.created[(args.typ, named(state, args.name))] = state
        return str(computed.get("id") or args.inputs.get("name") or f"{args.name}-id"), state

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        if args.token == "gcp:organizations/getProject:getProject":
            ctx = self.ctx
            return {"projectId": ctx.project, "number": ctx.project_number, "name": ctx.project}, []
        if args.token == "gcp:organizations/getClientConfig:getClientConfig":
            # The deploying identity's short-lived OAuth token, which registry logins use.
            ctx = self.ctx
            return {"project": ctx.project, "region": ctx.region, "accessToken": "offline-access-token"}, []
        if args.token == "gcp:storage/getProjectServiceAccount:getProjectServiceAccount":
            email = f"service-{self.ctx.project_number}@gs-project-accounts.iam.gserviceaccount.com"
            return {"emailAddress": email, "member": f"serviceAccount:{email}", "project": self.ctx.project}, []
        if args.token == "gcp:bigquery/getDefaultServiceAccount:getDefaultServiceAccount":
            email = f"bq-{self.ctx.project_number}@bigquery-encryption.iam.gserviceaccount.com"
            return {"email": email, "member": f"serviceAccount:{email}", "project": self.ctx.project}, []
        if args.token == "gcp:kms/getKMSCryptoKeyVersion:getKMSCryptoKeyVersion":
            # An asymmetric signing key's first version and its public key (a stand-in PEM, never a real key).
            key = str(args.args.get("cryptoKey"))
            pem = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEoffline\n-----END PUBLIC KEY-----\n"
            version = f"{key}/cryptoKeyVersions/{int(args.args.get('version') or 1)}"
            return {
                "id": version,
                "name": version,
                "algorithm": "EC_SIGN_P256_SHA256",
                "publicKeys": [{"algorithm": "EC_SIGN_P256_SHA256", "pem": pem}],
                "state": "ENABLED",
            }, []
        return {}, []  # an empty list of check failures (None breaks the SDK mock monitor)
