"""Host and path routing of the load balancer as plain data: the routes of the stack file and the URL map path
matchers they become. Pure, so the stack config, the load balancer and the docs read the same routing."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, model_validator

from components.config_types import Hostname, Key, Model, invalid

CDN = "cdn"  # the routing target that stands for the static-assets backend bucket


def _path(value: str) -> str:
    # URL map path rules: start with '/', and '*' only as the last character, right after a '/'.
    if not value.startswith("/") or "*" in value.rstrip("*") or value.count("*") > 1:
        raise ValueError(f"'{value}' is not a URL map path; start it with '/' and use '*' only at the end, like /api/*")
    if value.endswith("*") and not value.endswith("/*"):
        raise ValueError(f"'{value}' puts '*' after a partial segment; write it like /api/*")
    if any(c in value for c in "?#") or " " in value:
        raise ValueError(f"'{value}' is a path only; drop the query or fragment")
    return value


UrlPath = Annotated[str, AfterValidator(_path)]


class RouteArgs(Model):
    """Send requests for `hosts` (all domains when empty) and `paths` (every path when empty) to `service`."""

    hosts: list[Hostname] = []
    paths: list[UrlPath] = []
    service: Key

    @model_validator(mode="after")
    def _matches_something(self) -> RouteArgs:
        if not self.hosts and not self.paths:
            invalid("hosts", "a route needs hosts, paths or both (the default_service already takes everything else)")
        return self


@dataclass(frozen=True)
class PathMatcher:
    """The routing of a group of hosts: a default target and (paths, target) rules; targets are service names or
    CDN. Hosts that share the same routes share one matcher, named after those routes."""

    name: str
    hosts: tuple[str, ...]
    default: str
    rules: tuple[tuple[tuple[str, ...], str], ...]


def path_rules_for(
    routes: Mapping[str, RouteArgs], cdn_paths: Sequence[str], host: str
) -> list[tuple[str, tuple[str, ...]]]:
    """(route name, paths) for `host`: its own routes with paths, routes for every host, then the CDN paths."""
    rules = [(n, tuple(r.paths)) for n, r in routes.items() if r.paths and host in r.hosts]
    rules += [(n, tuple(r.paths)) for n, r in routes.items() if r.paths and not r.hosts]
    if cdn_paths:
        rules.append((CDN, tuple(cdn_paths)))
    return rules


def plan_routing(
    domains: Sequence[str], routes: Mapping[str, RouteArgs], default: str, cdn_paths: Sequence[str] = ()
) -> list[PathMatcher]:
    """The URL map as plain data, one matcher per distinct set of host-specific routes."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for host in domains:
        own = tuple(sorted(n for n, r in routes.items() if host in r.hosts))
        groups.setdefault(own, []).append(host)
    matchers = []
    for own, hosts in groups.items():
        whole = [routes[n].service for n in own if not routes[n].paths]
        rules = tuple(
            (paths, CDN if name == CDN else routes[name].service)
            for name, paths in path_rules_for(routes, cdn_paths, hosts[0])
        )
        matchers.append(
            PathMatcher(
                name=_matcher_name(own),
                hosts=tuple(sorted(hosts)),
                default=whole[0] if whole else default,
                rules=rules,
            )
        )
    return matchers


def route_of(matcher: PathMatcher, path: str) -> str:
    """Where the URL map sends `path`: the longest matching path rule (`/x/*` matches below /x/), else the default."""
    matching = [
        (len(pattern), target)
        for patterns, target in matcher.rules
        for pattern in patterns
        if (path.startswith(pattern[:-1]) if pattern.endswith("/*") else path == pattern)
    ]
    return max(matching)[1] if matching else matcher.default


def _matcher_name(routes: tuple[str, ...]) -> str:
    """`default`, or `routes-<names>` (cut and given a digest beyond the API's 63 characters)."""
    if not routes:
        return "default"
    name = f"routes-{'-'.join(routes)}"
    return name if len(name) <= 63 else f"{name[:56]}-{hashlib.sha256(name.encode()).hexdigest()[:6]}"
