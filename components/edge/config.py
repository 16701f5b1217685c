"""`platform:edge`: the Cloudflare zone, its hostnames and how each is served, HSTS, the Worker's origins and geo
steering, and the rule phases, checked together and against what the zone's plan allows."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, PlainSerializer, PlainValidator, StringConstraints, model_validator

from components.config_types import Hostname, Key, Model, invalid
from components.edge.rules import (
    PHASES,
    PLAN_LIMITS,
    CacheArgs,
    Duration,
    EdgeRateLimitArgs,
    Phase,
    RedirectArgs,
    WafArgs,
    phase_rules,
)

HexId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
OriginKey = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_-]{1,32}$")]  # the Worker's ORIGINS key rule
Continent = Literal["AF", "AN", "AS", "EU", "NA", "OC", "SA"]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


def _origin_url(value: str) -> str:
    """A bare https origin by hostname, as worker.js accepts it and as Cloudflare lets a Worker fetch it."""
    parts = urlsplit(value)
    if parts.scheme != "https":
        raise ValueError(f"'{value}' must use https: the edge sends the origin token to it on every request")
    if parts.username or parts.password or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"'{value}' must be a bare origin like https://eu.origin.example.com (no path or query)")
    host = parts.hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise ValueError(f"'{value}' is an IP address; Cloudflare refuses Worker fetches to bare IPs, use a hostname")
    if "." not in host:
        raise ValueError(f"'{value}' needs a fully qualified hostname")
    return value


def _matches(pattern: str, host: str) -> bool:
    """Whether a Worker route pattern (`host/path`; the host may start with `*`) runs on `host`."""
    route_host = pattern.split("/", 1)[0]
    return host.endswith(route_host[1:]) if route_host.startswith("*") else host == route_host


class ServiceOrigin(Model):
    """An origin that is one of the platform's Cloud Run services, fetched at its run.app URL (which has no record in
    the zone, so it needs no load balancer)."""

    service: str


class ExternalOrigin(Model):
    """An origin this stack does not publish (another platform, a partner), said so explicitly. It never gets the
    origin token: the token opens this stack's load balancer."""

    url: str
    external: Literal[True]


ORIGIN_FORMS = "write https://<a dns hostname>, {service: <a key of services>} or {url: https://host, external: true}"


def _origin(value: object) -> str | ServiceOrigin | ExternalOrigin:
    """`https://host`, `{service: <services key>}` or `{url: https://host, external: true}`; one validator, so an
    error names the origin's own key."""
    if isinstance(value, ServiceOrigin | ExternalOrigin):
        return value
    if isinstance(value, dict):
        service, url = value.get("service"), value.get("url")
        # The service name is checked against platform:services by the stack config.
        if set(value) == {"service"} and isinstance(service, str):
            return ServiceOrigin(service=service)
        if set(value) <= {"url", "external"} and isinstance(url, str):
            if value.get("external") is not True:
                raise ValueError(
                    f"{value!r}: an origin outside this stack must say so with external: true "
                    "(an origin this stack publishes is written as https://<a dns hostname>)"
                )
            return ExternalOrigin(url=_origin_url(url), external=True)
    if isinstance(value, str):
        return _origin_url(value)
    raise ValueError(f"{value!r} is not an origin; {ORIGIN_FORMS}")


def _dump_origin(origin: str | ServiceOrigin | ExternalOrigin) -> str | dict[str, object]:
    return origin if isinstance(origin, str) else origin.model_dump()


Origin = Annotated[str | ServiceOrigin | ExternalOrigin, PlainValidator(_origin), PlainSerializer(_dump_origin)]


class HostnameArgs(Model):
    # dns: proxied A record to the load balancer; worker_custom_domain: the Worker owns the hostname (and its record);
    # redirect: a proxied placeholder record for a hostname that only redirects (e.g. www -> apex).
    mode: Literal["dns", "worker_custom_domain", "redirect"]


class HstsArgs(Model):
    """One policy for the zone setting and the Worker: whichever of the two sets the header, it says the same."""

    max_age: Duration = 31536000
    include_subdomains: bool = True
    preload: bool = True

    def header(self) -> str:
        """The Strict-Transport-Security value, as the Worker's HSTS binding takes it."""
        flags = ["includeSubDomains"] * self.include_subdomains + ["preload"] * self.preload
        return "; ".join([f"max-age={self.max_age}", *flags])

    @model_validator(mode="after")
    def _preload_rules(self) -> HstsArgs:
        if self.preload and (self.max_age < 31536000 or not self.include_subdomains):
            invalid("preload", "preload needs max_age >= 31536000 and include_subdomains: true (hstspreload.org rules)")
        return self


class WorkerArgs(Model):
    """The Worker's settings; `origins`..`default_origin` become its ORIGINS binding (schema in edge/worker.js)."""

    origins: dict[OriginKey, Origin] = Field(min_length=1)
    continents: dict[Continent, OriginKey] = {}
    countries: dict[Country, OriginKey] = {}
    default_origin: OriginKey
    maintenance: bool = False
    maintenance_retry_after: Duration = 300
    csp: Annotated[str, StringConstraints(min_length=1, pattern=r"^[^\r\n]+$")] | None = None
    origin_timeout_ms: int = Field(10000, ge=100, le=120000)
    routes: dict[Key, Annotated[str, StringConstraints(pattern=r"^[a-z0-9*.-]+/[^\s]*$")]] = {}
    logs_sampling_rate: float = Field(1.0, gt=0, le=1)

    @model_validator(mode="after")
    def _known_origins(self) -> WorkerArgs:
        references = [("default_origin", self.default_origin)]
        references += [(f"continents.{code}", key) for code, key in self.continents.items()]
        references += [(f"countries.{code}", key) for code, key in self.countries.items()]
        for where, key in references:
            if key not in self.origins:
                invalid(where, f"'{key}' is not one of origins: {', '.join(sorted(self.origins))}")
        return self

    def service_origins(self) -> dict[str, str]:
        """Origin key -> the Cloud Run service it names."""
        return {key: o.service for key, o in self.origins.items() if isinstance(o, ServiceOrigin)}

    def published_origins(self) -> dict[str, str]:
        """Origin key -> the hostname of this stack it is fetched at (not service or external origins)."""
        return {key: urlsplit(o).hostname or "" for key, o in self.origins.items() if isinstance(o, str)}

    def origins_json(self, service_urls: Mapping[str, str] | None = None, passthrough: list[str] | None = None) -> str:
        """The ORIGINS binding: canonical JSON, so reordering the stack file changes nothing at the edge. A service
        origin becomes its URL from `service_urls` (service name -> run.app URL); `passthrough` lists the hostnames
        whose requests go to their own URL (EdgeArgs.passthrough_hosts)."""
        urls = service_urls or {}

        def url_of(origin: str | ServiceOrigin | ExternalOrigin) -> str:
            if isinstance(origin, ServiceOrigin):
                return urls[origin.service]
            return origin.url if isinstance(origin, ExternalOrigin) else origin

        document = {
            "origins": {key: url_of(o) for key, o in self.origins.items()},
            "continents": self.continents,
            "countries": self.countries,
            "default": self.default_origin,
            "external": sorted(key for key, o in self.origins.items() if isinstance(o, ExternalOrigin)),
            "passthrough": sorted(passthrough or []),
        }
        return json.dumps(document, sort_keys=True, separators=(",", ":"))


class EdgeArgs(Model):
    account_id: HexId
    zone_id: HexId
    zone: Hostname
    plan: Literal["free", "pro", "business", "enterprise"]
    hostnames: dict[Hostname, HostnameArgs] = Field(min_length=1)
    hsts: HstsArgs = HstsArgs()
    worker: WorkerArgs
    waf: WafArgs = WafArgs()
    rate_limits: dict[Key, EdgeRateLimitArgs] = {}
    cache: CacheArgs | None = None
    redirects: dict[Key, RedirectArgs] = {}
    # The zone's entry-point rulesets made outside this program (phase -> ruleset id), adopted instead of created.
    existing_rulesets: dict[Phase, HexId] = {}

    def mode_of(self, mode: str) -> list[str]:
        return [host for host, h in self.hostnames.items() if h.mode == mode]

    def passthrough_hosts(self, *, every_path: bool = False) -> list[str]:
        """The dns hostnames a Worker route covers (with `every_path`, a route `host/*`): the Worker sends their
        requests on to themselves."""
        routes = [p for p in self.worker.routes.values() if not every_path or p.split("/", 1)[1] == "*"]
        return [host for host in self.mode_of("dns") if any(_matches(p, host) for p in routes)]

    @model_validator(mode="after")
    def _consistent(self) -> EdgeArgs:
        for host in self.hostnames:
            if not self.in_zone(host):
                invalid(f"hostnames.{host}", f"'{host}' is not in the zone {self.zone}")
        self._check_routes()
        self._check_origins()
        self._check_redirects()
        self._check_plan()
        self._check_existing_rulesets()
        return self

    def in_zone(self, host: str) -> bool:
        return host == self.zone or host.endswith(f".{self.zone}")

    def _check_routes(self) -> None:
        dns = self.mode_of("dns")
        if not self.worker.routes and not self.mode_of("worker_custom_domain"):
            invalid("worker.routes", "the Worker serves nothing: add worker.routes or a worker_custom_domain hostname")
        for key, pattern in self.worker.routes.items():
            host = pattern.split("/", 1)[0]
            if not self.in_zone(host.removeprefix("*.").removeprefix("*")):
                invalid(f"worker.routes.{key}", f"'{pattern}' is not in the zone {self.zone}")
            if "*" not in host and host not in dns:
                invalid(
                    f"worker.routes.{key}",
                    f"'{host}' must be a hostname with mode dns (a route only runs on a proxied record);"
                    " a worker_custom_domain hostname needs no route",
                )

    def _check_origins(self) -> None:
        """An origin is a hostname this stack publishes to the load balancer (a dns hostname), a service, or marked
        external. A fetch of a Worker custom domain runs the Worker again; a route is never the target of a same-zone
        fetch, so an origin under a route reaches the load balancer."""
        custom_domains = self.mode_of("worker_custom_domain")
        for key, origin in self.worker.origins.items():
            url = origin.url if isinstance(origin, ExternalOrigin) else origin
            if not isinstance(url, str):
                continue
            host = urlsplit(url).hostname or ""
            if host in custom_domains:
                invalid(f"worker.origins.{key}", f"'{url}' is served by this Worker; its requests would loop")
            if isinstance(origin, str) and host not in self.mode_of("dns"):
                invalid(
                    f"worker.origins.{key}",
                    f"'{host}' is not a hostname this stack publishes (a dns hostname of edge.hostnames, which the "
                    f"load balancer serves); {ORIGIN_FORMS}",
                )

    def _check_existing_rulesets(self) -> None:
        rules = phase_rules(self.waf, self.rate_limits, self.cache, self.redirects)
        for phase in self.existing_rulesets:
            if not rules[phase]:
                invalid(
                    f"existing_rulesets.{phase}",
                    f"{PHASES[phase]} has no rules, so no {phase} ruleset is managed to adopt it into; "
                    f"configure {PHASES[phase]} or remove the entry",
                )

    def _check_redirects(self) -> None:
        sources = {r.from_host for r in self.redirects.values()}
        for key, redirect in self.redirects.items():
            if redirect.from_host not in self.hostnames:
                invalid(f"redirects.{key}.from_host", f"'{redirect.from_host}' is not one of hostnames")
            if redirect.from_host == redirect.to_host:
                invalid(f"redirects.{key}.to_host", "a redirect to the same host would loop")
        for host in self.mode_of("redirect"):
            if host not in sources:
                invalid(f"hostnames.{host}.mode", "a redirect hostname needs an entry in redirects with this from_host")

    def _check_plan(self) -> None:
        limits = PLAN_LIMITS[self.plan]
        for phase, rules in phase_rules(self.waf, self.rate_limits, self.cache, self.redirects).items():
            if len(rules) > limits.rules[phase]:
                invalid(PHASES[phase], f"{len(rules)} {phase} rules; the {self.plan} plan allows {limits.rules[phase]}")
        for key, limit in self.rate_limits.items():
            if limit.period > limits.max_rate_limit_period:
                invalid(
                    f"rate_limits.{key}.period",
                    f"the {self.plan} plan allows periods up to {limits.max_rate_limit_period} s",
                )
            if limit.timeout > limits.max_mitigation_timeout:
                invalid(
                    f"rate_limits.{key}.timeout",
                    f"the {self.plan} plan allows timeouts up to {limits.max_mitigation_timeout} s",
                )
        if self.cache and self.cache.edge_ttl < limits.min_edge_ttl:
            invalid("cache.edge_ttl", f"the {self.plan} plan allows edge TTLs from {limits.min_edge_ttl} s")
