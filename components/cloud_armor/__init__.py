"""Cloud Armor for the load balancer: `rules` plans the two policies' rules from config, `policy` creates them."""

from components.cloud_armor.policy import TOKEN_PATTERN, SecurityPolicy, accepted_tokens
from components.cloud_armor.rules import (
    CLOUDFLARE_IPV4,
    CLOUDFLARE_IPV6,
    DEFAULT_RULE_PRIORITY,
    MAX_SRC_IP_RANGES,
    MAX_SUBEXPRESSIONS,
    WAF_RULES,
    AdminAllowList,
    ArmorRateLimitArgs,
    ArmorRule,
    SecurityArgs,
    cloudflare_groups,
    plan_edge_rules,
    plan_rules,
)

__all__ = [
    "CLOUDFLARE_IPV4",
    "CLOUDFLARE_IPV6",
    "DEFAULT_RULE_PRIORITY",
    "MAX_SRC_IP_RANGES",
    "MAX_SUBEXPRESSIONS",
    "TOKEN_PATTERN",
    "WAF_RULES",
    "AdminAllowList",
    "ArmorRateLimitArgs",
    "ArmorRule",
    "SecurityArgs",
    "SecurityPolicy",
    "accepted_tokens",
    "cloudflare_groups",
    "plan_edge_rules",
    "plan_rules",
]
