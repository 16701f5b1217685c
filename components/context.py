"""What every component of a stack shares, passed once: names, project, region, the enabled APIs, protection and the
Google provider."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.naming import Naming
from components.project_services import ProjectServices


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

    def labels(self, component: str) -> dict[str, str]:
        return self.naming.labels_for(component)
