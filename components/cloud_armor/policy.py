"""The Cloud Armor component: the two policies and their rules as separate resources (components/cloud_armor)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pulumi
import pulumi_gcp as gcp

from components.cloud_armor.rules import (
    ORIGIN_TOKEN,
    VISITOR_IP_HEADER,
    AdminAllowList,
    ArmorRateLimitArgs,
    ArmorRule,
    SecurityArgs,
    origin_auth_expression,
    plan_edge_rules,
    plan_rules,
)
from components.context import StackContext

# What a token may contain: it goes into a rules-language string literal and an HTTP header.
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9+/=_.~-]{16,256}$")


def accepted_tokens(current: str, accepted: str | None = None) -> list[pulumi.Output[str]]:
    """The origin tokens the backend policy accepts, as secrets: the Worker's current one and, while rotating, one more
    (once, if it is the same). Each goes into a rules-language string literal, so anything that could end the literal
    stops the program; the message names the key, never the value."""
    for key, value in (("origin_token", current), ("origin_token_accepted", accepted)):
        if value is not None and not TOKEN_PATTERN.match(value):
            raise pulumi.RunError(
                f"platform:{key} must be 16-256 characters of A-Z a-z 0-9 + / = _ . ~ - (e.g. `openssl rand -base64 "
                f"48`): the load balancer compares it in a Cloud Armor rule; set it with `pulumi config set --secret "
                f"platform:{key}`"
            )
    return [pulumi.Output.secret(token) for token in dict.fromkeys(t for t in (current, accepted) if t)]


class SecurityPolicy(pulumi.ComponentResource):
    """The load balancer's Cloud Armor: attach `self_link` as the backend policy of every backend service, and
    `edge_self_link` as the edge policy of every backend service and of the backend bucket.

    Both policies' rules are separate `SecurityPolicyRule` resources, so that only the rule holding the origin token is
    a secret (an inline rule list with one secret in it is hidden from every preview as a whole), and each link
    resolves once its policy's rules exist, so no backend is attached to a policy still admitting everyone.
    `origin_tokens` are the tokens the backend policy accepts (`accepted_tokens`); required with `cloudflare_only`.
    """

    self_link: pulumi.Output[str]
    edge_self_link: pulumi.Output[str]
    policy_name: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: SecurityArgs,
        *,
        ctx: StackContext,
        origin_tokens: Sequence[pulumi.Output[str]] = (),
        admin: AdminAllowList | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:components:SecurityPolicy", name, None, ctx.component(opts))
        self._name = name
        self.rules = plan_rules(args, admin)
        self.edge_rules = plan_edge_rules(args)
        if args.cloudflare_only and not origin_tokens:
            raise ValueError("cloudflare_only needs the origin token the backend policy requires")
        compute = ctx.after(self, "compute.googleapis.com")
        self.policy = gcp.compute.SecurityPolicy(
            f"{name}-policy",
            name=ctx.naming.physical("armor"),
            description="Origin token, admin allow-list, WAF, per-visitor rate limiting and adaptive protection for "
            "the backends",
            type="CLOUD_ARMOR",
            labels=ctx.labels("cloud-armor"),
            adaptive_protection_config=gcp.compute.SecurityPolicyAdaptiveProtectionConfigArgs(
                layer7_ddos_defense_config=gcp.compute.SecurityPolicyAdaptiveProtectionConfigLayer7DdosDefenseConfigArgs(
                    enable=args.adaptive_protection,
                    rule_visibility="STANDARD",
                ),
            ),
            advanced_options_config=gcp.compute.SecurityPolicyAdvancedOptionsConfigArgs(
                json_parsing="STANDARD" if args.json_parsing else "DISABLED",
                log_level="NORMAL",
                user_ip_request_headers=[VISITOR_IP_HEADER] if args.cloudflare_only else None,
            ),
            opts=compute,
        )
        self.edge_policy = gcp.compute.SecurityPolicy(
            f"{name}-edge",
            name=ctx.naming.physical("armor-edge"),
            description="Which sources may reach the load balancer: evaluated at Google's edge, before the CDN cache",
            type="CLOUD_ARMOR_EDGE",
            labels=ctx.labels("cloud-armor"),
            opts=compute,
        )
        self.policy_rules = self._rules("policy", self.policy, self.rules, origin_tokens, args.rate_limit)
        self.edge_policy_rules = self._rules("edge", self.edge_policy, self.edge_rules, origin_tokens, None)
        self.self_link = _once_ruled(self.policy, self.policy_rules)
        self.edge_self_link = _once_ruled(self.edge_policy, self.edge_policy_rules)
        self.policy_name = self.policy.name
        self.register_outputs(
            {"self_link": self.self_link, "edge_self_link": self.edge_self_link, "name": self.policy_name}
        )

    def _rules(
        self,
        prefix: str,
        policy: gcp.compute.SecurityPolicy,
        rules: Sequence[ArmorRule],
        tokens: Sequence[pulumi.Output[str]],
        rate_limit: ArmorRateLimitArgs | None,
    ) -> dict[str, gcp.compute.SecurityPolicyRule]:
        return {
            rule.name: gcp.compute.SecurityPolicyRule(
                f"{self._name}-{prefix}-{rule.name}",
                security_policy=policy.name,
                description=rule.name,
                priority=rule.priority,
                action=rule.action,
                preview=rule.preview,
                match=_match(rule, tokens),
                rate_limit_options=_rate_limit_options(rate_limit, rule.rate_limit_key)
                if rule.rate_limit_key and rate_limit
                else None,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for rule in rules
        }


def _once_ruled(
    policy: gcp.compute.SecurityPolicy, rules: dict[str, gcp.compute.SecurityPolicyRule]
) -> pulumi.Output[str]:
    """The policy's self link, resolved once every rule of it exists."""
    return pulumi.Output.all(policy.self_link, *(r.id for r in rules.values())).apply(lambda values: str(values[0]))


def _with_tokens(tokens: Sequence[pulumi.Output[str]]) -> pulumi.Output[str]:
    """The origin-auth expression with the secret tokens in place of ORIGIN_TOKEN: a secret, never plain text."""

    def fill(values: list[str]) -> str:
        text = origin_auth_expression(len(values))
        for index, value in enumerate(values):
            text = text.replace(f"'{ORIGIN_TOKEN}{index or ''}'", f"'{value}'")
        return text

    return pulumi.Output.secret(pulumi.Output.all(*tokens).apply(fill))


def _match(rule: ArmorRule, tokens: Sequence[pulumi.Output[str]] = ()) -> gcp.compute.SecurityPolicyRuleMatchArgs:
    if rule.expression:
        expression = _with_tokens(tokens) if rule.needs_token else rule.expression
        return gcp.compute.SecurityPolicyRuleMatchArgs(
            expr=gcp.compute.SecurityPolicyRuleMatchExprArgs(expression=expression)
        )
    return gcp.compute.SecurityPolicyRuleMatchArgs(
        versioned_expr="SRC_IPS_V1",
        config=gcp.compute.SecurityPolicyRuleMatchConfigArgs(src_ip_ranges=list(rule.src_ip_ranges)),
    )


def _rate_limit_options(rate_limit: ArmorRateLimitArgs, key: str) -> gcp.compute.SecurityPolicyRuleRateLimitOptionsArgs:
    ban = rate_limit.ban_threshold
    return gcp.compute.SecurityPolicyRuleRateLimitOptionsArgs(
        conform_action="allow",
        exceed_action=rate_limit.exceed_action,
        enforce_on_key=key,  # USER_IP resolves from VISITOR_IP_HEADER (advanced_options_config)
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
