"""Bootstrap: what CI needs before CI can run, applied once by a person (docs/delivery.md).

In the admin project: the versioned bucket that holds every stack's state, one KMS key per stack that encrypts its
secrets, Workload Identity Federation for GitHub Actions, and per stack a deployer (changes the stack) and a previewer
(reads it). No key file exists anywhere: workflows exchange GitHub's OIDC token.

Two pools keep the trust apart, both admitting only the repository by its immutable id. `github` admits any workflow of
the repository, pull requests included: only the previewers of stacks with `pull_request_previews` trust it.
`github-environments` admits only jobs that run in a GitHub environment on the main branch, and maps the environment:
every deployer trusts only the environment named after its stack (deploys and rollbacks, behind prod's reviewers), and
every previewer only the stack's read-only environment, `<stack>-readonly` (drift checks, no reviewers), so the
identities of a stack without pull-request previews (prod), and with them its secrets and its state, are out of reach
of any pull request.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, NamedTuple

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
    # The billing-account grants (budgets) go through the Cloud Billing API, which refuses calls without a quota
    # project: the bootstrap's provider bills every call to the admin project (user_project_override), so it is on.
    "cloudbilling.googleapis.com",
)
# What `pulumi up` of the platform program changes in a stack's project; deliberately not roles/editor or owner.
# Project IAM Admin is granted separately, with a condition on the roles it may grant (RUNTIME_ROLES).
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
    # The runtime service accounts, and their IAM policies: the program grants the deployer actAs
    # (roles/iam.serviceAccountUser) on each account it creates, and on nothing else (see docs/delivery.md).
    "roles/iam.serviceAccountAdmin",
    "roles/iam.roleAdmin",  # the export-only and schedule-only custom roles
    "roles/bigquery.dataOwner",  # the log sink's dataset and its writer's access
    "roles/cloudscheduler.admin",  # the export schedules, the dev database's office hours
    "roles/workflows.editor",  # the export workflows
    # Topics, subscriptions and schemas, and their IAM policies: the event bus grants publishers, subscribers and the
    # Pub/Sub agent on single topics and subscriptions, and a budget sets its notification topic's policy;
    # roles/pubsub.editor has no setIamPolicy.
    "roles/pubsub.admin",
    "roles/certificatemanager.editor",  # DNS-authorized certificates and the certificate map
    # Customer-managed keys: key rings, keys and the grant of each to its service's agent. Cloud KMS Admin manages keys
    # and their IAM policies but cannot encrypt or decrypt with them.
    "roles/cloudkms.admin",
)
# What `pulumi up` needs besides in a stack with a GKE cluster and Binary Authorization (StackArgs.gke).
GKE_DEPLOYER_ROLES = (
    # Clusters and node pools, and every Kubernetes object the program creates through the DNS endpoint: IAM checks
    # container.clusters.connect there, and GKE authorizes the objects (CRDs and ClusterRoles of the Argo CD chart
    # included) by the container.* permissions of this role before RBAC.
    "roles/container.admin",
    "roles/binaryauthorization.policyEditor",  # the project policy
    "roles/binaryauthorization.attestorsAdmin",  # the attestor and its IAM policy
    "roles/containeranalysis.notes.admin",  # the attestor's note and its IAM policy
    "roles/iap.admin",  # IAP access to each internal tool (iap.webTypes.setIamPolicy)
    # The attestor reads the signing key's public key (cryptoKeyVersions.viewPublicKey), which Cloud KMS Admin lacks.
    "roles/cloudkms.publicKeyViewer",
)
# The roles the program grants on the project in a GKE stack: the node account's one role, and each Binary
# Authorization signer's right to store attestations (occurrences) in the project.
GKE_RUNTIME_ROLES = ("roles/container.defaultNodeServiceAccount", "roles/containeranalysis.occurrences.editor")
# The predefined roles the platform program grants its runtime service accounts on the project; with the stack's own
# custom roles (StackArgs.custom_roles), the only roles the deployer may grant there (projectIamAdmin's condition).
RUNTIME_ROLES = (
    "roles/cloudsql.client",
    "roles/cloudtrace.agent",
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/workflows.invoker",  # the scheduler's account starts the export workflows (grantable on projects only)
)
# A budget needs billing.budgets.* on the billing account: roles/billing.costsManager, the narrowest predefined role
# with them (and the topic it notifies lets its caller set its IAM policy: roles/pubsub.admin above).
BUDGET_ROLE = "roles/billing.costsManager"
# serviceUsageConsumer: the program's Google provider bills every call to the stack's project (user_project_override),
# which needs serviceusage.services.use there; roles/viewer lacks it.
PREVIEWER_ROLES = ("roles/viewer", "roles/iam.securityReviewer", "roles/serviceusage.serviceUsageConsumer")
# What a refresh reads beyond Viewer (docs/delivery.md, "What a refresh reads"). The previewer already decrypts its
# stack's state, which holds these values, so reading them from the cloud exposes nothing it cannot read already.
# - A Memorystore instance with AUTH: the provider reads its AUTH string (redis.instances.getAuthString, in no role
#   short of Redis Editor): a custom role in the stack's project with exactly that permission.
REFRESH_ROLE_ID = "platformPreviewerRefresh"
REFRESH_PERMISSIONS = ("redis.instances.getAuthString",)
# - A GKE stack: the Kubernetes objects in the cluster, through the DNS endpoint (Kubernetes Engine Viewer: connect and
#   read, Secrets excepted), the OAuth client Secret and the Helm release, which Helm keeps in Secrets
#   (container.secrets.get/list), and the attestor's public key (Cloud KMS Public Key Viewer).
GKE_PREVIEWER_ROLES = ("roles/container.viewer", "roles/cloudkms.publicKeyViewer")
GKE_REFRESH_PERMISSIONS = ("container.secrets.get", "container.secrets.list")
# - A secret version holding its data: the provider reads the payload (secretmanager.versions.access). The secrets
#   are created by the platform program after the bootstrap, so the bootstrap cannot grant per secret; it grants
#   Secret Accessor on the project with a condition admitting only the program's secrets (their ids start with the
#   stack's naming prefix), so a secret someone else keeps in the project stays out of reach.
SECRET_READER_ROLE = "roles/secretmanager.secretAccessor"
# - A budget: billing.budgets.get on its billing account; Billing Account Viewer is the narrowest predefined role
#   with it (a custom role on a billing account needs an organization).
BUDGET_READER_ROLE = "roles/billing.viewer"
# Enabled in each stack's project before its first `pulumi up`: with the quota project set to the stack's project, the
# calls that enable every other API (Service Usage) and set project IAM (Resource Manager) are billed there.
STACK_PROJECT_APIS = ("serviceusage.googleapis.com", "cloudresourcemanager.googleapis.com")
KEY_ROTATION = "7776000s"  # 90 days
NONCURRENT_STATE_DAYS = 90  # old state versions kept this long, to roll a stack's state back by hand

ProjectId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")]
# A stack name (`bro-ai`, `dreamango-prod`): at most 20 characters, so `<stack>-previewer` fits a service account id.
StackName = Annotated[str, StringConstraints(pattern=r"^[a-z](?:[a-z0-9-]{0,18}[a-z0-9])?$")]


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GitHubArgs(Model):
    repository: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")]  # owner/name
    # The repository's immutable id (`gh api repos/OWNER/REPO --jq .id`): a renamed or re-created repository keeps
    # its name but not its id, so every trust condition names the id.
    repository_id: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,20}$")]
    main_ref: Annotated[str, StringConstraints(pattern=r"^refs/heads/[A-Za-z0-9_./-]+$")] = "refs/heads/main"


class StackArgs(Model):
    project: ProjectId
    # The stack's `platform:prefix`: the program names its cloud resources `<prefix>-<stack>-...`, secrets included,
    # which is how the previewer's secret access is limited to the program's own secrets.
    prefix: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9]{1,11}$")]
    # Whether pull requests preview the stack: its previewer then also trusts every workflow of the repository, so a
    # pull request can read its state and decrypt its secrets. Leave it off for a stack whose secrets matter (prod).
    pull_request_previews: bool = False
    # Custom roles (ids in the stack's project) the platform program grants its runtime accounts; with RUNTIME_ROLES,
    # the only roles the deployer may grant.
    custom_roles: list[Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9_.]{3,64}$")]] = []
    # Whether the stack's config has a GKE cluster (platform:gke, with platform:binary_authorization): its deployer then
    # also gets GKE_DEPLOYER_ROLES and may grant GKE_RUNTIME_ROLES, and its previewer reads the cluster.
    gke: bool = False
    # The billing account of the stack's budget (observability.budget.billing_account), if it has one.
    budget_billing_account: (
        Annotated[str, StringConstraints(pattern=r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$")] | None
    ) = None


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


def principal_set(pool: gcp.iam.WorkloadIdentityPool, attribute: str, value: str) -> pulumi.Output[str]:
    """Every identity of the pool whose mapped attribute has the value (its provider has already checked more)."""
    return pool.name.apply(lambda name: f"principalSet://iam.googleapis.com/{name}/attribute.{attribute}/{value}")


def _pool(
    key: str, display_name: str, mapping: dict[str, str], condition: str, project: str, opts: pulumi.ResourceOptions
) -> gcp.iam.WorkloadIdentityPool:
    """`display_name`: at most 32 characters, the pool's and its provider's limit."""
    pool = gcp.iam.WorkloadIdentityPool(
        key,
        workload_identity_pool_id=key,
        display_name=display_name,
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
        attribute_mapping={"google.subject": "assertion.sub", **mapping},
        # Google rejects a GitHub provider without a condition; this one is what keeps other repositories out.
        attribute_condition=condition,
        oidc=gcp.iam.WorkloadIdentityPoolProviderOidcArgs(issuer_uri=GITHUB_ISSUER),
        opts=opts,
    )
    return pool


def readonly_environment(stack: str) -> str:
    """The GitHub environment of a stack's read-only jobs (drift checks): main only, no reviewers."""
    return f"{stack}-readonly"


def pools(config: BootstrapConfig, opts: pulumi.ResourceOptions) -> dict[str, gcp.iam.WorkloadIdentityPool]:
    """`repository`: any workflow of the repository; `environments`: jobs in a stack's environments, on main."""
    repository = f"assertion.repository_id == '{config.github.repository_id}'"
    environments = ", ".join(f"'{e}'" for stack in config.stacks for e in (stack, readonly_environment(stack)))
    return {
        "repository": _pool(
            "github",
            "GitHub: any workflow",
            {"attribute.repository_id": "assertion.repository_id", "attribute.ref": "assertion.ref"},
            repository,
            config.project,
            opts,
        ),
        "environments": _pool(
            "github-environments",
            "GitHub: environments on main",
            {
                "attribute.repository_id": "assertion.repository_id",
                "attribute.ref": "assertion.ref",
                "attribute.environment": "assertion.environment",
            },
            f"{repository} && assertion.ref == '{config.github.main_ref}' && assertion.environment in [{environments}]",
            config.project,
            opts,
        ),
    }


def state_paths(stack: str) -> dict[str, str]:
    """Where the self-managed backend keeps a stack's objects, each prefix ending with its delimiter (`dev.`, `dev/`),
    so that one stack's prefix never matches another's (`dev` would match `devx`)."""
    return {
        "stacks": f".pulumi/stacks/{PROGRAM}/{stack}.",  # dev.json, dev.json.bak (.gz when compressed)
        "history": f".pulumi/history/{PROGRAM}/{stack}/",
        "backups": f".pulumi/backups/{PROGRAM}/{stack}/",
        "locks": f".pulumi/locks/organization/{PROGRAM}/{stack}/",  # the stack's fully qualified name
    }


BACKEND_META = ".pulumi/meta.yaml"  # read by every `pulumi login` to the bucket


def _state_condition(
    bucket: str, stack: str, kinds: tuple[str, ...], *, title: str, extra: tuple[str, ...] = ()
) -> gcp.storage.BucketIAMMemberConditionArgs:
    """Objects of one stack only: names under its prefixes (object operations) and listings of any state prefix
    (names, never contents: the backend lists a stack's lock directory before it takes the lock)."""
    paths = state_paths(stack)
    objects = [f"projects/_/buckets/{bucket}/objects/{paths[kind]}" for kind in kinds]
    expression = " || ".join(
        [f'resource.name.startsWith("{o}")' for o in objects]
        + [f'resource.name == "projects/_/buckets/{bucket}/objects/{name}"' for name in extra]
        + ['api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith(".pulumi/")']
    )
    return gcp.storage.BucketIAMMemberConditionArgs(
        title=title, description=f"Objects of stack {stack}: {', '.join(kinds)}", expression=expression
    )


def grantable_roles(project: str, args: StackArgs) -> list[str]:
    runtime = (*RUNTIME_ROLES, *(GKE_RUNTIME_ROLES if args.gke else ()))
    return [*runtime, *(f"projects/{project}/roles/{role}" for role in args.custom_roles)]


def deployer_roles(args: StackArgs) -> tuple[str, ...]:
    return (*DEPLOYER_ROLES, *(GKE_DEPLOYER_ROLES if args.gke else ()))


def previewer_roles(args: StackArgs) -> tuple[str, ...]:
    return (*PREVIEWER_ROLES, *(GKE_PREVIEWER_ROLES if args.gke else ()))


def refresh_permissions(args: StackArgs) -> tuple[str, ...]:
    return (*REFRESH_PERMISSIONS, *(GKE_REFRESH_PERMISSIONS if args.gke else ()))


def _project_roles(
    stack: str,
    kind: str,
    args: StackArgs,
    roles: tuple[str, ...],
    member: pulumi.Output[str],
    opts: pulumi.ResourceOptions,
) -> None:
    for role in roles:
        gcp.projects.IAMMember(
            f"{stack}-{kind}-{role.removeprefix('roles/').replace('.', '-')}",
            project=args.project,
            role=role,
            member=member,
            opts=opts,
        )


def _deployer_extras(stack: str, args: StackArgs, member: pulumi.Output[str], opts: pulumi.ResourceOptions) -> None:
    """Project IAM Admin limited to the roles the program grants, and what the stack's budget needs."""
    allowed = ", ".join(f"'{role}'" for role in grantable_roles(args.project, args))
    gcp.projects.IAMMember(
        f"{stack}-deployer-resourcemanager-projectIamAdmin",
        project=args.project,
        role="roles/resourcemanager.projectIamAdmin",
        member=member,
        condition=gcp.projects.IAMMemberConditionArgs(
            title="runtime-roles-only",
            description="Grant and revoke only the roles the platform program gives its runtime accounts",
            expression=f"api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([{allowed}])",
        ),
        opts=opts,
    )
    if args.budget_billing_account is None:
        return
    gcp.billing.AccountIamMember(
        f"{stack}-deployer-budgets",
        billing_account_id=args.budget_billing_account,
        role=BUDGET_ROLE,
        member=member,
        opts=opts,
    )


def _refresh_reads(stack: str, args: StackArgs, member: pulumi.Output[str], opts: pulumi.ResourceOptions) -> None:
    """What a refresh of the stack reads beyond Viewer: the Redis AUTH string, the program's secret payloads, the
    budget, a GKE stack's Kubernetes Secrets (see REFRESH_PERMISSIONS)."""
    role = gcp.projects.IAMCustomRole(
        f"{stack}-previewer-refresh-role",
        project=args.project,
        role_id=REFRESH_ROLE_ID,
        title="Platform previewer: refresh reads",
        description="What pulumi preview --refresh reads beyond Viewer (granted by the platform bootstrap)",
        permissions=list(refresh_permissions(args)),
        opts=opts,
    )
    gcp.projects.IAMMember(
        f"{stack}-previewer-refresh",
        project=args.project,
        role=role.role_id.apply(lambda role_id: f"projects/{args.project}/roles/{role_id}"),  # after the role exists
        member=member,
        opts=opts,
    )
    number = gcp.organizations.get_project_output(
        project_id=args.project,
        opts=pulumi.InvokeOutputOptions(provider=opts.provider, depends_on=opts.depends_on),  # after the admin APIs
    ).number
    gcp.projects.IAMMember(
        f"{stack}-previewer-secret-payloads",
        project=args.project,
        role=SECRET_READER_ROLE,
        member=member,
        condition=gcp.projects.IAMMemberConditionArgs(
            title="platform-secrets-only",
            description=f"Only the secrets the platform program creates for stack {stack}",
            expression=number.apply(
                lambda n: f'resource.name.startsWith("projects/{n}/secrets/{args.prefix}-{stack}-")'
            ),
        ),
        opts=opts,
    )
    if args.budget_billing_account is not None:
        gcp.billing.AccountIamMember(
            f"{stack}-previewer-budgets",
            billing_account_id=args.budget_billing_account,
            role=BUDGET_READER_ROLE,
            member=member,
            opts=opts,
        )


# A stack's secrets key, deployer and previewer.
StackAccess = tuple[gcp.kms.CryptoKey, gcp.serviceaccount.Account, gcp.serviceaccount.Account]


class _Grant(NamedTuple):
    """What one of a stack's identities does and may touch."""

    command: str  # the pulumi command it runs
    roles: tuple[str, ...]  # on the stack's project
    key_role: str  # on the stack's secrets key
    write_kinds: tuple[str, ...]  # the state it writes (state_paths)
    environment: str  # the GitHub environment its jobs run in


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
) -> StackAccess:
    """The stack's secrets key, and its deployer and previewer with exactly the access each needs."""
    _stack_project_apis(stack, args, opts)
    key = _secrets_key(stack, key_ring, labels, opts)
    accounts = {
        kind: _identity(stack, kind, grant, args, config=config, bucket=bucket, key=key, pools=pools, opts=opts)
        for kind, grant in _grants(stack, args).items()
    }
    return key, accounts["deployer"], accounts["previewer"]


def _stack_project_apis(stack: str, args: StackArgs, opts: pulumi.ResourceOptions) -> None:
    for api in STACK_PROJECT_APIS:
        gcp.projects.Service(
            f"{stack}-api-{api.split('.')[0]}",
            project=args.project,
            service=api,
            disable_on_destroy=False,
            opts=opts,
        )


def _secrets_key(
    stack: str, key_ring: gcp.kms.KeyRing, labels: dict[str, str], opts: pulumi.ResourceOptions
) -> gcp.kms.CryptoKey:
    return gcp.kms.CryptoKey(
        f"{stack}-secrets",
        name=f"{stack}-stack-secrets",
        key_ring=key_ring.id,
        rotation_period=KEY_ROTATION,
        labels={**labels, "stack": stack},
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=True)),
    )


def _grants(stack: str, args: StackArgs) -> dict[str, _Grant]:
    return {
        "deployer": _Grant(
            "up",
            deployer_roles(args),
            "roles/cloudkms.cryptoKeyEncrypterDecrypter",
            ("stacks", "history", "backups", "locks"),
            stack,
        ),
        # `pulumi preview` (with --refresh) takes no lock and writes no state in the self-managed backend: the previewer
        # only reads.
        "previewer": _Grant(
            "preview",
            previewer_roles(args),
            "roles/cloudkms.cryptoKeyDecrypter",
            (),
            readonly_environment(stack),
        ),
    }


def _identity(
    stack: str,
    kind: str,
    grant: _Grant,
    args: StackArgs,
    *,
    config: BootstrapConfig,
    bucket: gcp.storage.Bucket,
    key: gcp.kms.CryptoKey,
    pools: dict[str, gcp.iam.WorkloadIdentityPool],
    opts: pulumi.ResourceOptions,
) -> gcp.serviceaccount.Account:
    """One of the stack's service accounts, with its roles, its state, its key and the workflows that may use it."""
    account = gcp.serviceaccount.Account(
        f"{stack}-{kind}",
        account_id=f"{stack}-{kind}",
        display_name=f"{stack} {kind} (GitHub Actions)",
        description=f"Runs pulumi {grant.command} for stack {stack} from GitHub Actions",
        project=config.project,
        opts=opts,
    )
    _project_roles(stack, kind, args, grant.roles, account.member, opts)
    if kind == "deployer":
        _deployer_extras(stack, args, account.member, opts)
    else:
        _refresh_reads(stack, args, account.member, opts)
    _state_access(stack, kind, grant.write_kinds, account, config=config, bucket=bucket, opts=opts)
    gcp.kms.CryptoKeyIAMMember(
        f"{stack}-{kind}-secrets", crypto_key_id=key.id, role=grant.key_role, member=account.member, opts=opts
    )
    _github_trust(stack, kind, grant.environment, args, account, config=config, pools=pools, opts=opts)
    return account


def _state_access(
    stack: str,
    kind: str,
    write_kinds: tuple[str, ...],
    account: gcp.serviceaccount.Account,
    *,
    config: BootstrapConfig,
    bucket: gcp.storage.Bucket,
    opts: pulumi.ResourceOptions,
) -> None:
    """Reads of the stack's state (and the backend's metadata), and writes of the kinds of state it changes."""
    gcp.storage.BucketIAMMember(
        f"{stack}-{kind}-state-read",
        bucket=bucket.name,
        role="roles/storage.objectViewer",
        member=account.member,
        condition=_state_condition(
            config.state_bucket,
            stack,
            tuple(dict.fromkeys(("stacks", *write_kinds))),
            title=f"{stack}-state-read",
            extra=(BACKEND_META,),
        ),
        opts=opts,
    )
    if write_kinds:
        gcp.storage.BucketIAMMember(
            f"{stack}-{kind}-state-write",
            bucket=bucket.name,
            role="roles/storage.objectUser",
            member=account.member,
            condition=_state_condition(config.state_bucket, stack, write_kinds, title=f"{stack}-state-only"),
            opts=opts,
        )


def _github_trust(
    stack: str,
    kind: str,
    environment: str,
    args: StackArgs,
    account: gcp.serviceaccount.Account,
    *,
    config: BootstrapConfig,
    pools: dict[str, gcp.iam.WorkloadIdentityPool],
    opts: pulumi.ResourceOptions,
) -> None:
    # Jobs in the environment, on main: deploys and rollbacks (the stack's), drift checks (its read-only one).
    gcp.serviceaccount.IAMMember(
        f"{stack}-{kind}-github",
        service_account_id=account.name,
        role="roles/iam.workloadIdentityUser",
        member=principal_set(pools["environments"], "environment", environment),
        opts=opts,
    )
    if kind == "previewer" and args.pull_request_previews:
        gcp.serviceaccount.IAMMember(
            f"{stack}-{kind}-pull-requests",
            service_account_id=account.name,
            role="roles/iam.workloadIdentityUser",
            member=principal_set(pools["repository"], "repository_id", config.github.repository_id),
            opts=opts,
        )


def main() -> None:
    config = load()
    labels = {
        "environment": "admin",
        "managed-by": "pulumi",
        "cost-center": config.cost_center,
        "component": "bootstrap",
    }
    provider = _provider(config)
    opts = pulumi.ResourceOptions(provider=provider, depends_on=_admin_apis(provider))
    stateful = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=True))

    bucket = _state_bucket(config, labels, stateful)
    key_ring = gcp.kms.KeyRing(
        "secrets", name="pulumi-secrets", location=config.location, project=config.project, opts=stateful
    )

    trusted = pools(config, opts)
    access = {
        stack: stack_access(
            stack, args, config=config, bucket=bucket, key_ring=key_ring, pools=trusted, labels=labels, opts=opts
        )
        for stack, args in config.stacks.items()
    }
    _export_outputs(config, bucket, trusted, access)


def _provider(config: BootstrapConfig) -> gcp.Provider:
    # Every call is billed to, and checked against, the admin project: with a person's credentials some APIs (Cloud
    # Billing) refuse calls that name no quota project, and the provider does not take the one in their ADC.
    return gcp.Provider(
        "gcp",
        project=config.project,
        region=config.location,
        billing_project=config.project,
        user_project_override=True,
    )


def _admin_apis(provider: gcp.Provider) -> list[gcp.projects.Service]:
    return [
        gcp.projects.Service(
            f"api-{api.split('.')[0]}",
            service=api,
            disable_on_destroy=False,
            opts=pulumi.ResourceOptions(provider=provider),
        )
        for api in ADMIN_APIS
    ]


def _state_bucket(config: BootstrapConfig, labels: dict[str, str], opts: pulumi.ResourceOptions) -> gcp.storage.Bucket:
    return gcp.storage.Bucket(
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
        opts=opts,
    )


def _export_outputs(
    config: BootstrapConfig,
    bucket: gcp.storage.Bucket,
    trusted: dict[str, gcp.iam.WorkloadIdentityPool],
    access: dict[str, StackAccess],
) -> None:
    providers = {k: p.name.apply(lambda name: f"{name}/providers/github") for k, p in trusted.items()}
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
            "GCP_WIF_PROVIDER_ENVIRONMENTS": providers["environments"],
        },
    )


main()
