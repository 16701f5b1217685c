"""Cloud Armor for the load balancer, in two policies: what they hold, planned without any resource.

The edge policy (CLOUD_ARMOR_EDGE) decides which sources may reach the load balancer at all; Google evaluates it
before the CDN cache, and it is the only kind a backend bucket takes, so it sits on every backend service and on the
static-assets bucket. For an Application Load Balancer it can match only the client's address and country (header
filtering at the edge is a Media CDN feature), so behind Cloudflare it admits Cloudflare's ranges and denies the rest;
otherwise it carries the country blocks.

The backend policy decides what a request may do. Behind Cloudflare it first denies any request without the origin
token the Worker sends (`X-Origin-Auth`), so only this project's zone gets further; then the admin allow-list
repeated from the edge, preconfigured WAF rules, one per-visitor rate limit with a ban, adaptive protection. The
backend services have no CDN, so every request to them is evaluated here; the static-assets bucket, which takes no
backend policy, gets the edge policy's range check only (docs/traffic.md).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from components.config_types import Model, invalid

# Cloudflare's published edge ranges, copied from https://www.cloudflare.com/ips-v4 and https://www.cloudflare.com/ips-v6
# on 2026-11-22. Cloudflare announces changes in advance; when the published lists change, update these and run the
# tests (they check every entry is a valid network and how the ranges are split into rules).
CLOUDFLARE_IPV4 = (
    "173.245.48.0/20",
    "103.21.244.0/22",
    "103.22.200.0/22",
    "103.31.4.0/22",
    "141.101.64.0/18",
    "108.162.192.0/18",
    "190.93.240.0/20",
    "188.114.96.0/20",
    "197.234.240.0/22",
    "198.41.128.0/17",
    "162.158.0.0/15",
    "104.16.0.0/13",
    "104.24.0.0/14",
    "172.64.0.0/13",
    "131.0.72.0/22",
)
CLOUDFLARE_IPV6 = (
    "2400:cb00::/32",
    "2606:4700::/32",
    "2803:f800::/32",
    "2405:b500::/32",
    "2405:8100::/32",
    "2a06:98c0::/29",
    "2c0f:f248::/32",
)
# The header the edge Worker sets to the visitor's address (the CF-Connecting-IP Cloudflare gave it), overwriting any
# client copy; behind Cloudflare, Cloud Armor resolves origin.user_ip from it. The backend policy denies a request
# without the origin token before any rule reads origin.user_ip, and only the Worker has the token, so nothing else
# can set it.
VISITOR_IP_HEADER = "X-Visitor-IP"
# The header carrying the origin token; request.headers keys are lower case in the rules language.
ORIGIN_AUTH_HEADER = "x-origin-auth"
# Stands for the origin token in a planned expression; the component puts the secret in its place.
ORIGIN_TOKEN = "{origin_token}"
MAX_SRC_IP_RANGES = 10  # per rule's basic match (compute API: SecurityPolicyRuleMatcherConfig.src_ip_ranges)
MAX_SUBEXPRESSIONS = 5  # per rule's advanced match expression
DEFAULT_RULE_PRIORITY = 2147483647

# Preconfigured WAF rules: our stable rule name -> the rule set name without its CRS version (cve-canary has none).
WAF_RULES = {
    "sqli": "sqli",
    "xss": "xss",
    "lfi": "lfi",
    "rfi": "rfi",
    "rce": "rce",
    "scanner-detection": "scannerdetection",
    "protocol-attack": "protocolattack",
    "session-fixation": "sessionfixation",
    "log4j": "cve-canary",
}
# Priorities never derive from list positions: a rule keeps its number when others are added or removed. Cloud Armor
# evaluates the lowest number first and stops at the first match; gaps leave room for rules added by hand in an
# incident. Deny rules come before the rules that admit (the rate limit, the Cloudflare allow-list), because those
# let a conforming request through without evaluating anything after them.
GEO_BLOCK_PRIORITY = 1000  # edge policy
ORIGIN_AUTH_PRIORITY = 1000  # backend policy: before every other rule
ADMIN_PRIORITY = 1500  # backend policy
WAF_PRIORITIES = {
    "sqli": 2000,
    "xss": 2010,
    "lfi": 2020,
    "rfi": 2030,
    "rce": 2040,
    "scanner-detection": 2050,
    "protocol-attack": 2060,
    "session-fixation": 2070,
    "log4j": 2080,
}
ADMISSION_PRIORITY = 3000  # the edge policy's Cloudflare allow-list; the backend policy's rate limit

RuleName = Literal[
    "sqli",
    "xss",
    "lfi",
    "rfi",
    "rce",
    "scanner-detection",
    "protocol-attack",
    "session-fixation",
    "log4j",
    "rate-limit",
    "geo-block",
]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
# Cloud Armor accepts only these rate-limit intervals (seconds).
RateInterval = Literal[10, 30, 60, 120, 180, 240, 300, 600, 900, 1200, 1800, 2700, 3600]


class BanThresholdArgs(Model):
    """Ban a client only when it exceeds this (higher) rate; without it, exceeding the rate limit bans."""

    requests: int = Field(ge=1)
    interval_sec: RateInterval


class ArmorRateLimitArgs(Model):
    requests_per_interval: int = Field(ge=1)
    interval_sec: RateInterval = 60
    ban_duration_sec: int = Field(600, ge=60, le=86400)
    ban_threshold: BanThresholdArgs | None = None
    exceed_action: Literal["deny(429)", "deny(403)", "deny(404)", "deny(502)"] = "deny(429)"

    @model_validator(mode="after")
    def _ban_above_limit(self) -> ArmorRateLimitArgs:
        ban = self.ban_threshold
        if ban and ban.requests / ban.interval_sec < self.requests_per_interval / self.interval_sec:
            invalid("ban_threshold.requests", "the ban threshold is a lower rate than the rate limit; make it higher")
        return self


class SecurityArgs(Model):
    waf_sensitivity: int = Field(1, ge=1, le=4)  # OWASP paranoia level: 1 has the fewest false positives
    waf_ruleset: Literal["v422", "v33"] = "v422"  # OWASP CRS 4.22 (Google's recommendation) or 3.3
    rate_limit: ArmorRateLimitArgs | None = None  # per client; None: no rate limiting
    adaptive_protection: bool = True  # layer-7 DDoS detection (alerts on Standard, rules on Enterprise)
    json_parsing: bool = True  # inspect JSON bodies field by field: fewer false positives on APIs
    geo_block: list[CountryCode] = []  # ISO 3166-1 alpha-2 codes whose requests get 403
    preview_rules: list[RuleName] = []  # evaluated and logged, not enforced: how a new rule is tried out
    # Admit only this project's Cloudflare zone: Cloudflare's ranges (edge policy) carrying the origin token (backend
    # policy); everything else 403.
    cloudflare_only: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> SecurityArgs:
        if self.cloudflare_only and self.geo_block:
            invalid(
                "geo_block",
                "behind Cloudflare the request's country is the Cloudflare edge's, not the visitor's; "
                "block countries at the Cloudflare edge instead and leave geo_block empty",
            )
        if "geo-block" in self.preview_rules and not self.geo_block:
            invalid("preview_rules", "geo-block is in preview_rules but geo_block lists no countries")
        if "rate-limit" in self.preview_rules and self.rate_limit is None:
            invalid("preview_rules", "rate-limit is in preview_rules but rate_limit is not configured")
        return self


@dataclass(frozen=True)
class ArmorRule:
    """One rule of a policy as a reviewer reads it: a stable name, its priority and what it does."""

    name: str
    priority: int
    action: str
    expression: str | None = None  # may hold ORIGIN_TOKEN, which the component replaces with the secret
    src_ip_ranges: tuple[str, ...] = ()
    preview: bool = False
    rate_limit_key: str | None = None  # set on rate-limited rules: what a client is counted by

    @property
    def needs_token(self) -> bool:
        return ORIGIN_TOKEN in (self.expression or "")


@dataclass(frozen=True)
class AdminAllowList:
    """Admin path prefixes and the only networks that may reach them (the edge's `waf.admin`), repeated at the load
    balancer: a request that reaches it without passing the edge's rule must not get further."""

    paths: tuple[str, ...]
    networks: tuple[str, ...]

    @property
    def subexpressions(self) -> int:
        return len(self.paths) + len(self.networks)


def waf_expression(rule: str, ruleset: str, sensitivity: int) -> str:
    base = WAF_RULES[rule]
    name = base if base == "cve-canary" else f"{base}-{ruleset}-stable"
    return f"evaluatePreconfiguredWaf('{name}', {{'sensitivity': {sensitivity}}})"


def origin_auth_expression(accepted: int = 1) -> str:
    """Matches a request without the header, or with a value that is none of the `accepted` tokens (the current one
    and, while rotating, one more). A missing key would make the lookup an error, hence has() first; `||` is true as
    soon as one side is, so a request without the header matches."""
    header = f"request.headers['{ORIGIN_AUTH_HEADER}']"
    differs = " && ".join(f"{header} != '{ORIGIN_TOKEN}{i or ''}'" for i in range(accepted))
    return f"!has({header}) || " + (f"({differs})" if accepted > 1 else differs)


def admin_expression(admin: AdminAllowList) -> str:
    """An admin path (decoded, any case) from a visitor outside the allowed networks. origin.user_ip is the visitor's
    address behind Cloudflare (VISITOR_IP_HEADER) and the client's own otherwise."""
    paths = " || ".join(f"request.path.urlDecode().lower().startsWith('{p.lower()}')" for p in admin.paths)
    networks = " || ".join(f"inIpRange(origin.user_ip, '{n}')" for n in admin.networks)
    return f"({paths}) && !({networks})"


def _chunks(items: Sequence[str], size: int) -> Iterator[tuple[str, ...]]:
    for start in range(0, len(items), size):
        yield tuple(items[start : start + size])


def cloudflare_groups() -> dict[str, tuple[str, ...]]:
    """Cloudflare's ranges in groups of at most MAX_SRC_IP_RANGES, each named after its lowest range (a name that
    follows the content, not a position)."""
    groups: dict[str, tuple[str, ...]] = {}
    for family, ranges in (("ipv4", CLOUDFLARE_IPV4), ("ipv6", CLOUDFLARE_IPV6)):
        for chunk in _chunks(sorted(ranges, key=ipaddress.ip_network), MAX_SRC_IP_RANGES):
            first = re.sub(r"[.:]+", "-", str(ipaddress.ip_network(chunk[0]).network_address)).strip("-")
            groups[f"cloudflare-{family}-{first}"] = chunk
    return groups


def plan_edge_rules(args: SecurityArgs) -> list[ArmorRule]:
    """The edge policy: which sources may reach the load balancer, default rule last. It matches only addresses and
    countries (the only request attributes an edge policy of an Application Load Balancer takes). Behind Cloudflare:
    Cloudflare's ranges are admitted (an allow rule per group: the edge policy counts nothing, so several are fine) and
    everything else denied. Otherwise: the country blocks, then every source."""
    preview = set(args.preview_rules)
    rules: list[ArmorRule] = []
    for offset, countries in enumerate(_chunks(sorted(set(args.geo_block)), MAX_SUBEXPRESSIONS)):
        rules.append(
            ArmorRule(
                name=f"geo-block-{'-'.join(c.lower() for c in countries)}",
                priority=GEO_BLOCK_PRIORITY + offset,
                action="deny(403)",
                expression=" || ".join(f"origin.region_code == '{c}'" for c in countries),
                preview="geo-block" in preview,
            )
        )
    if args.cloudflare_only:
        for offset, (name, ranges) in enumerate(cloudflare_groups().items()):
            rules.append(
                ArmorRule(name=name, priority=ADMISSION_PRIORITY + offset, action="allow", src_ip_ranges=ranges)
            )
    rules.append(
        ArmorRule(
            name="default-deny" if args.cloudflare_only else "default-allow",
            priority=DEFAULT_RULE_PRIORITY,
            action="deny(403)" if args.cloudflare_only else "allow",
            src_ip_ranges=("*",),
        )
    )
    return rules


def plan_rules(args: SecurityArgs, admin: AdminAllowList | None = None) -> list[ArmorRule]:
    """The backend policy, default rule last: behind Cloudflare the origin token first (a request without it is denied
    before anything admits it or reads the visitor address it claims), the admin allow-list, the WAF, then one rate
    limit over every request that got this far, so a visitor has one budget. Pure, so tests and docs can read the
    policy without an engine."""
    preview = set(args.preview_rules)
    rules: list[ArmorRule] = []
    if args.cloudflare_only:
        rules.append(
            ArmorRule(
                name="origin-auth",
                priority=ORIGIN_AUTH_PRIORITY,
                action="deny(403)",
                expression=origin_auth_expression(),
            )
        )
    if admin:
        rules.append(
            ArmorRule(
                name="admin-allowlist", priority=ADMIN_PRIORITY, action="deny(403)", expression=admin_expression(admin)
            )
        )
    for name in WAF_RULES:
        rules.append(
            ArmorRule(
                name=f"waf-{name}",
                priority=WAF_PRIORITIES[name],
                action="deny(403)",
                expression=waf_expression(name, args.waf_ruleset, args.waf_sensitivity),
                preview=name in preview,
            )
        )
    if args.rate_limit:
        rules.append(
            ArmorRule(
                name="rate-limit",
                priority=ADMISSION_PRIORITY,
                action="rate_based_ban",
                src_ip_ranges=("*",),
                preview="rate-limit" in preview,
                # Behind Cloudflare the source is a Cloudflare edge; count the visitor's address instead.
                rate_limit_key="USER_IP" if args.cloudflare_only else "IP",
            )
        )
    rules.append(ArmorRule(name="default-allow", priority=DEFAULT_RULE_PRIORITY, action="allow", src_ip_ranges=("*",)))
    return rules
