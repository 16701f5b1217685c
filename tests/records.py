"""Hand-written recordings for the estimator tests: resources as the engine records them (type token, camelCase
inputs, dependencies, parent), without running a program."""

from __future__ import annotations

from typing import Any

from offline.engine import Recording, Resource

STACK_URN = "urn:pulumi:test::platform::pulumi:pulumi:Stack::platform-test"


class Builder:
    """Adds resources to a recording; a component's children name it as `parent`, dependencies name resources."""

    def __init__(self) -> None:
        self.recording = Recording()

    def component(self, kind: str, name: str) -> Resource:
        return self._add(f"platform:components:{kind}", name, {}, (), None, custom=False)

    def add(
        self,
        type_: str,
        name: str,
        inputs: dict[str, Any] | None = None,
        *,
        parent: Resource | None = None,
        needs: tuple[Resource, ...] = (),
    ) -> Resource:
        return self._add(type_, name, inputs or {}, needs, parent, custom=True)

    def _add(
        self,
        type_: str,
        name: str,
        inputs: dict[str, Any],
        needs: tuple[Resource, ...],
        parent: Resource | None,
        *,
        custom: bool,
    ) -> Resource:
        resource = Resource(
            urn=f"urn:pulumi:test::platform::{type_}::{name}",
            type=type_,
            name=name,
            parent=parent.urn if parent else STACK_URN,
            custom=custom,
            inputs=inputs,
            revealed_inputs=inputs,
            outputs={},
            dependencies=tuple(r.urn for r in needs),
            protect=False,
            ignore_changes=(),
            aliases=(),
            delete_before_replace=False,
            retain_on_delete=False,
        )
        self.recording.resources.append(resource)
        return resource
