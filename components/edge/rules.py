"""The edge's rule phases: the config of WAF custom rules, rate limiting, cache and redirect rules, what each
Cloudflare plan allows of them, and the rules they become (one entry-point ruleset per phase)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import pulumi_cloudflare as cloudflare
from pydantic import Field, StringConstraints, model_validator

from components.config_types import Hostname, Model, invalid

RATE_LIMIT_CHARACTERISTICS = ("ip.src", "cf.colo.id")  # per client IP; the API requires the data centre too
# Values the rate limiting API accepts for periods and mitigation timeouts, in seconds.
RATE_LIMIT_SECONDS = frozenset(
    (10, 15, 20, 30, 40, 45, 60, 90, 120, 180, 240, 300, 480, 600, 900, 1200, 1800, 2400, 3600, 65535, 86400)
)


# The rule phases this component manages, each with the config key that feeds it.
Phase = Literal[
    "http_request_firewall_custom", "http_ratelimit", "http_request_cache_settings", "http_request_dynamic_redirect"
]
PHASES: dict[Phase, str] = {
    "http_request_firewall_custom": "waf",
    "http_ratelimit": "rate_limits",
    "http_request_cache_settings": "cache",
    "http_request_dynamic_redirect": "redirects",
}


@dataclass(frozen=True)
class PlanLimits:
    """What a Cloudflare plan allows per zone (developers.cloudflare.com/waf and /rules, checked in 2026)."""

    rules: dict[Phase, int]  # per phase
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

Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
PathPrefix = Annotated[str, StringConstraints(pattern=r"^/[A-Za-z0-9._~/-]*$")]
Extension = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]{1,10}$")]
Duration = Annotated[int, Field(ge=1, le=31536000)]  # seconds, up to a year


class AdminArgs(Model):
    paths: list[PathPrefix] = Field(min_length=1)
    # Empty: everyone gets a managed challenge on admin paths. Set: everyone else is blocked.
    allowed_cidrs: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []


class WafArgs(Model):
    admin: AdminArgs | None = None
    blocked_paths: list[PathPrefix] = []  # scanner probes (/.env, /.git, ...): blocked outright
    challenge_empty_user_agent: bool = True
    challenge_countries: list[Country] = []


class EdgeRateLimitArgs(Model):
    paths: list[PathPrefix] = Field(min_length=1)
    requests: int = Field(ge=1, le=1000000)  # per client IP per period; the rule blocks (429) above it
    period: int
    timeout: int  # how long a client stays blocked once over the limit

    @model_validator(mode="after")
    def _supported_values(self) -> EdgeRateLimitArgs:
        for key in ("period", "timeout"):
            if getattr(self, key) not in RATE_LIMIT_SECONDS:
                supported = ", ".join(str(s) for s in sorted(RATE_LIMIT_SECONDS))
                invalid(key, f"{getattr(self, key)} is not a value Cloudflare supports ({supported})")
        return self


class CacheArgs(Model):
    static_extensions: list[Extension] = Field(min_length=1)
    edge_ttl: Duration = 86400
    browser_ttl: Duration | None = None  # None: respect the origin's Cache-Control
    bypass_paths: list[PathPrefix] = []  # never cached, whatever the extension


class RedirectArgs(Model):
    from_host: Hostname
    to_host: Hostname
    status_code: Literal[301, 302, 307, 308] = 301


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


def rate_limit_rules(limits: dict[str, EdgeRateLimitArgs]) -> list[cloudflare.RulesetRuleArgs]:
    """Per-IP limits on path prefixes (the only field every plan allows in a rate limiting expression).
    `requests_to_origin` stays unset: with it, Cloudflare counts the Worker's same-zone subrequest of a visitor's
    request as a second request of that visitor."""
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


def phase_rules(
    waf: WafArgs,
    rate_limits: dict[str, EdgeRateLimitArgs],
    cache: CacheArgs | None,
    redirects: dict[str, RedirectArgs],
) -> dict[Phase, list[cloudflare.RulesetRuleArgs]]:
    """The rules of each phase, from config; the plan check and the component use the same list."""
    return {
        "http_request_firewall_custom": waf_rules(waf),
        "http_ratelimit": rate_limit_rules(rate_limits),
        "http_request_cache_settings": cache_rules(cache) if cache else [],
        "http_request_dynamic_redirect": redirect_rules(redirects),
    }
