"""Physical names and stack-wide labels, from one place.

Logical (Pulumi) names are stable and chosen by the components; the names shown in Google Cloud come from
`Naming.physical`, which adds the prefix and environment and keeps every name within the target's limits.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_INVALID = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True)
class Naming:
    prefix: str
    environment: str
    labels: Mapping[str, str] = field(default_factory=dict)

    def physical(self, *parts: str, max_length: int = 63) -> str:
        """`{prefix}-{environment}-{parts}` in lowercase letters, digits and hyphens, at most `max_length` long.

        A name that would be too long is cut and given a short hash of the full name, so two long names that
        share a beginning still differ.
        """
        full = "-".join((self.prefix, self.environment, *parts)).lower()
        name = re.sub(r"-{2,}", "-", _INVALID.sub("-", full)).strip("-")
        if len(name) <= max_length:
            return name
        digest = hashlib.sha256(name.encode()).hexdigest()[:6]
        return f"{name[: max_length - 7].rstrip('-')}-{digest}"

    def labels_for(self, component: str) -> dict[str, str]:
        """The stack-wide labels plus the component that owns the resource."""
        return {**self.labels, "component": component}
