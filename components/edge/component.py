"""The Cloudflare edge in front of the platform: hardened zone settings, proxied DNS, the geo-steering Worker
(`edge/worker.js`) and one ruleset per phase for WAF custom rules, rate limiting, caching and redirects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pulumi
import pulumi_cloudflare as cloudflare

from components.edge.config import EdgeArgs, HstsArgs
from components.edge.rules import PHASES, Phase, phase_rules
from components.naming import Naming

WORKER_SCRIPT = Path(__file__).resolve().parent.parent.parent / "edge" / "worker.js"
MAIN_MODULE = "worker.js"  # the upload's module name; without main_module the API takes it for a service worker
COMPATIBILITY_DATE = "2026-04-01"  # the date the workerd tests run with (edge/test/helpers.mjs)
REDIRECT_ONLY_TARGET = "100::"  # RFC 6666 discard prefix: a proxied record that never reaches an origin
# DNS-only validation records (Certificate Manager's CNAMEs) take a real TTL; proxied ones only 1 (automatic).
VALIDATION_TTL = 300


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
        self.script = self._script(naming, origin_token, service_urls or {})
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

    def _script(
        self, naming: Naming, origin_token: pulumi.Input[str], urls: Mapping[str, pulumi.Input[str]]
    ) -> cloudflare.WorkersScript:
        worker = self._args.worker
        return cloudflare.WorkersScript(
            f"{self._name}-worker",
            account_id=self._args.account_id,
            script_name=naming.physical("edge"),
            content=WORKER_SCRIPT.read_text(),
            main_module=MAIN_MODULE,
            compatibility_date=COMPATIBILITY_DATE,
            bindings=self._bindings(self._args, origin_token, urls),
            observability=cloudflare.WorkersScriptObservabilityArgs(
                enabled=True,
                head_sampling_rate=worker.logs_sampling_rate,
                logs=cloudflare.WorkersScriptObservabilityLogsArgs(
                    enabled=True, invocation_logs=True, head_sampling_rate=worker.logs_sampling_rate
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    @staticmethod
    def _bindings(
        args: EdgeArgs, origin_token: pulumi.Input[str], service_urls: Mapping[str, pulumi.Input[str]]
    ) -> list[cloudflare.WorkersScriptBindingArgs]:
        worker, passthrough = args.worker, args.passthrough_hosts()
        named = {service: service_urls[service] for service in worker.service_origins().values()}
        plain: dict[str, pulumi.Input[str]] = {
            "ORIGINS": pulumi.Output.all(**named).apply(lambda urls: worker.origins_json(urls, passthrough))
            if named
            else worker.origins_json(passthrough=passthrough),
            "MAINTENANCE": "true" if worker.maintenance else "false",
            "MAINTENANCE_RETRY_AFTER": str(worker.maintenance_retry_after),
            "ORIGIN_TIMEOUT_MS": str(worker.origin_timeout_ms),
            # The zone's security_header setting replaces a Worker's HSTS header inside the zone; both come from
            # edge.hsts, so the header says the same whichever of the two sets it.
            "HSTS": args.hsts.header(),
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

    def _rulesets(self, naming: Naming) -> dict[Phase, cloudflare.Ruleset]:
        """Exactly one entry-point ruleset per phase: a second one for the same (zone, phase) would be rejected.
        A phase's ruleset made outside this program (`existing_rulesets`) is adopted with `import_`: the next `up`
        reads it and replaces its rules with these."""
        a = self._args
        return {
            phase: cloudflare.Ruleset(
                f"{self._name}-{PHASES[phase].replace('_', '-')}",
                zone_id=self._args.zone_id,
                kind="zone",
                phase=phase,
                name=naming.physical("edge", PHASES[phase]),
                description=f"Platform edge {PHASES[phase].replace('_', ' ')} (managed by Pulumi)",
                rules=rules,
                opts=pulumi.ResourceOptions(parent=self, import_=self._import_id(phase)),
            )
            for phase, rules in phase_rules(a.waf, a.rate_limits, a.cache, a.redirects).items()
            if rules
        }

    def _import_id(self, phase: Phase) -> str | None:
        """The id Cloudflare's rulesets import under: zones/<zone id>/<ruleset id> (pulumi_cloudflare 6)."""
        existing = self._args.existing_rulesets.get(phase)
        return f"zones/{self._args.zone_id}/{existing}" if existing else None


def _single_cname(domain: str, records: Sequence[Mapping[str, str]]) -> Mapping[str, str]:
    """Certificate Manager asks for exactly one CNAME per DNS authorization; anything else is not ours to publish."""
    if len(records) != 1 or records[0].get("type") != "CNAME":
        raise ValueError(f"expected one CNAME to authorize {domain}, got {list(records)!r}")
    return records[0]
