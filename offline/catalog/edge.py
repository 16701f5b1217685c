"""Cloudflare edge types: the zone's plan and settings, DNS records, the Worker and how it is attached, rulesets."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pulumi_cloudflare as cloudflare

from offline.catalog.facts import API_CALL, Facts, Inputs, MockContext

CREATED = "2026-01-01T00:00:00Z"
PRICED_STACK_WIDE = "the Cloudflare plan and Workers are priced stack-wide (cloudflare.* prices)"
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # how the engine marks a secret value


def _id(*parts: Any) -> str:
    """A Cloudflare-style 32-hex id, stable for the same inputs."""
    return hashlib.sha256("/".join(str(p) for p in parts).encode()).hexdigest()[:32]


def _plain(value: Any) -> Any:
    """A secret input's value (the summaries below never print secret texts, only names and shapes)."""
    return value["value"] if isinstance(value, dict) and SECRET_SIG in value else value


def _script(c: MockContext, name: str, i: Inputs) -> Inputs:
    content = i.get("content") or ""
    return {
        "id": i.get("scriptName"),
        "etag": hashlib.sha256(content.encode()).hexdigest(),
        "handlers": ["fetch"],
        "hasModules": bool(i.get("mainModule")),
        "createdOn": CREATED,
        "modifiedOn": CREATED,
        "usageModel": "standard",
    }


def _record(c: MockContext, name: str, i: Inputs) -> Inputs:
    return {"id": _id(i.get("zoneId"), i.get("name"), i.get("type")), "proxiable": True, "createdOn": CREATED}


def _setting(i: Inputs) -> str:
    value = i.get("value")
    if isinstance(value, dict) and "strict_transport_security" in value:
        hsts = value["strict_transport_security"]
        flags = [k for k in ("include_subdomains", "preload", "nosniff") if hsts.get(k)]
        state = "on" if hsts.get("enabled") else "OFF"
        return f"HSTS {state}, max-age {hsts.get('max_age')}" + (f", {', '.join(flags)}" if flags else "")
    return f"{i.get('settingId')} = {json.dumps(value)}"


def _worker(i: Inputs) -> str:
    bindings = _plain(i.get("bindings")) or []
    names = (
        "masked (one is a secret, so the engine hides the list)"
        if isinstance(bindings, str)
        else ", ".join(f"{b['name']}{' (secret)' if b['type'] == 'secret_text' else ''}" for b in bindings)
    )
    module = f"module {i.get('mainModule')}" if i.get("mainModule") else "NOT a module (service worker syntax)"
    logs = "observability on" if (i.get("observability") or {}).get("enabled") else "observability OFF"
    return f"{module}, compatibility {i.get('compatibilityDate')}, {logs}, bindings {names}"


def _record_summary(i: Inputs) -> str:
    proxied = "proxied" if i.get("proxied") else "DNS only (NOT proxied)"
    return f"{i.get('name')} {i.get('type')} {_plain(i.get('content'))} {proxied}, ttl {i.get('ttl')}"


def _rule(rule: Inputs) -> str:
    text = f"{rule.get('ref')} {rule.get('action')}"
    limit = rule.get("ratelimit")
    if limit:
        text += f" {limit['requestsPerPeriod']} per {limit['period']} s per IP for {limit['mitigationTimeout']} s"
    return text


def _ruleset(i: Inputs) -> str:
    return f"{i.get('phase')}: " + "; ".join(_rule(r) for r in i.get("rules") or [])


RECORDS = (
    Facts(
        cloudflare.ZoneSubscription,
        outputs=lambda c, name, i: {"id": i.get("zoneId")},
        summary=lambda i: f"{(i.get('ratePlan') or {}).get('id')} plan",
        create_seconds=API_CALL,
        free=PRICED_STACK_WIDE,
    ),
    Facts(
        cloudflare.ZoneSetting,
        outputs=lambda c, name, i: {"id": i.get("settingId"), "editable": True, "modifiedOn": CREATED},
        summary=_setting,
        create_seconds=API_CALL,
        free=PRICED_STACK_WIDE,
    ),
    Facts(
        cloudflare.DnsRecord,
        outputs=_record,
        summary=_record_summary,
        create_seconds=API_CALL,
        free=PRICED_STACK_WIDE,
        label=lambda i: "Cloudflare DNS (proxied)" if i.get("proxied") else "DNS",
    ),
    Facts(
        cloudflare.WorkersScript,
        outputs=_script,
        summary=_worker,
        create_seconds=API_CALL,
        free=PRICED_STACK_WIDE,
        label=lambda i: "Cloudflare Worker",
    ),
    Facts(
        cloudflare.WorkersCustomDomain,
        outputs=lambda c, name, i: {
            "id": _id(i.get("zoneId"), i.get("hostname")),
            "zoneName": ".".join(str(i.get("hostname", "")).split(".")[-2:]),
            "certId": _id("cert", i.get("hostname")),
        },
        summary=lambda i: f"{i.get('hostname')} owned by the Worker",
        create_seconds=API_CALL,
        free=PRICED_STACK_WIDE,
    ),
    Facts(
        cloudflare.WorkersRoute,
        outputs=lambda c, name, i: {"id": _id(i.get("zoneId"), i.get("pattern"))},
        summary=lambda i: f"{i.get('pattern')} runs the Worker",
        create_seconds=API_CALL,
        free=PRICED_STACK_WIDE,
    ),
    Facts(
        cloudflare.Ruleset,
        outputs=lambda c, name, i: {"id": _id(i.get("zoneId"), i.get("phase")), "version": "1", "lastUpdated": CREATED},
        summary=_ruleset,
        create_seconds=API_CALL,
        free=PRICED_STACK_WIDE,
        label=lambda i: "Cloudflare rules",
    ),
)
