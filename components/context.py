"""What every component of a stack shares, passed once: names, project, region, the enabled APIs, protection and the
Google provider."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.naming import Naming
from components.project_services import ProjectServices

ACT_AS_ROLE = "roles/iam.serviceAccountUser"


@dataclass(frozen=True)
class StackContext:
    """The stack a component is built in. Components read it; none of them changes it.

    `deletion_protection` is the cloud-side flag on stateful resources (a database, a bucket, a service); `protect` is
    Pulumi's, which makes `pulumi destroy` and replacements refuse until it is lifted in the stack file.
    """

    naming: Naming
    project: str
    region: str
    apis: ProjectServices
    deletion_protection: bool
    protect: bool
    provider: pulumi.ProviderResource | None = None
    deployer: str | None = None  # the IAM member that runs `pulumi up`; None: no actAs grants (component tests)

    def component(self, opts: pulumi.ResourceOptions | None = None) -> pulumi.ResourceOptions:
        """Options for a component: the stack's Google provider (children inherit it), merged with `opts`."""
        base = pulumi.ResourceOptions(providers=[self.provider]) if self.provider else pulumi.ResourceOptions()
        return pulumi.ResourceOptions.merge(base, opts)

    def after(self, parent: pulumi.Resource, *apis: str) -> pulumi.ResourceOptions:
        """A child of `parent` that waits for the APIs it calls."""
        return pulumi.ResourceOptions(parent=parent, depends_on=self.apis.require(*apis))

    def stateful(self, parent: pulumi.Resource, *apis: str) -> pulumi.ResourceOptions:
        """A child that holds data: protected as the stack says, and waiting for the APIs it calls."""
        return pulumi.ResourceOptions(parent=parent, protect=self.protect, depends_on=self.apis.require(*apis))

    def act_as(
        self, parent: pulumi.Resource, name: str, account: pulumi.Input[str]
    ) -> list[gcp.serviceaccount.IAMMember]:
        """Let the deployer attach `account` to what it deploys: roles/iam.serviceAccountUser (actAs) on that one
        account. Cloud Run and Cloud Scheduler check actAs when a service, job or schedule names a service account, so
        whatever names `account` puts the returned grant in its `depends_on`. `account` is the account's id
        (`Account.name`, `projects/PROJECT/serviceAccounts/EMAIL`)."""
        if self.deployer is None:
            return []
        return [
            gcp.serviceaccount.IAMMember(
                f"{name}-act-as",
                service_account_id=account,
                role=ACT_AS_ROLE,
                member=self.deployer,
                opts=self.after(parent, "iam.googleapis.com"),
            )
        ]

    def labels(self, component: str) -> dict[str, str]:
        return self.naming.labels_for(component)
