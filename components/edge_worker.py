"""The Cloudflare edge in front of the platform: hardened zone settings, proxied DNS, the geo-steering Worker
(`edge/worker.js`) and one ruleset per phase for WAF custom rules, rate limiting, caching and redirects."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import pulumi
import pulumi_cloudflare as cloudflare
from pydantic import Field, PlainSerializer, PlainValidator, StringConstraints, model_validator

from components.config_types import Model, invalid
from components.naming import Naming

WORKER_SCRIPT = Path(__file__).resolve().parent.parent / "edge" / "worker.js"
MAIN_MODULE = "worker.js"  # the upload's module name; without main_module the API takes it for a service worker
COMPATIBILITY_DATE = "2026-04-01"  # the date the workerd tests run with (edge/test/helpers.mjs)
REDIRECT_ONLY_TARGET = "100::"  # RFC 6666 discard prefix: a proxied record that never reaches an origin
# DNS-only validation records (Certificate Manager's CNAMEs) take a real TTL; proxied ones only 1 (automatic).
VALIDATION_TTL = 300
RATE_LIMIT_CHARACTERISTICS = ("ip.src", "cf.colo.id")  # per client IP; the API requires the data centre too
# Values the rate limiting API accepts for periods and mitigation timeouts, in seconds.
RATE_LIMIT_SECONDS = frozenset(
    (10, 15, 20, 30, 40, 45, 60, 90, 120, 180, 240, 300, 480, 600, 900, 1200, 1800, 2400, 3600, 65535, 86400)
)


# The rule phases this component manages, each with the config key that feeds it.
PHASES = {
    "http_request_firewall_custom": "waf",
    "http_ratelimit": "rate_limits",
    "http_request_cache_settings": "cache",
    "http_request_dynamic_redirect": "redirects",
}


@dataclass(frozen=True)
class PlanLimits:
    """What a Cloudflare plan allows per zone (developers.cloudflare.com/waf and /rules, checked in 2026)."""

    rules: dict[str, int]  # per phase
    max_rate_limit_period: int
    max_mitigation_timeout: int
    min_edge_ttl: int


def _plan(
    waf: int, rate_limits: int, cache: int, redirects: int, *, period: int, timeout: int, edge_ttl: int
) -> PlanLimits:
    counts = dict(zip(PHASES, (waf, rate_limits, cache, redirects), strict=True))
    return PlanLimits(counts, max_rate_limit_period=period, max_mitigation_timeout=timeout, min_edge_ttl=edge_ttl)


PLAN_LIMITS = {
    "free": _plan(5, 1, 10, 10, period=10, timeout=10, edge_ttl=7200),
    "pro": _plan(20, 2, 25, 25, period=60, timeout=3600, edge_ttl=3600),
    "business": _plan(100, 5, 50, 50, period=600, timeout=86400, edge_ttl=1),
    "enterprise": _plan(1000, 100, 300, 300, period=65535, timeout=86400, edge_ttl=1),
}

HexId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
Hostname = Annotated[
    str, StringConstraints(max_length=253, pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
]
Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,30}$")]
OriginKey = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_-]{1,32}$")]  # the Worker's ORIGINS key rule
Continent = Literal["AF", "AN", "AS", "EU", "NA", "OC", "SA"]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
PathPrefix = Annotated[str, StringConstraints(pattern=r"^/[A-Za-z0-9._~/-]*$")]
Extension = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]{1,10}$")]
Seconds = Annotated[int, Field(ge=1, le=31536000)]


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


class ServiceOrigin(Model):
    """An origin that is one of the platform's Cloud Run services, fetched at its run.app URL (which has no record in
    the zone, so it needs no load balancer)."""

    service: str


def _origin(value: object) -> str | ServiceOrigin:
    """`https://host` or `{service: <services key>}`; one validator, so an error names the origin's own key."""
    if isinstance(value, ServiceOrigin):
        return value
    if isinstance(value, dict):
        service = value.get("service")
        # The name is checked against platform:services by the stack config.
        if set(value) != {"service"} or not isinstance(service, str):
            raise ValueError(f"{value!r} is not an origin; write {{service: <a key of services>}} or https://host")
        return ServiceOrigin(service=service)
    if isinstance(value, str):
        return _origin_url(value)
    raise ValueError(f"{value!r} is not an origin; write https://host or {{service: <a key of services>}}")


def _dump_origin(origin: str | ServiceOrigin) -> str | dict[str, str]:
    return origin.model_dump() if isinstance(origin, ServiceOrigin) else origin


Origin = Annotated[str | ServiceOrigin, PlainValidator(_origin), PlainSerializer(_dump_origin)]


class HostnameArgs(Model):
    # dns: proxied A record to the load balancer; worker_custom_domain: the Worker owns the hostname (and its record);
    # redirect: a proxied placeholder record for a hostname that only redirects (e.g. www -> apex).
    mode: Literal["dns", "worker_custom_domain", "redirect"]


class HstsArgs(Model):
    max_age: Seconds = 31536000
    include_subdomains: bool = True
    preload: bool = True

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
    maintenance_retry_after: Seconds = 300
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

    def origins_json(self, service_urls: Mapping[str, str] | None = None) -> str:
        """The ORIGINS binding: canonical JSON, so reordering the stack file changes nothing at the edge. A service
        origin becomes its URL from `service_urls` (service name -> run.app URL)."""
        urls = service_urls or {}
        document = {
            "origins": {key: urls[o.service] if isinstance(o, ServiceOrigin) else o for key, o in self.origins.items()},
            "continents": self.continents,
            "countries": self.countries,
            "default": self.default_origin,
        }
        return json.dumps(document, sort_keys=True, separators=(",", ":"))


class AdminArgs(Model):
    paths: list[PathPrefix] = Field(min_length=1)
    # Empty: everyone gets a managed challenge on admin paths. Set: everyone else is blocked.
    allowed_cidrs: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []


class WafArgs(Model):
    admin: AdminArgs | None = None
    blocked_paths: list[PathPrefix] = []  # scanner probes (/.env, /.git, ...): blocked outright
    challenge_empty_user_agent: bool = True
    challenge_countries: list[Country] = []


class RateLimitArgs(Model):
    paths: list[PathPrefix] = Field(min_length=1)
    requests: int = Field(ge=1, le=1000000)  # per client IP per period; the rule blocks (429) above it
    period: int
    timeout: int  # how long a client stays blocked once over the limit

    @model_validator(mode="after")
    def _supported_values(self) -> RateLimitArgs:
        for key in ("period", "timeout"):
            if getattr(self, key) not in RATE_LIMIT_SECONDS:
                supported = ", ".join(str(s) for s in sorted(RATE_LIMIT_SECONDS))
                invalid(key, f"{getattr(self, key)} is not a value Cloudflare supports ({supported})")
        return self


class CacheArgs(Model):
    static_extensions: list[Extension] = Field(min_length=1)
    edge_ttl: Seconds = 86400
    browser_ttl: Seconds | None = None  # None: respect the origin's Cache-Control
    bypass_paths: list[PathPrefix] = []  # never cached, whatever the extension


class RedirectArgs(Model):
    from_host: Hostname
    to_host: Hostname
    status_code: Literal[301, 302, 307, 308] = 301


class EdgeArgs(Model):
    account_id: HexId
    zone_id: HexId
    zone: Hostname
    plan: Literal["free", "pro", "business", "enterprise"]
    hostnames: dict[Hostname, HostnameArgs] = Field(min_length=1)
    hsts: HstsArgs = HstsArgs()
    worker: WorkerArgs
    waf: WafArgs = WafArgs()
    rate_limits: dict[Key, RateLimitArgs] = {}
    cache: CacheArgs | None = None
    redirects: dict[Key, RedirectArgs] = {}

    def mode_of(self, mode: str) -> list[str]:
        return [host for host, h in self.hostnames.items() if h.mode == mode]

    @model_validator(mode="after")
    def _consistent(self) -> EdgeArgs:
        for host in self.hostnames:
            if not self.in_zone(host):
                invalid(f"hostnames.{host}", f"'{host}' is not in the zone {self.zone}")
        self._check_routes()
        self._check_origins()
        self._check_redirects()
        self._check_plan()
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

    def _served_by_worker(self, host: str) -> bool:
        if host in self.mode_of("worker_custom_domain"):
            return True
        for pattern in self.worker.routes.values():
            route_host = pattern.split("/", 1)[0]
            wildcard = route_host.removeprefix("*")
            if host == route_host or (route_host.startswith("*") and host.endswith(wildcard)):
                return True
        return False

    def _check_origins(self) -> None:
        for key, url in self.worker.origins.items():
            if isinstance(url, str) and self._served_by_worker(urlsplit(url).hostname or ""):
                invalid(f"worker.origins.{key}", f"'{url}' is served by this Worker; its requests would loop")

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
        for phase, rules in phase_rules(self).items():
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


def _path_match(paths: list[str]) -> str:
    return " or ".join(f'starts_with(http.request.uri.path, "{p}")' for p in paths)


def _string_set(values: list[str]) -> str:
    """A rules-language set of strings: {"a" "b"} (values are validated, so nothing needs escaping)."""
    return "{" + " ".join(f'"{v}"' for v in values) + "}"


def _rule(ref: str, description: str, action: str, expression: str, **kwargs: Any) -> cloudflare.RulesetRuleArgs:
    return cloudflare.RulesetRuleArgs(
        ref=ref, description=description, action=action, expression=expression, enabled=True, **kwargs
    )


def waf_rules(waf: WafArgs) -> list[cloudflare.RulesetRuleArgs]:
    """Custom WAF rules; each `ref` is fixed so Cloudflare keeps a rule's identity and analytics across updates."""
    rules = []
    if waf.admin:
        paths = _path_match(waf.admin.paths)
        if waf.admin.allowed_cidrs:
            cidrs = " ".join(str(c) for c in waf.admin.allowed_cidrs)
            rules.append(
                _rule(
                    "protect-admin",
                    "Admin paths: allowed networks only",
                    "block",
                    f"({paths}) and not ip.src in {{{cidrs}}}",
                )
            )
        else:
            rules.append(
                _rule("protect-admin", "Admin paths: challenge every client", "managed_challenge", f"({paths})")
            )
    if waf.blocked_paths:
        rules.append(
            _rule(
                "block-probes",
                "Scanner probes for secrets and CMS paths",
                "block",
                f"({_path_match(waf.blocked_paths)})",
            )
        )
    suspicious = ['http.user_agent eq ""'] if waf.challenge_empty_user_agent else []
    if waf.challenge_countries:
        suspicious.append(f"ip.src.country in {_string_set(waf.challenge_countries)}")
    if suspicious:
        rules.append(
            _rule(
                "challenge-suspicious",
                "Suspicious clients get a managed challenge (verified bots excepted)",
                "managed_challenge",
                f"({' or '.join(suspicious)}) and not cf.client.bot",
            )
        )
    return rules


def rate_limit_rules(limits: dict[str, RateLimitArgs]) -> list[cloudflare.RulesetRuleArgs]:
    """Per-IP limits on path prefixes (the only field every plan allows in a rate limiting expression)."""
    return [
        _rule(
            f"ratelimit-{key}",
            f"{limit.requests} requests per {limit.period} s per IP, then blocked for {limit.timeout} s",
            "block",
            f"({_path_match(limit.paths)})",
            ratelimit=cloudflare.RulesetRuleRatelimitArgs(
                characteristics=list(RATE_LIMIT_CHARACTERISTICS),
                period=limit.period,
                requests_per_period=limit.requests,
                mitigation_timeout=limit.timeout,
            ),
        )
        for key, limit in limits.items()
    ]


def cache_rules(cache: CacheArgs) -> list[cloudflare.RulesetRuleArgs]:
    browser = (
        cloudflare.RulesetRuleActionParametersBrowserTtlArgs(mode="override_origin", default=cache.browser_ttl)
        if cache.browser_ttl
        else cloudflare.RulesetRuleActionParametersBrowserTtlArgs(mode="respect_origin")
    )
    rules = [
        _rule(
            "cache-static-assets",
            f"Static assets cached at the edge for {cache.edge_ttl} s",
            "set_cache_settings",
            f"(http.request.uri.path.extension in {_string_set(cache.static_extensions)})",
            action_parameters=cloudflare.RulesetRuleActionParametersArgs(
                cache=True,
                edge_ttl=cloudflare.RulesetRuleActionParametersEdgeTtlArgs(
                    mode="override_origin", default=cache.edge_ttl
                ),
                browser_ttl=browser,
            ),
        )
    ]
    if cache.bypass_paths:  # later cache rules win, so the bypass comes last
        rules.append(
            _rule(
                "cache-bypass-dynamic",
                "Dynamic paths are never cached",
                "set_cache_settings",
                f"({_path_match(cache.bypass_paths)})",
                action_parameters=cloudflare.RulesetRuleActionParametersArgs(cache=False),
            )
        )
    return rules


def redirect_rules(redirects: dict[str, RedirectArgs]) -> list[cloudflare.RulesetRuleArgs]:
    return [
        _rule(
            f"redirect-{key}",
            f"{r.from_host} -> {r.to_host} ({r.status_code}), path and query kept",
            "redirect",
            f'(http.host eq "{r.from_host}")',
            action_parameters=cloudflare.RulesetRuleActionParametersArgs(
                from_value=cloudflare.RulesetRuleActionParametersFromValueArgs(
                    status_code=r.status_code,
                    preserve_query_string=True,
                    target_url=cloudflare.RulesetRuleActionParametersFromValueTargetUrlArgs(
                        expression=f'concat("https://{r.to_host}", http.request.uri.path)'
                    ),
                ),
            ),
        )
        for key, r in redirects.items()
    ]


def phase_rules(args: EdgeArgs) -> dict[str, list[cloudflare.RulesetRuleArgs]]:
    """The rules of each phase, from config; the plan check and the component use the same list."""
    return {
        "http_request_firewall_custom": waf_rules(args.waf),
        "http_ratelimit": rate_limit_rules(args.rate_limits),
        "http_request_cache_settings": cache_rules(args.cache) if args.cache else [],
        "http_request_dynamic_redirect": redirect_rules(args.redirects),
    }


def zone_settings(hsts: HstsArgs) -> dict[str, Any]:
    """TLS everywhere, strict origin certificates, HSTS. security_header takes snake_case keys: camelCase ones
    are accepted but read back differently, so every preview would show a diff."""
    return {
        "ssl": "strict",
        "min_tls_version": "1.2",
        "tls_1_3": "on",
        "always_use_https": "on",
        "automatic_https_rewrites": "on",
        "security_header": {
            "strict_transport_security": {
                "enabled": True,
                "max_age": hsts.max_age,
                "include_subdomains": hsts.include_subdomains,
                "preload": hsts.preload,
                "nosniff": True,
            }
        },
    }


class EdgeWorker(pulumi.ComponentResource):
    """A Cloudflare zone's edge layer: zone hardening, proxied DNS to the load balancer, the Worker that steers each
    request to the nearest healthy origin, and WAF, rate limiting, cache and redirect rules.

    `origin_ip` is the load balancer's IP, required when a hostname has mode `dns`. `service_urls` maps each Cloud
    Run service a Worker origin names (`{service: api}`) to its run.app URL. `dns_authorizations` maps a load
    balancer domain to the DNS records Certificate Manager asks for (`[{name, type, data}]`, its
    `dns_resource_records`); each is published DNS-only, as Google must see it. Pass the Cloudflare provider in
    `opts.providers`; children inherit it.
    """

    worker_name: pulumi.Output[str]
    hostnames: pulumi.Output[list[str]]

    def __init__(
        self,
        name: str,
        args: EdgeArgs,
        *,
        naming: Naming,
        origin_token: pulumi.Input[str],
        origin_ip: pulumi.Input[str] | None = None,
        service_urls: Mapping[str, pulumi.Input[str]] | None = None,
        dns_authorizations: Mapping[str, pulumi.Input[Sequence[Mapping[str, str]]]] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:components:EdgeWorker", name, None, opts)
        urls = service_urls or {}
        self._name = name
        self._args = args
        child = pulumi.ResourceOptions(parent=self)

        self.settings = {
            setting: cloudflare.ZoneSetting(
                f"{name}-{setting.replace('_', '-')}",
                zone_id=args.zone_id,
                setting_id=setting,
                value=value,
                opts=child,
            )
            for setting, value in zone_settings(args.hsts).items()
        }
        self.script = cloudflare.WorkersScript(
            f"{name}-worker",
            account_id=args.account_id,
            script_name=naming.physical("edge"),
            content=WORKER_SCRIPT.read_text(),
            main_module=MAIN_MODULE,
            compatibility_date=COMPATIBILITY_DATE,
            bindings=self._bindings(args.worker, origin_token, urls),
            observability=cloudflare.WorkersScriptObservabilityArgs(
                enabled=True,
                head_sampling_rate=args.worker.logs_sampling_rate,
                logs=cloudflare.WorkersScriptObservabilityLogsArgs(
                    enabled=True, invocation_logs=True, head_sampling_rate=args.worker.logs_sampling_rate
                ),
            ),
            opts=child,
        )
        self.custom_domains = {
            host: cloudflare.WorkersCustomDomain(
                f"{name}-domain-{host}",
                account_id=args.account_id,
                zone_id=args.zone_id,
                hostname=host,
                service=self.script.script_name,
                opts=child,
            )
            for host in args.mode_of("worker_custom_domain")
        }
        self.records = self._records(origin_ip)
        self.validation_records = {
            domain: self._validation_record(domain, records)
            for domain, records in sorted((dns_authorizations or {}).items())
        }
        self.routes = {
            key: cloudflare.WorkersRoute(
                f"{name}-route-{key}", zone_id=args.zone_id, pattern=pattern, script=self.script.script_name, opts=child
            )
            for key, pattern in args.worker.routes.items()
        }
        self.rulesets = self._rulesets(naming)

        self.worker_name = self.script.script_name
        served = [d.hostname for d in self.custom_domains.values()] + [r.name for r in self.records.values()]
        self.hostnames = pulumi.Output.all(*served).apply(sorted)
        self.register_outputs({"worker_name": self.worker_name, "hostnames": self.hostnames})

    @staticmethod
    def _bindings(
        worker: WorkerArgs, origin_token: pulumi.Input[str], service_urls: Mapping[str, pulumi.Input[str]]
    ) -> list[cloudflare.WorkersScriptBindingArgs]:
        named = {service: service_urls[service] for service in worker.service_origins().values()}
        plain: dict[str, pulumi.Input[str]] = {
            "ORIGINS": pulumi.Output.all(**named).apply(worker.origins_json) if named else worker.origins_json(),
            "MAINTENANCE": "true" if worker.maintenance else "false",
            "MAINTENANCE_RETRY_AFTER": str(worker.maintenance_retry_after),
            "ORIGIN_TIMEOUT_MS": str(worker.origin_timeout_ms),
        }
        if worker.csp:
            plain["CSP"] = worker.csp
        bindings = [cloudflare.WorkersScriptBindingArgs(name=k, type="plain_text", text=v) for k, v in plain.items()]
        token = pulumi.Output.secret(origin_token)
        bindings.append(cloudflare.WorkersScriptBindingArgs(name="ORIGIN_TOKEN", type="secret_text", text=token))
        return bindings

    def _records(self, origin_ip: pulumi.Input[str] | None) -> dict[str, cloudflare.DnsRecord]:
        """Proxied records (ttl 1 = automatic, the only TTL a proxied record takes). A custom domain makes its own."""
        targets: dict[str, tuple[str, pulumi.Input[str]]] = {
            host: ("AAAA", REDIRECT_ONLY_TARGET) for host in self._args.mode_of("redirect")
        }
        if origin_ip is not None:
            targets.update({host: ("A", origin_ip) for host in self._args.mode_of("dns")})
        return {
            host: cloudflare.DnsRecord(
                f"{self._name}-dns-{host}",
                zone_id=self._args.zone_id,
                name=host,
                type=kind,
                content=content,
                proxied=True,
                ttl=1,
                comment="Managed by Pulumi (platform edge)",
                opts=pulumi.ResourceOptions(parent=self),
            )
            for host, (kind, content) in sorted(targets.items())
        }

    def _validation_record(
        self, domain: str, records: pulumi.Input[Sequence[Mapping[str, str]]]
    ) -> cloudflare.DnsRecord:
        """The `_acme-challenge` CNAME of a domain, DNS-only: proxied, Google would see Cloudflare's answer instead.
        Names and targets come fully qualified (trailing dot); Cloudflare stores them without it."""
        record = pulumi.Output.from_input(records).apply(lambda rs: _single_cname(domain, rs))
        return cloudflare.DnsRecord(
            f"{self._name}-validation-{domain}",
            zone_id=self._args.zone_id,
            name=record.apply(lambda r: r["name"].rstrip(".")),
            type="CNAME",
            content=record.apply(lambda r: r["data"].rstrip(".")),
            proxied=False,
            ttl=VALIDATION_TTL,
            comment=f"Managed by Pulumi (platform edge): Certificate Manager DNS authorization of {domain}",
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _rulesets(self, naming: Naming) -> dict[str, cloudflare.Ruleset]:
        """Exactly one entry-point ruleset per phase: a second one for the same (zone, phase) would be rejected."""
        return {
            phase: cloudflare.Ruleset(
                f"{self._name}-{PHASES[phase].replace('_', '-')}",
                zone_id=self._args.zone_id,
                kind="zone",
                phase=phase,
                name=naming.physical("edge", PHASES[phase]),
                description=f"Platform edge {PHASES[phase].replace('_', ' ')} (managed by Pulumi)",
                rules=rules,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for phase, rules in phase_rules(self._args).items()
            if rules
        }


def _single_cname(domain: str, records: Sequence[Mapping[str, str]]) -> Mapping[str, str]:
    """Certificate Manager asks for exactly one CNAME per DNS authorization; anything else is not ours to publish."""
    if len(records) != 1 or records[0].get("type") != "CNAME":
        raise ValueError(f"expected one CNAME to authorize {domain}, got {list(records)!r}")
    return records[0]
