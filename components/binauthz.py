"""Binary Authorization for the project: the policy every GKE cluster of the stack enforces, and the stack's attestor,
backed by a Container Analysis note and a Cloud KMS asymmetric signing key on a key ring of its own. CI signs each
image it builds with that key (docs/kubernetes.md shows the step)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

import pulumi
import pulumi_gcp as gcp
from pydantic import AfterValidator

from components.config_types import Model
from components.context import StackContext

Mode = Literal["enforce", "dry_run", "allow"]
# How each mode evaluates images that are not allowlisted, and what it does with a violation.
RULES = {
    "enforce": ("REQUIRE_ATTESTATION", "ENFORCED_BLOCK_AND_AUDIT_LOG"),  # unsigned images are refused
    "dry_run": ("REQUIRE_ATTESTATION", "DRYRUN_AUDIT_LOG_ONLY"),  # unsigned images run; the violation is logged
    "allow": ("ALWAYS_ALLOW", "ENFORCED_BLOCK_AND_AUDIT_LOG"),  # everything runs
}
SIGNING_ALGORITHM = "EC_SIGN_P256_SHA256"
APIS = ("binaryauthorization.googleapis.com", "containeranalysis.googleapis.com", "cloudkms.googleapis.com")
# The narrowest predefined role with containeranalysis.occurrences.create; it can also update and delete the project's
# occurrences, so a signer could remove attestations (deny a deploy), never forge one without the key.
OCCURRENCES_ROLE = "roles/containeranalysis.occurrences.editor"
_MEMBER = re.compile(r"^(serviceAccount|group|user):[^@\s]+@[^@\s]+$")


def _name_pattern(value: str) -> str:
    """`registry/path/to/image`, with a trailing `*` or `**` only, and never in the registry part."""
    registry, _, path = value.partition("/")
    if not path or "*" in registry or "*" in value.rstrip("*"):
        raise ValueError(
            f"'{value}' is not an image pattern like quay.io/argoproj/argocd* (a wildcard only at the end, after "
            "the registry)"
        )
    return value


def _member(value: str) -> str:
    if not _MEMBER.match(value):
        raise ValueError(f"'{value}' is not an IAM member like serviceAccount:ci@PROJECT.iam.gserviceaccount.com")
    return value


ImagePattern = Annotated[str, AfterValidator(_name_pattern)]
Member = Annotated[str, AfterValidator(_member)]


class BinaryAuthorizationArgs(Model):
    """`platform:binary_authorization`: what the project's policy does with images the stack's attestor has not
    signed. Google-maintained system images are always allowed (the global policy)."""

    mode: Mode = "enforce"
    allowed_images: list[ImagePattern] = []  # third-party images the policy exempts (e.g. Argo CD's)
    signers: list[Member] = []  # who signs images (CI's deploying identity): sign with the key, attach to the note
    key_protection: Literal["SOFTWARE", "HSM"] = "HSM"


class BinaryAuthorization(pulumi.ComponentResource):
    """The project policy and the attestor it requires. `attestor` is `projects/P/attestors/NAME`; `key_version` the
    Cloud KMS key version CI signs with."""

    attestor: pulumi.Output[str]
    key_version: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: BinaryAuthorizationArgs,
        *,
        ctx: StackContext,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:components:BinaryAuthorization", name, None, ctx.component(opts))
        self._name = name
        self.key_ring, self.key = self._signing_key(ctx, args)
        version = gcp.kms.get_kms_crypto_key_version_output(
            crypto_key=self.key.id, version=1, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        self.note = self._note(ctx)
        self.attestor_resource = self._attestor(ctx, version)
        self._grants(ctx, args)
        self.policy = self._policy(ctx, args)
        self.attestor = self.attestor_resource.id
        self.key_version = version.name
        self.register_outputs({"attestor": self.attestor, "key_version": self.key_version})

    def _signing_key(
        self, ctx: StackContext, args: BinaryAuthorizationArgs
    ) -> tuple[gcp.kms.KeyRing, gcp.kms.CryptoKey]:
        """The attestor's key ring and asymmetric signing key."""
        kms = ctx.after(self, "cloudkms.googleapis.com")
        key_ring = gcp.kms.KeyRing(
            f"{self._name}-keyring", name=ctx.naming.physical("binauthz"), location=ctx.region, opts=kms
        )
        # Losing the key invalidates every attestation: it is protected like data.
        key = gcp.kms.CryptoKey(
            f"{self._name}-signing-key",
            name="attestor",
            key_ring=key_ring.id,
            purpose="ASYMMETRIC_SIGN",
            version_template=gcp.kms.CryptoKeyVersionTemplateArgs(
                algorithm=SIGNING_ALGORITHM, protection_level=args.key_protection
            ),
            labels=ctx.labels("binauthz"),
            opts=ctx.stateful(self, "cloudkms.googleapis.com"),
        )
        return key_ring, key

    def _note(self, ctx: StackContext) -> gcp.containeranalysis.Note:
        return gcp.containeranalysis.Note(
            f"{self._name}-note",
            name=ctx.naming.physical("attestor-note"),
            attestation_authority=gcp.containeranalysis.NoteAttestationAuthorityArgs(
                hint=gcp.containeranalysis.NoteAttestationAuthorityHintArgs(
                    human_readable_name=f"Images built and signed by {ctx.naming.physical('ci')}"
                )
            ),
            opts=ctx.after(self, "containeranalysis.googleapis.com"),
        )

    def _attestor(
        self, ctx: StackContext, version: pulumi.Output[gcp.kms.GetKMSCryptoKeyVersionResult]
    ) -> gcp.binaryauthorization.Attestor:
        """The attestor on the note, verifying with the public key of the signing key's first version."""
        return gcp.binaryauthorization.Attestor(
            f"{self._name}-attestor",
            name=ctx.naming.physical("attestor"),
            description="Signs images the stack's CI built; the policy requires it where it enforces",
            attestation_authority_note=gcp.binaryauthorization.AttestorAttestationAuthorityNoteArgs(
                note_reference=self.note.name,
                public_keys=[
                    gcp.binaryauthorization.AttestorAttestationAuthorityNotePublicKeyArgs(
                        id=version.name.apply(lambda v: f"//cloudkms.googleapis.com/v1/{v}"),
                        pkix_public_key=gcp.binaryauthorization.AttestorAttestationAuthorityNotePublicKeyPkixPublicKeyArgs(
                            public_key_pem=version.public_keys.apply(lambda keys: keys[0].pem if keys else ""),
                            signature_algorithm=version.algorithm,
                        ),
                    )
                ],
            ),
            opts=ctx.after(self, "binaryauthorization.googleapis.com"),
        )

    def _grants(self, ctx: StackContext, args: BinaryAuthorizationArgs) -> None:
        """Binary Authorization reads the note's attestations; each signer signs with the key, attaches to the note
        and stores the attestation (an occurrence) in the project. Every other grant is on that one key, note or
        attestor."""
        # The account the attestor reads attestations as, reported by the attestor itself: Binary Authorization's
        # agent, which exists once the attestor does (a grant naming it before then is refused: no such account).
        agent = self.attestor_resource.attestation_authority_note.apply(
            lambda note: f"serviceAccount:{note.delegation_service_account_email or ''}"
        )
        child = pulumi.ResourceOptions(parent=self)
        gcp.containeranalysis.NoteIamMember(
            f"{self._name}-note-verifier",
            note=self.note.name,
            role="roles/containeranalysis.notes.occurrences.viewer",
            member=agent,
            opts=child,
        )
        for signer in args.signers:
            key = re.sub(r"[^a-z0-9]+", "-", signer.split(":", 1)[1].split("@", 1)[0].lower()).strip("-")
            gcp.kms.CryptoKeyIAMMember(
                f"{self._name}-{key}-signs",
                crypto_key_id=self.key.id,
                role="roles/cloudkms.signerVerifier",
                member=signer,
                opts=child,
            )
            gcp.containeranalysis.NoteIamMember(
                f"{self._name}-{key}-attaches",
                note=self.note.name,
                role="roles/containeranalysis.notes.attacher",
                member=signer,
                opts=child,
            )
            gcp.binaryauthorization.AttestorIamMember(
                f"{self._name}-{key}-views-attestor",
                attestor=self.attestor_resource.name,
                role="roles/binaryauthorization.attestorsViewer",
                member=signer,
                opts=child,
            )
            # The attestation is an occurrence stored in the project (sign-and-create --project): creating it needs
            # containeranalysis.occurrences.create there, which notes.attacher (linking it to the note) lacks.
            gcp.projects.IAMMember(
                f"{self._name}-{key}-creates-attestations",
                project=ctx.project,
                role=OCCURRENCES_ROLE,
                member=signer,
                opts=child,
            )

    def _policy(self, ctx: StackContext, args: BinaryAuthorizationArgs) -> gcp.binaryauthorization.Policy:
        evaluation, enforcement = RULES[args.mode]
        return gcp.binaryauthorization.Policy(
            f"{self._name}-policy",
            description=f"Project policy ({args.mode}): images signed by the stack's attestor",
            global_policy_evaluation_mode="ENABLE",  # Google-maintained system images are always allowed
            admission_whitelist_patterns=[
                gcp.binaryauthorization.PolicyAdmissionWhitelistPatternArgs(name_pattern=p) for p in args.allowed_images
            ]
            or None,
            default_admission_rule=gcp.binaryauthorization.PolicyDefaultAdmissionRuleArgs(
                evaluation_mode=evaluation,
                enforcement_mode=enforcement,
                require_attestations_bies=[self.attestor_resource.id] if evaluation == "REQUIRE_ATTESTATION" else None,
            ),
            opts=ctx.after(self, "binaryauthorization.googleapis.com"),
        )
