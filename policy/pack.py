"""The rules of `policy.rules` as pulumi-policy policies: what `policy/__main__.py` serves to the engine.

A rule that looks at one resource becomes a resource policy, which stops `pulumi up` before the resource is touched.
A rule that needs the rest of the stack (is this service marked public, is it behind the load balancer) becomes a stack
policy, which sees every resource once the preview is complete. The protection the stack asks for comes from the
policy config file of the stack, `policy/config/<stack>.json` (kept equal to the stack file by a test).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Secret,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import _DictProxy, _ListProxy

from policy.rules import RULES, PolicyContext, Rule

PACK_NAME = "platform-guardrails"
PROTECTION_SCHEMA = PolicyConfigSchema(
    properties={"deletionProtection": {"type": "boolean"}, "protect": {"type": "boolean"}},
    required=["deletionProtection", "protect"],
)


def plain(value: Any) -> Any:
    """Props as plain data. Values unknown during preview stay as the engine's sentinel strings instead of raising:
    a rule compares against the safe value, so an unknown safety flag is reported and an unknown name is not."""
    if isinstance(value, _DictProxy | _ListProxy):
        value = value["__target"]
    if isinstance(value, Secret):
        return plain(value.value)
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def context_of(config: Mapping[str, Any], resources: list[tuple[str, Mapping[str, Any]]]) -> PolicyContext:
    return PolicyContext.of(
        resources,
        deletion_protection=bool(config.get("deletionProtection", True)),
        protect=bool(config.get("protect", False)),
    )


def _resource_policy(rule: Rule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        context = context_of(args.get_config(), [])
        for message in rule(args.resource_type, plain(args.props), bool(args.opts.protect), context):
            report(message, None)

    return ResourceValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=PROTECTION_SCHEMA if rule.name == "stateful-resources-protected" else None,
    )


def _stack_policy(rule: Rule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        resources = [(r, plain(r.props)) for r in args.resources]
        context = context_of(args.get_config(), [(r.resource_type, props) for r, props in resources])
        for resource, props in resources:
            for message in rule(resource.resource_type, props, bool(resource.opts.protect), context):
                report(message, resource.urn)

    return StackValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


def policies() -> list[Policy]:
    return [_stack_policy(rule) if rule.needs_stack else _resource_policy(rule) for rule in RULES]
