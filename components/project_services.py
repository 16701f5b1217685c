"""The Google APIs the platform calls, each enabled once, the first time a resource says it needs it: a component
declares the APIs its resources call (`ctx.after(self, "run.googleapis.com")`), and nothing else keeps a list."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp


class ProjectServices(pulumi.ComponentResource):
    """Enables APIs on demand and keeps them enabled on destroy: other stacks or tools in the project may rely on
    them. A resource that calls an API puts `require(api)` in its `depends_on`, so on a new project `pulumi up` never
    races enablement."""

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:components:ProjectServices", name, None, opts)
        self._name = name
        self.services: dict[str, gcp.projects.Service] = {}
        self.register_outputs({})

    def require(self, *apis: str) -> list[pulumi.Resource]:
        """The Service resources for `apis` (enabled here on first use), to put in `depends_on`."""
        for api in apis:
            if not api.endswith(".googleapis.com"):
                raise ValueError(f"'{api}' is not a Google API name like run.googleapis.com")
            if api not in self.services:
                self.services[api] = gcp.projects.Service(
                    f"{self._name}-{api.removesuffix('.googleapis.com')}",
                    service=api,
                    disable_on_destroy=False,
                    disable_dependent_services=False,
                    opts=pulumi.ResourceOptions(parent=self),
                )
        return [self.services[api] for api in apis]
