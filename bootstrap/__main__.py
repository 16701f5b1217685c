"""Bootstrap: what CI needs before CI can run, applied once by a person (docs/delivery.md).

In the admin project: the versioned bucket that holds every stack's state, one KMS key per stack that encrypts its
secrets, Workload Identity Federation for GitHub Actions, and per stack a deployer (changes the stack) and a previewer
(reads it, for pull-request previews). No key file exists anywhere: workflows exchange GitHub's OIDC token.

Two pools keep the trust apart. `github` admits any workflow of the repository (pull requests included); `github-main`
admits only workflows running on the main branch. A stack with `deploy_from: main` (prod) trusts its deployer to the
second pool only, so no pull request can obtain it; its GitHub environment adds the reviewers.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import pulumi
import pulumi_gcp as gcp
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

NAMESPACE = "platform-bootstrap"
PROGRAM = "platform"  # the Pulumi project whose stacks the deployers manage: their state lives under its name
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
ADMIN_APIS = (
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "sts.googleapis.com",
    "cloudkms.googleapis.com",
    "storage.googleapis.com",
    "cloudresourcemanager.googleapis.com",
)
# What `pulumi up` of the platform program changes in a stack's project; deliberately not roles/editor or owner.
DEPLOYER_ROLES = (
    "roles/serviceusage.serviceUsageAdmin",  # enables the APIs the program lists
    "roles/compute.networkAdmin",  # VPC, subnets, NAT, addresses, load balancer backends and forwarding rules
    "roles/compute.securityAdmin",  # firewall rules, SSL certificates, Cloud Armor policies
    "roles/servicenetworking.networksAdmin",  # private services access for Cloud SQL and Memorystore
    "roles/cloudsql.admin",
    "roles/redis.admin",
    "roles/run.admin",  # services, the migrations job, and running it
    "roles/artifactregistry.admin",
    "roles/secretmanager.admin",
    "roles/storage.admin",  # backup and asset buckets
    "roles/monitoring.admin",  # dashboards, alert policies, notification channels
    "roles/logging.configWriter",  # log-based metrics and sinks
    "roles/iam.serviceAccountAdmin",  # the runtime service accounts
    "roles/iam.serviceAccountUser",  # attaching them to Cloud Run
    "roles/resourcemanager.projectIamAdmin",  # granting runtime accounts their roles (the sensitive one: see docs)
    "roles/iam.roleAdmin",  # the export-only and schedule-only custom roles
    "roles/bigquery.dataOwner",  # the log sink's dataset and its writer's access
    "roles/cloudscheduler.admin",  # daily exports, the dev database's office hours
    "roles/pubsub.editor",  # the budget's notification topic
    "roles/backupdr.admin",  # the Backup and DR vault
    "roles/certificatemanager.editor",  # DNS-authorized certificates and the certificate map
)
# The budget also needs roles/billing.costsManager on the billing account, which only its admin can grant (see docs).
PREVIEWER_ROLES = ("roles/viewer", "roles/iam.securityReviewer")
KEY_ROTATION = "7776000s"  # 90 days
NONCURRENT_STATE_DAYS = 90  # old state versions kept this long, to roll a stack's state back by hand

ProjectId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")]
StackName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9]{0,19}$")]  # the service account ids stay <= 30


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GitHubArgs(Model):
    repository: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")]  # owner/name
    main_ref: Annotated[str, StringConstraints(pattern=r"^refs/heads/[A-Za-z0-9_./-]+$")] = "refs/heads/main"


class StackArgs(Model):
    project: ProjectId
    deploy_from: Literal["repository", "main"] = "main"  # which workflows may act as the deployer


class BootstrapConfig(Model):
    project: ProjectId
    location: str
    state_bucket: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]$")]
    cost_center: str
    github: GitHubArgs
    stacks: dict[StackName, StackArgs] = Field(min_length=1)


def load() -> BootstrapConfig:
    config = pulumi.Config(NAMESPACE)
    raw: dict[str, Any] = {}
    for key in BootstrapConfig.model_fields:
        value = config.get(key)
        if value is not None:
            try:
                raw[key] = json.loads(value)
            except ValueError:
                raw[key] = value
    try:
        return BootstrapConfig.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
        raise pulumi.RunError(f"invalid bootstrap config: {problems}") from None


def principal_set(pool: gcp.iam.WorkloadIdentityPool, repository: str) -> pulumi.Output[str]:
    """Every identity of the pool that comes from the repository (the pool's provider has already checked more)."""
    return pool.name.apply(lambda name: f"principalSet://iam.googleapis.com/{name}/attribute.repository/{repository}")


def _pool(key: str, condition: str, project: str, opts: pulumi.ResourceOptions) -> gcp.iam.WorkloadIdentityPool:
    pool = gcp.iam.WorkloadIdentityPool(
        key,
        workload_identity_pool_id=key,
        display_name=f"GitHub Actions ({key})",
        description="Workflows of the platform repository exchange their OIDC token here",
        project=project,
        opts=opts,
    )
    gcp.iam.WorkloadIdentityPoolProvider(
        key,
        workload_identity_pool_id=pool.workload_identity_pool_id,
        workload_identity_pool_provider_id="github",
        display_name="GitHub OIDC",
        project=project,
        attribute_mapping={
            "google.subject": "assertion.sub",
            "attribute.repository": "assertion.repository",
            "attribute.ref": "assertion.ref",
            "attribute.actor": "assertion.actor",
        },
        # Google rejects a GitHub provider without a condition; this one is what keeps other repositories out.
        attribute_condition=condition,
        oidc=gcp.iam.WorkloadIdentityPoolProviderOidcArgs(issuer_uri=GITHUB_ISSUER),
        opts=opts,
    )
    return pool


def _state_condition(bucket: str, stack: str, kinds: tuple[str, ...]) -> gcp.storage.BucketIAMMemberConditionArgs:
    """Write access to one stack's objects only (the self-managed backend's layout: .pulumi/<kind>/<project>/...)."""
    prefixes = [f"projects/_/buckets/{bucket}/objects/.pulumi/{kind}/{PROGRAM}/{stack}" for kind in kinds]
    return gcp.storage.BucketIAMMemberConditionArgs(
        title=f"{stack}-state-only",
        description=f"Objects of stack {stack}: {', '.join(kinds)}",
        expression=" || ".join(f'resource.name.startsWith("{p}")' for p in prefixes),
    )


def stack_access(
    stack: str,
    args: StackArgs,
    *,
    config: BootstrapConfig,
    bucket: gcp.storage.Bucket,
    key_ring: gcp.kms.KeyRing,
    pools: dict[str, gcp.iam.WorkloadIdentityPool],
    labels: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> tuple[gcp.kms.CryptoKey, gcp.serviceaccount.Account, gcp.serviceaccount.Account]:
    """The stack's secrets key, and its deployer and previewer with exactly the access each needs."""
    key = gcp.kms.CryptoKey(
        f"{stack}-secrets",
        name=f"{stack}-stack-secrets",
        key_ring=key_ring.id,
        rotation_period=KEY_ROTATION,
        labels={**labels, "stack": stack},
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=True)),
    )
    accounts = {}
    grants = {
        "deployer": (
            "up",
            DEPLOYER_ROLES,
            "roles/cloudkms.cryptoKeyEncrypterDecrypter",
            ("stacks", "history", "backups", "locks"),
        ),
        "previewer": ("preview", PREVIEWER_ROLES, "roles/cloudkms.cryptoKeyDecrypter", ("locks",)),
    }
    for kind, (command, roles, key_role, state_kinds) in grants.items():
        account = gcp.serviceaccount.Account(
            f"{stack}-{kind}",
            account_id=f"{stack}-{kind}",
            display_name=f"{stack} {kind} (GitHub Actions)",
            description=f"Runs pulumi {command} for stack {stack} from GitHub Actions",
            project=config.project,
            opts=opts,
        )
        for role in roles:
            gcp.projects.IAMMember(
                f"{stack}-{kind}-{role.removeprefix('roles/').replace('.', '-')}",
                project=args.project,
                role=role,
                member=account.member,
                opts=opts,
            )
        gcp.storage.BucketIAMMember(
            f"{stack}-{kind}-state-read",
            bucket=bucket.name,
            role="roles/storage.objectViewer",
            member=account.member,
            opts=opts,
        )
        gcp.storage.BucketIAMMember(
            f"{stack}-{kind}-state-write",
            bucket=bucket.name,
            role="roles/storage.objectUser",
            member=account.member,
            condition=_state_condition(config.state_bucket, stack, state_kinds),
            opts=opts,
        )
        gcp.kms.CryptoKeyIAMMember(
            f"{stack}-{kind}-secrets", crypto_key_id=key.id, role=key_role, member=account.member, opts=opts
        )
        trusted = pools[args.deploy_from] if kind == "deployer" else pools["repository"]
        gcp.serviceaccount.IAMMember(
            f"{stack}-{kind}-github",
            service_account_id=account.name,
            role="roles/iam.workloadIdentityUser",
            member=principal_set(trusted, config.github.repository),
            opts=opts,
        )
        accounts[kind] = account
    return key, accounts["deployer"], accounts["previewer"]


def main() -> None:
    config = load()
    labels = {
        "environment": "admin",
        "managed-by": "pulumi",
        "cost-center": config.cost_center,
        "component": "bootstrap",
    }
    provider = gcp.Provider("gcp", project=config.project, region=config.location)
    apis = [
        gcp.projects.Service(
            f"api-{api.split('.')[0]}",
            service=api,
            disable_on_destroy=False,
            opts=pulumi.ResourceOptions(provider=provider),
        )
        for api in ADMIN_APIS
    ]
    opts = pulumi.ResourceOptions(provider=provider, depends_on=apis)
    stateful = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=True))

    bucket = gcp.storage.Bucket(
        "state",
        name=config.state_bucket,
        location=config.location,
        uniform_bucket_level_access=True,
        public_access_prevention="enforced",
        versioning=gcp.storage.BucketVersioningArgs(enabled=True),
        force_destroy=False,
        lifecycle_rules=[
            gcp.storage.BucketLifecycleRuleArgs(
                action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                    with_state="ARCHIVED", days_since_noncurrent_time=NONCURRENT_STATE_DAYS
                ),
            )
        ],
        labels=labels,
        opts=stateful,
    )
    key_ring = gcp.kms.KeyRing(
        "secrets", name="pulumi-secrets", location=config.location, project=config.project, opts=stateful
    )

    repository = f"assertion.repository == '{config.github.repository}'"
    pools = {
        "repository": _pool("github", repository, config.project, opts),
        "main": _pool(
            "github-main", f"{repository} && assertion.ref == '{config.github.main_ref}'", config.project, opts
        ),
    }
    access = {
        stack: stack_access(
            stack, args, config=config, bucket=bucket, key_ring=key_ring, pools=pools, labels=labels, opts=opts
        )
        for stack, args in config.stacks.items()
    }

    providers = {k: p.name.apply(lambda name: f"{name}/providers/github") for k, p in pools.items()}
    pulumi.export("state_backend_url", pulumi.Output.concat("gs://", bucket.name))
    pulumi.export("secrets_providers", {s: pulumi.Output.concat("gcpkms://", k.id) for s, (k, _, _) in access.items()})
    pulumi.export("deployers", {s: d.email for s, (_, d, _) in access.items()})
    pulumi.export("previewers", {s: p.email for s, (_, _, p) in access.items()})
    pulumi.export(
        "github_variables",
        {
            "PULUMI_STATE_BUCKET": bucket.name,
            "GCP_BOOTSTRAP_PROJECT": config.project,
            "GCP_WIF_PROVIDER": providers["repository"],
            "GCP_WIF_PROVIDER_MAIN": providers["main"],
        },
    )


main()
