"""Security types: Cloud KMS key rings and keys (the Binary Authorization signing key, the bootstrap's secrets keys),
Binary Authorization's policy and attestor, Container Analysis notes, and the grants on them and on service accounts
(Workload Identity bindings)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi_gcp as gcp

from offline.catalog.common import IAM_IS_FREE, duration, grant, to_member
from offline.catalog.facts import API_CALL, Facts, Inputs, MockContext, named
from offline.estimate.pricing import Context, Usage

if TYPE_CHECKING:
    from offline.engine import Resource

# No charge is listed for Binary Authorization policy evaluation on GKE or for attestation notes (knowledge: the
# pricing pages were not found; see docs/kubernetes.md).
BINAUTHZ_IS_FREE = "Binary Authorization policies, attestors and notes are not billed (knowledge)"


def _key_ring(c: MockContext, name: str, i: Inputs) -> Inputs:
    path = f"projects/{i.get('project') or c.project}/locations/{i.get('location')}/keyRings/{named(i, name)}"
    return {"id": path}


def _rotation_days(i: Inputs) -> int:
    return int(str(i.get("rotationPeriod") or "0s").removesuffix("s")) // 86400


def _protection(i: Inputs) -> str:
    return str((i.get("versionTemplate") or {}).get("protectionLevel") or "SOFTWARE")


def _key_price(r: Resource, ctx: Context) -> list[Usage]:
    """Every version a rotation creates stays active (and billed) until it is destroyed: a year's worth. HSM keys
    are billed at the HSM rate of their kind (asymmetric signing keys at the higher one)."""
    days = _rotation_days(r.inputs)
    versions = 1 + (365 // days if days else 0)
    if _protection(r.inputs) == "HSM":
        kind = "asymmetric" if str(r.inputs.get("purpose")).startswith("ASYMMETRIC") else "symmetric"
        return [Usage(f"{versions} active HSM key version(s)", f"kms.hsm_key_version.{kind}", versions)]
    usages = [Usage(f"{versions} active key versions after a year", "kms.key_version", versions)]
    if str(r.inputs.get("purpose") or "ENCRYPT_DECRYPT") == "ENCRYPT_DECRYPT":
        # A customer-managed key's agent wraps and unwraps data keys as its service reads and writes.
        operations = ctx.profile.kms_operations_per_month
        usages.append(Usage(f"{operations:,} cryptographic operations", "kms.operations", operations / 10_000))
    return usages


def _key_summary(i: Inputs) -> str:
    purpose = i.get("purpose") or "ENCRYPT_DECRYPT"
    algorithm = (i.get("versionTemplate") or {}).get("algorithm")
    rotation = f"rotated every {d} days" if (d := _rotation_days(i)) else "not rotated"
    destroyed = i.get("destroyScheduledDuration")
    kept = f", versions destroyed {duration(destroyed)} after they are scheduled" if destroyed else ""
    return f"{i.get('name')}, {purpose}{f' {algorithm}' if algorithm else ''} {_protection(i)}, {rotation}{kept}"


def _attestor(c: MockContext, name: str, i: Inputs) -> Inputs:
    # The attestor reports the account Binary Authorization reads the note's attestations as (its service agent).
    agent = f"service-{c.project_number}@gcp-sa-binaryauthorization.iam.gserviceaccount.com"
    note = {**(i.get("attestationAuthorityNote") or {}), "delegationServiceAccountEmail": agent}
    return {
        "id": f"projects/{c.project}/attestors/{named(i, name)}",
        "name": named(i, name),
        "attestationAuthorityNote": note,
    }


def _note(c: MockContext, name: str, i: Inputs) -> Inputs:
    return {"id": f"projects/{c.project}/notes/{named(i, name)}", "name": named(i, name)}


def _policy_summary(i: Inputs) -> str:
    rule = i.get("defaultAdmissionRule") or {}
    required = ", ".join(rule.get("requireAttestationsBies") or []) or "no attestor"
    allowed = [p["namePattern"] for p in i.get("admissionWhitelistPatterns") or []]
    return (
        f"{rule.get('evaluationMode')} ({required}), {rule.get('enforcementMode')}, Google system images "
        f"{'allowed' if i.get('globalPolicyEvaluationMode') == 'ENABLE' else 'NOT allowed'}"
        + (f", allowlist {' '.join(allowed)}" if allowed else "")
    )


def _attestor_summary(i: Inputs) -> str:
    note = (i.get("attestationAuthorityNote") or {}).get("noteReference")
    return f"{i.get('name')} on note {note}"


RECORDS = (
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
        label=lambda i: "Cloud KMS key",
    ),
    Facts(
        gcp.binaryauthorization.Policy,
        outputs=lambda c, name, i: {"id": f"projects/{c.project}"},
        summary=_policy_summary,
        create_seconds=API_CALL,
        free=BINAUTHZ_IS_FREE,
    ),
    Facts(
        gcp.binaryauthorization.Attestor,
        outputs=_attestor,
        summary=_attestor_summary,
        create_seconds=API_CALL,
        free=BINAUTHZ_IS_FREE,
        label=lambda i: "Binary Authorization attestor",
    ),
    Facts(
        gcp.containeranalysis.Note,
        outputs=_note,
        summary=lambda i: f"{i.get('name')}: attestation authority",
        create_seconds=API_CALL,
        free=BINAUTHZ_IS_FREE,
    ),
    grant(gcp.kms.CryptoKeyIAMMember, to_member),
    grant(gcp.containeranalysis.NoteIamMember, to_member),
    grant(gcp.binaryauthorization.AttestorIamMember, to_member),
    grant(
        gcp.iap.WebTypeComputeIamMember,
        lambda i: f"{to_member(i)} if {(i.get('condition') or {}).get('expression')}",
    ),
)

__all__ = ["IAM_IS_FREE", "RECORDS"]
