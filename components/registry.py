"""The Docker repository the platform's images live in: scanned for vulnerabilities, cleaned up by policy, and with
immutable tags where the stack asks for them."""

from __future__ import annotations

from typing import Annotated

import pulumi
import pulumi_gcp as gcp
from pydantic import Field, StringConstraints, model_validator

from components.config_types import Model, ProjectId, Region, invalid
from components.context import StackContext
from components.refs import NO_CMEK, Encryption

SECONDS_PER_DAY = 86_400

RepositoryId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,62}$")]


class CleanupArgs(Model):
    dry_run: bool = True  # report what the policies would delete, without deleting; turn off once the report is right
    keep_recent: int = Field(10, ge=1, le=1000)  # versions per image always kept, whatever their age
    delete_untagged_after_days: int = Field(14, ge=1, le=3650)


class SharedRepositoryArgs(Model):
    """A repository owned elsewhere (e.g. one for all environments); the stack creates nothing, it only pulls."""

    project: ProjectId
    location: Region
    repository: RepositoryId


class RegistryArgs(Model):
    name: RepositoryId = "containers"  # the repository's name inside the stack's prefix
    immutable_tags: bool = False  # a pushed tag can never be moved or deleted (prod)
    vulnerability_scanning: bool = True
    cleanup: CleanupArgs = CleanupArgs()
    shared: SharedRepositoryArgs | None = None

    @model_validator(mode="after")
    def _shared_is_not_configured_here(self) -> RegistryArgs:
        fields = type(self).model_fields
        own = [k for k in sorted(fields) if k != "shared" and getattr(self, k) != fields[k].get_default()]
        if self.shared is not None and own:
            invalid(own[0], f"registry.shared is set, so {', '.join(own)} belong to the shared repository's owner")
        return self


class Registry(pulumi.ComponentResource):
    """An Artifact Registry Docker repository, or the URL of a shared one. `url` is what image names start with."""

    url: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: RegistryArgs,
        *,
        ctx: StackContext,
        encryption: Encryption = NO_CMEK,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """With `encryption` (CMEK) the repository takes the `artifactregistry` key, fixed once it exists."""
        super().__init__("platform:components:Registry", name, None, ctx.component(opts))
        self.repository: gcp.artifactregistry.Repository | None = None
        if args.shared is not None:
            shared = args.shared
            self.url = pulumi.Output.from_input(
                f"{shared.location}-docker.pkg.dev/{shared.project}/{shared.repository}"
            )
        else:
            needs = ["artifactregistry.googleapis.com"]
            if args.vulnerability_scanning:
                needs.append("containerscanning.googleapis.com")
            self.repository = gcp.artifactregistry.Repository(
                f"{name}-repository",
                repository_id=ctx.naming.physical(args.name),
                location=ctx.region,
                format="DOCKER",
                description="Container images of the platform's services",
                kms_key_name=encryption.key("artifactregistry", ctx.region),
                docker_config=gcp.artifactregistry.RepositoryDockerConfigArgs(immutable_tags=args.immutable_tags),
                vulnerability_scanning_config=gcp.artifactregistry.RepositoryVulnerabilityScanningConfigArgs(
                    enablement_config="INHERITED" if args.vulnerability_scanning else "DISABLED"
                ),
                cleanup_policy_dry_run=args.cleanup.dry_run,
                cleanup_policies=_cleanup_policies(args.cleanup),
                deletion_policy="PREVENT" if ctx.deletion_protection else "DELETE",
                labels=ctx.labels("registry"),
                opts=ctx.stateful(self, *needs),
            )
            self.url = pulumi.Output.concat(
                self.repository.location,
                "-docker.pkg.dev/",
                self.repository.project,
                "/",
                self.repository.repository_id,
            )
        self.register_outputs({"url": self.url})


def _cleanup_policies(cleanup: CleanupArgs) -> list[gcp.artifactregistry.RepositoryCleanupPolicyArgs]:
    """Keep the newest versions of every image; delete untagged versions (superseded pushes) once they are old."""
    return [
        gcp.artifactregistry.RepositoryCleanupPolicyArgs(
            id="keep-recent",
            action="KEEP",
            most_recent_versions=gcp.artifactregistry.RepositoryCleanupPolicyMostRecentVersionsArgs(
                keep_count=cleanup.keep_recent
            ),
        ),
        gcp.artifactregistry.RepositoryCleanupPolicyArgs(
            id="delete-untagged",
            action="DELETE",
            condition=gcp.artifactregistry.RepositoryCleanupPolicyConditionArgs(
                tag_state="UNTAGGED", older_than=f"{cleanup.delete_untagged_after_days * SECONDS_PER_DAY}s"
            ),
        ),
    ]
