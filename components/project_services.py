"""The Google APIs the platform uses, enabled once; resources wait for exactly the APIs they call."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_gcp as gcp


class ProjectServices(pulumi.ComponentResource):
    """Enables APIs and keeps them enabled on destroy: other stacks or tools in the project may rely on them."""

    def __init__(self, name: str, apis: Sequence[str], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:components:ProjectServices", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.services = {
            api: gcp.projects.Service(
                f"{name}-{api.removesuffix('.googleapis.com')}",
                service=api,
                disable_on_destroy=False,
                disable_dependent_services=False,
                opts=child,
            )
            for api in sorted(set(apis))
        }
        self.register_outputs({"enabled": sorted(self.services)})

    def require(self, *apis: str) -> list[pulumi.Resource]:
        """The Service resources for `apis`, to put in `depends_on`; an API not enabled here is a programming error."""
        missing = [api for api in apis if api not in self.services]
        if missing:
            raise ValueError(f"APIs not enabled by ProjectServices: {', '.join(missing)}")
        return [self.services[api] for api in apis]
