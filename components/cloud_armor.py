"""The Cloud Armor policy every backend service of the load balancer carries: preconfigured WAF rules, per-client
rate limiting with a ban, adaptive protection, optional country blocks, and an option to accept traffic only from
Cloudflare's edge when Cloudflare fronts the load balancer."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

import pulumi
import pulumi_gcp as gcp
from pydantic import Field, StringConstraints, model_validator

from components.config_types import Model, invalid
from components.context import StackContext

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
# The header Cloudflare sets to the visitor's address; Cloud Armor keys rate limits on it (origin.user_ip).
CLOUDFLARE_CLIENT_IP_HEADER = "CF-Connecting-IP"

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
# incident. Deny rules (countries, attacks) come before the admission rules (rate limit, Cloudflare allow-list),
# because an admission rule lets conforming requests through without evaluating anything after it.
GEO_BLOCK_PRIORITY = 1000
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
ADMISSION_PRIORITY = 3000

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
    cloudflare_only: bool = False  # accept only Cloudflare's edge ranges; everything else gets 403

    @model_validator(mode="after")
    def _consistent(self) -> SecurityArgs:
        if self.cloudflare_only and self.geo_block:
            invalid(
                "geo_block",
                "behind Cloudflare the request's country is the Cloudflare edge's, not the visitor's; "
                "block countries at the Cloudflare edge instead and leave geo_block empty",
            )
        if self.cloudflare_only and "rate-limit" in self.preview_rules:
            invalid(
                "preview_rules",
                "with cloudflare_only the rate-limit rules are what admits Cloudflare's traffic; "
                "in preview they would admit nothing. Remove rate-limit from preview_rules",
            )
        if "geo-block" in self.preview_rules and not self.geo_block:
            invalid("preview_rules", "geo-block is in preview_rules but geo_block lists no countries")
        if "rate-limit" in self.preview_rules and self.rate_limit is None:
            invalid("preview_rules", "rate-limit is in preview_rules but rate_limit is not configured")
        return self


@dataclass(frozen=True)
class ArmorRule:
    """One rule of the policy as a reviewer reads it: a stable name, its priority and what it does."""

    name: str
    priority: int
    action: str
    expression: str | None = None
    src_ip_ranges: tuple[str, ...] = ()
    preview: bool = False
    rate_limit_key: str | None = None  # set on rate-limited rules: what a client is counted by


def waf_expression(rule: str, ruleset: str, sensitivity: int) -> str:
    base = WAF_RULES[rule]
    name = base if base == "cve-canary" else f"{base}-{ruleset}-stable"
    return f"evaluatePreconfiguredWaf('{name}', {{'sensitivity': {sensitivity}}})"


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


def plan_rules(args: SecurityArgs) -> list[ArmorRule]:
    """Every rule of the policy, default rule last. Pure, so tests and docs can read the policy without an engine."""
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
    # Admission: requests that pass the deny rules. Behind Cloudflare only its ranges are admitted (one rule per group
    # of ranges, rate limited on the visitor's address); otherwise every source is.
    sources = cloudflare_groups() if args.cloudflare_only else {"rate-limit": ("*",)}
    if args.rate_limit or args.cloudflare_only:
        for offset, (name, ranges) in enumerate(sources.items()):
            rules.append(
                ArmorRule(
                    name=name,
                    priority=ADMISSION_PRIORITY + offset,
                    action="rate_based_ban" if args.rate_limit else "allow",
                    src_ip_ranges=ranges,
                    preview="rate-limit" in preview,
                    # Behind Cloudflare the source is a Cloudflare edge; count the visitor's address instead.
                    rate_limit_key=("USER_IP" if args.cloudflare_only else "IP") if args.rate_limit else None,
                )
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


class SecurityPolicy(pulumi.ComponentResource):
    """A Cloud Armor backend security policy; attach `self_link` to every backend service of the load balancer."""

    self_link: pulumi.Output[str]
    policy_name: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: SecurityArgs,
        *,
        ctx: StackContext,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:components:SecurityPolicy", name, None, ctx.component(opts))
        self.rules = plan_rules(args)
        self.policy = gcp.compute.SecurityPolicy(
            f"{name}-policy",
            name=ctx.naming.physical("armor"),
            description="WAF, rate limiting and adaptive protection for the load balancer's backends",
            type="CLOUD_ARMOR",
            labels=ctx.labels("cloud-armor"),
            rules=[_rule_args(rule, args.rate_limit) for rule in self.rules],
            adaptive_protection_config=gcp.compute.SecurityPolicyAdaptiveProtectionConfigArgs(
                layer7_ddos_defense_config=gcp.compute.SecurityPolicyAdaptiveProtectionConfigLayer7DdosDefenseConfigArgs(
                    enable=args.adaptive_protection,
                    rule_visibility="STANDARD",
                ),
            ),
            advanced_options_config=gcp.compute.SecurityPolicyAdvancedOptionsConfigArgs(
                json_parsing="STANDARD" if args.json_parsing else "DISABLED",
                log_level="NORMAL",
                user_ip_request_headers=[CLOUDFLARE_CLIENT_IP_HEADER] if args.cloudflare_only else None,
            ),
            opts=ctx.after(self, "compute.googleapis.com"),
        )
        self.self_link = self.policy.self_link
        self.policy_name = self.policy.name
        self.register_outputs({"self_link": self.self_link, "name": self.policy_name, "rules": len(self.rules)})


def _rule_args(rule: ArmorRule, rate_limit: ArmorRateLimitArgs | None) -> gcp.compute.SecurityPolicyRuleArgs:
    if rule.expression:
        match = gcp.compute.SecurityPolicyRuleMatchArgs(
            expr=gcp.compute.SecurityPolicyRuleMatchExprArgs(expression=rule.expression)
        )
    else:
        match = gcp.compute.SecurityPolicyRuleMatchArgs(
            versioned_expr="SRC_IPS_V1",
            config=gcp.compute.SecurityPolicyRuleMatchConfigArgs(src_ip_ranges=list(rule.src_ip_ranges)),
        )
    return gcp.compute.SecurityPolicyRuleArgs(
        description=rule.name,
        priority=rule.priority,
        action=rule.action,
        match=match,
        preview=rule.preview,
        rate_limit_options=_rate_limit_options(rate_limit, rule.rate_limit_key)
        if rule.rate_limit_key and rate_limit
        else None,
    )


def _rate_limit_options(rate_limit: ArmorRateLimitArgs, key: str) -> gcp.compute.SecurityPolicyRuleRateLimitOptionsArgs:
    ban = rate_limit.ban_threshold
    return gcp.compute.SecurityPolicyRuleRateLimitOptionsArgs(
        conform_action="allow",
        exceed_action=rate_limit.exceed_action,
        enforce_on_key=key,  # USER_IP resolves from CF-Connecting-IP (advanced_options_config)
        rate_limit_threshold=gcp.compute.SecurityPolicyRuleRateLimitOptionsRateLimitThresholdArgs(
            count=rate_limit.requests_per_interval, interval_sec=rate_limit.interval_sec
        ),
        ban_duration_sec=rate_limit.ban_duration_sec,
        ban_threshold=gcp.compute.SecurityPolicyRuleRateLimitOptionsBanThresholdArgs(
            count=ban.requests, interval_sec=ban.interval_sec
        )
        if ban
        else None,
    )
