"""The global external Application Load Balancer in front of the Cloud Run services: one reserved anycast IP, HTTPS
with Google-managed certificates and a TLS 1.2+ policy, host and path routing from config, HTTP redirected to HTTPS,
request logging, Cloud Armor on every backend service and, where config asks, Cloud CDN for static assets."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import pulumi
import pulumi_gcp as gcp
from pydantic import AfterValidator, Field, StringConstraints, model_validator

from components.cloud_armor import SecurityArgs
from components.config_types import Model, invalid
from components.naming import Naming
from components.project_services import ProjectServices

# A target HTTPS proxy takes at most 15 certificates directly; a Certificate Manager map holds many more.
MAX_CERTIFICATES = 15
CERTIFICATE_MANAGER = "certificatemanager.googleapis.com"
CDN = "cdn"  # the routing target that stands for the static-assets backend bucket

Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,30}$")]
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def _hostname(value: str) -> str:
    labels = value.split(".")
    if len(value) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise ValueError(
            f"'{value}' is not a hostname; write it in lowercase like api.example.com "
            "(Google-managed certificates do not cover wildcards)"
        )
    if not re.match(r"^[a-z]{2,63}$", labels[-1]):
        raise ValueError(f"'{value}' does not end in a top-level domain like .com")
    return value


def _path(value: str) -> str:
    # URL map path rules: start with '/', and '*' only as the last character, right after a '/'.
    if not value.startswith("/") or "*" in value.rstrip("*") or value.count("*") > 1:
        raise ValueError(f"'{value}' is not a URL map path; start it with '/' and use '*' only at the end, like /api/*")
    if value.endswith("*") and not value.endswith("/*"):
        raise ValueError(f"'{value}' puts '*' after a partial segment; write it like /api/*")
    if any(c in value for c in "?#") or " " in value:
        raise ValueError(f"'{value}' is a path only; drop the query or fragment")
    return value


Hostname = Annotated[str, AfterValidator(_hostname)]
UrlPath = Annotated[str, AfterValidator(_path)]


class RouteArgs(Model):
    """Send requests for `hosts` (all domains when empty) and `paths` (every path when empty) to `service`."""

    hosts: list[Hostname] = []
    paths: list[UrlPath] = []
    service: Key

    @model_validator(mode="after")
    def _matches_something(self) -> RouteArgs:
        if not self.hosts and not self.paths:
            invalid("hosts", "a route needs hosts, paths or both (the default_service already takes everything else)")
        return self


class SslPolicyArgs(Model):
    profile: Literal["MODERN", "RESTRICTED"] = "RESTRICTED"
    min_tls_version: Literal["TLS_1_2", "TLS_1_3"] = "TLS_1_2"


class CdnArgs(Model):
    """Cloud CDN in front of a private bucket of static assets, served on `paths` of every domain."""

    enabled: bool = False
    paths: list[UrlPath] = ["/static/*"]
    location: Annotated[str, StringConstraints(pattern=r"^(EU|US|ASIA|[a-z]+-[a-z]+[0-9])$")] = "EU"
    cache_mode: Literal["CACHE_ALL_STATIC", "USE_ORIGIN_HEADERS", "FORCE_CACHE_ALL"] = "CACHE_ALL_STATIC"
    default_ttl: int = Field(3600, ge=0, le=31_536_000)
    max_ttl: int = Field(86_400, ge=0, le=31_536_000)
    client_ttl: int = Field(3600, ge=0, le=31_536_000)
    serve_while_stale: int = Field(86_400, ge=0, le=604_800)
    negative_caching: bool = True

    @model_validator(mode="after")
    def _ttls(self) -> CdnArgs:
        if self.enabled and not self.paths:
            invalid("paths", "list the URL paths served from the bucket, like /static/*")
        if self.cache_mode == "CACHE_ALL_STATIC":
            for key in ("default_ttl", "client_ttl"):
                if getattr(self, key) > self.max_ttl:
                    invalid(key, f"{key} ({getattr(self, key)}) is above max_ttl ({self.max_ttl})")
        return self


class LoadBalancerArgs(Model):
    enabled: bool = False  # a forwarding rule and Cloud Armor cost ~18 USD a month; dev can do without
    domains: list[Hostname] = []  # one Google-managed certificate each
    # How Google proves control of the domains before issuing: `load_balancer` needs them to resolve to this load
    # balancer; `dns` (Certificate Manager) needs a CNAME per domain and works behind a proxy such as Cloudflare.
    certificate_authorization: Literal["load_balancer", "dns"] = "load_balancer"
    services: list[Key] = []  # the Cloud Run services behind the load balancer, one serverless NEG each
    default_service: Key | None = None  # takes every request no route matches
    routes: dict[Key, RouteArgs] = {}
    ssl_policy: SslPolicyArgs = SslPolicyArgs()
    log_sample_rate: float = Field(1.0, gt=0, le=1)  # share of requests logged by the backend services
    cdn: CdnArgs = CdnArgs()
    security: SecurityArgs = SecurityArgs()  # the Cloud Armor policy (components/cloud_armor.py)

    @model_validator(mode="after")
    def _consistent(self) -> LoadBalancerArgs:
        if not self.enabled:
            return self
        if not self.domains:
            invalid("domains", "list at least one domain the load balancer serves (it gets a managed certificate)")
        if self.certificate_authorization == "load_balancer" and len(self.domains) > MAX_CERTIFICATES:
            invalid(
                "domains",
                f"at most {MAX_CERTIFICATES} domains with certificate_authorization: load_balancer "
                "(one certificate each on the HTTPS proxy); use certificate_authorization: dns for more",
            )
        if self.security.cloudflare_only and self.certificate_authorization == "load_balancer":
            invalid(
                "certificate_authorization",
                "behind Cloudflare the domains resolve to Cloudflare, so load balancer authorization never completes; "
                "use certificate_authorization: dns (and publish the CNAME records it asks for)",
            )
        for key, values in (("domains", self.domains), ("services", self.services)):
            duplicates = sorted({v for v in values if values.count(v) > 1})
            if duplicates:
                invalid(key, f"{', '.join(duplicates)} listed twice")
        if not self.services:
            invalid("services", "list the Cloud Run services the load balancer sends traffic to")
        if self.default_service is None:
            invalid("default_service", f"name the service for requests no route matches (one of: {self._known()})")
        if self.default_service not in self.services:
            invalid("default_service", f"'{self.default_service}' is not one of services: {self._known()}")
        for name, route in self.routes.items():
            if route.service not in self.services:
                invalid(f"routes.{name}.service", f"'{route.service}' is not one of services: {self._known()}")
            unknown = [h for h in route.hosts if h not in self.domains]
            if unknown:
                invalid(
                    f"routes.{name}.hosts",
                    f"{', '.join(unknown)} not in domains; add it there so the certificate covers it",
                )
        for host in self.domains:
            host_only = [n for n, r in self.routes.items() if host in r.hosts and not r.paths]
            if len(host_only) > 1:
                invalid(f"routes.{host_only[1]}.hosts", f"{host} already goes to route {host_only[0]} as a whole")
            seen: dict[str, str] = {}
            for name, paths in _path_rules_for(self, host):
                for path in paths:
                    if path in seen:
                        where = f"routes.{name}.paths" if name != CDN else "cdn.paths"
                        invalid(where, f"{path} on {host} is already routed by {seen[path]}")
                    seen[path] = name
        return self

    def _known(self) -> str:
        return ", ".join(self.services) or "(none)"


@dataclass(frozen=True)
class ServerlessBackend:
    """A Cloud Run service to put behind the load balancer."""

    cloud_run_service_name: pulumi.Input[str]
    region: str


@dataclass(frozen=True)
class PathMatcher:
    """The routing of a group of hosts: a default target and (paths, target) rules; targets are service names or
    CDN. Hosts that share the same routes share one matcher, named after those routes."""

    name: str
    hosts: tuple[str, ...]
    default: str
    rules: tuple[tuple[tuple[str, ...], str], ...]


def _path_rules_for(args: LoadBalancerArgs, host: str) -> list[tuple[str, tuple[str, ...]]]:
    """(route name, paths) for `host`: its own routes with paths, routes for every host, then the CDN paths."""
    rules = [(n, tuple(r.paths)) for n, r in args.routes.items() if r.paths and host in r.hosts]
    rules += [(n, tuple(r.paths)) for n, r in args.routes.items() if r.paths and not r.hosts]
    if args.cdn.enabled:
        rules.append((CDN, tuple(args.cdn.paths)))
    return rules


def plan_routing(args: LoadBalancerArgs) -> list[PathMatcher]:
    """The URL map as plain data, one matcher per distinct set of host-specific routes."""
    assert args.default_service is not None  # checked by LoadBalancerArgs when enabled
    groups: dict[tuple[str, ...], list[str]] = {}
    for host in args.domains:
        own = tuple(sorted(n for n, r in args.routes.items() if host in r.hosts))
        groups.setdefault(own, []).append(host)
    matchers = []
    for own, hosts in groups.items():
        whole = [args.routes[n].service for n in own if not args.routes[n].paths]
        rules = tuple(
            (paths, CDN if name == CDN else args.routes[name].service)
            for name, paths in _path_rules_for(args, hosts[0])
        )
        matchers.append(
            PathMatcher(
                name=_matcher_name(own),
                hosts=tuple(sorted(hosts)),
                default=whole[0] if whole else args.default_service,
                rules=rules,
            )
        )
    return matchers


def _matcher_name(routes: tuple[str, ...]) -> str:
    """`default`, or `routes-<names>` (cut and given a digest beyond the API's 63 characters)."""
    if not routes:
        return "default"
    name = f"routes-{'-'.join(routes)}"
    return name if len(name) <= 63 else f"{name[:56]}-{hashlib.sha256(name.encode()).hexdigest()[:6]}"


def certificate_name(naming: Naming, domain: str) -> str:
    """A physical name per domain; the digest keeps names distinct where the slugs collide (a-b.c vs a.b-c)."""
    return naming.physical("cert", domain.replace(".", "-"), hashlib.sha256(domain.encode()).hexdigest()[:6])


class LoadBalancer(pulumi.ComponentResource):
    """Global external Application Load Balancer (EXTERNAL_MANAGED) for serverless backends, each backend service
    carrying the Cloud Armor policy `security_policy` (a self link).

    Certificates: one Google-managed certificate per domain, keyed by the domain (classic certificates on the proxy,
    or Certificate Manager certificates in a map when authorized by DNS). Adding a domain creates a certificate;
    removing one drops only that certificate, so a domain change never replaces the certificate the other domains
    are served with, and never leaves them on a certificate that is still provisioning.
    """

    ip_address: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: LoadBalancerArgs,
        *,
        backends: Mapping[str, ServerlessBackend],
        security_policy: pulumi.Input[str],
        naming: Naming,
        apis: ProjectServices,
        deletion_protection: bool,
        protect: bool,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:components:LoadBalancer", name, None, opts)
        missing = [s for s in args.services if s not in backends]
        if missing:
            raise ValueError(f"LoadBalancer '{name}' has no backend for service(s): {', '.join(missing)}")
        if args.default_service is None:
            raise ValueError(f"LoadBalancer '{name}' needs args.default_service (enabled: true validates it)")
        self._name = name
        self._naming = naming
        compute = pulumi.ResourceOptions(parent=self, depends_on=apis.require("compute.googleapis.com"))
        self._compute = compute
        child = pulumi.ResourceOptions(parent=self)
        labels = naming.labels_for("load-balancer")

        self.address = gcp.compute.GlobalAddress(
            f"{name}-ip",
            name=naming.physical("lb-ip"),
            address_type="EXTERNAL",
            ip_version="IPV4",
            labels=labels,
            opts=compute,
        )
        self.negs = {
            service: gcp.compute.RegionNetworkEndpointGroup(
                f"{name}-{service}-neg",
                name=naming.physical(service, "neg"),
                region=backends[service].region,
                network_endpoint_type="SERVERLESS",
                cloud_run=gcp.compute.RegionNetworkEndpointGroupCloudRunArgs(
                    service=backends[service].cloud_run_service_name
                ),
                opts=compute,
            )
            for service in args.services
        }
        self.backend_services = {
            service: gcp.compute.BackendService(
                f"{name}-{service}",
                name=naming.physical(service, "backend"),
                description=f"Cloud Run service {service}, behind Cloud Armor",
                load_balancing_scheme="EXTERNAL_MANAGED",
                protocol="HTTPS",
                backends=[gcp.compute.BackendServiceBackendArgs(group=neg.id)],
                security_policy=security_policy,
                log_config=gcp.compute.BackendServiceLogConfigArgs(enable=True, sample_rate=args.log_sample_rate),
                opts=child,
            )
            for service, neg in self.negs.items()
        }
        self.cdn_bucket: gcp.storage.Bucket | None = None
        self.backend_bucket: gcp.compute.BackendBucket | None = None
        if args.cdn.enabled:
            self.cdn_bucket, self.backend_bucket = self._cdn(
                args, apis, deletion_protection=deletion_protection, protect=protect
            )
        matchers = plan_routing(args)
        self.url_map = gcp.compute.URLMap(
            f"{name}-urls",
            name=naming.physical("urls"),
            description="Host and path routing to the Cloud Run services",
            default_service=self.backend_services[args.default_service].id,
            host_rules=[gcp.compute.URLMapHostRuleArgs(hosts=list(m.hosts), path_matcher=m.name) for m in matchers],
            path_matchers=[self._path_matcher(m) for m in matchers],
            opts=child,
        )
        certificates: dict[str, gcp.compute.ManagedSslCertificate] = {}
        certificate_map: pulumi.Output[str] | None = None
        # Per domain, the DNS records Certificate Manager asks for (certificate_authorization: dns), for the edge's DNS:
        # `dns_authorizations` keeps one Output per domain (so a consumer can create one record each), and
        # `dns_authorization_records` is the same as a single Output.
        self.dns_authorizations: dict[str, pulumi.Output[list[dict[str, str]]]] = {}
        if args.certificate_authorization == "dns":
            certificate_map, self.dns_authorizations = self._certificate_map(args, apis)
        else:
            certificates = self._managed_certificates(args)
        self.ssl_policy = gcp.compute.SSLPolicy(
            f"{name}-tls",
            name=naming.physical("tls"),
            description=f"{args.ssl_policy.min_tls_version} or newer, {args.ssl_policy.profile} cipher profile",
            profile=args.ssl_policy.profile,
            min_tls_version=args.ssl_policy.min_tls_version,
            opts=compute,
        )
        self.https_proxy = gcp.compute.TargetHttpsProxy(
            f"{name}-https",
            name=naming.physical("https"),
            url_map=self.url_map.id,
            ssl_certificates=[c.id for c in certificates.values()] or None,
            certificate_map=certificate_map,
            ssl_policy=self.ssl_policy.id,
            opts=child,
        )
        self.redirect_map = gcp.compute.URLMap(
            f"{name}-redirect",
            name=naming.physical("http-redirect"),
            description="Plain HTTP: permanent redirect to HTTPS",
            default_url_redirect=gcp.compute.URLMapDefaultUrlRedirectArgs(
                https_redirect=True, redirect_response_code="MOVED_PERMANENTLY_DEFAULT", strip_query=False
            ),
            opts=compute,
        )
        self.http_proxy = gcp.compute.TargetHttpProxy(
            f"{name}-http", name=naming.physical("http"), url_map=self.redirect_map.id, opts=child
        )
        self.forwarding_rules = {
            port: gcp.compute.GlobalForwardingRule(
                f"{name}-{port}",
                name=naming.physical("lb", str(port)),
                ip_address=self.address.id,
                ip_protocol="TCP",
                port_range=str(port),
                load_balancing_scheme="EXTERNAL_MANAGED",
                target=target.id,
                labels=labels,
                opts=child,
            )
            for port, target in ((443, self.https_proxy), (80, self.http_proxy))
        }

        self.dns_authorization_records: pulumi.Output[dict[str, Any]] = (
            pulumi.Output.all(**self.dns_authorizations) if self.dns_authorizations else pulumi.Output.from_input({})
        )
        self.ip_address = self.address.address
        self.domains = list(args.domains)
        self.register_outputs(
            {
                "ip_address": self.ip_address,
                "domains": self.domains,
                "dns_authorization_records": self.dns_authorization_records,
            }
        )

    def _managed_certificates(self, args: LoadBalancerArgs) -> dict[str, gcp.compute.ManagedSslCertificate]:
        """Classic Google-managed certificates, authorized by the domains resolving to this load balancer."""
        return {
            domain: gcp.compute.ManagedSslCertificate(
                f"{self._name}-cert-{domain}",
                name=certificate_name(self._naming, domain),
                managed=gcp.compute.ManagedSslCertificateManagedArgs(domains=[domain]),
                opts=self._compute,
            )
            for domain in args.domains
        }

    def _certificate_map(
        self, args: LoadBalancerArgs, apis: ProjectServices
    ) -> tuple[pulumi.Output[str], dict[str, pulumi.Output[list[dict[str, str]]]]]:
        """Certificate Manager: per domain a DNS authorization, a Google-managed certificate and a map entry.
        Returns the map's reference for the proxy and, per domain, the CNAME records to publish."""
        opts = pulumi.ResourceOptions(parent=self, depends_on=apis.require(CERTIFICATE_MANAGER))
        labels = self._naming.labels_for("load-balancer")
        certificate_map = gcp.certificatemanager.CertificateMap(
            f"{self._name}-certs",
            name=self._naming.physical("certs"),
            description="Certificates of the load balancer's domains, chosen by SNI",
            labels=labels,
            opts=opts,
        )
        records: dict[str, pulumi.Output[list[dict[str, str]]]] = {}
        for domain in args.domains:
            physical = certificate_name(self._naming, domain)
            authorization = gcp.certificatemanager.DnsAuthorization(
                f"{self._name}-dns-auth-{domain}",
                name=physical,
                domain=domain,
                location="global",
                labels=labels,
                opts=opts,
            )
            certificate = gcp.certificatemanager.Certificate(
                f"{self._name}-cert-{domain}",
                name=physical,
                location="global",
                scope="DEFAULT",
                managed=gcp.certificatemanager.CertificateManagedArgs(
                    domains=[domain], dns_authorizations=[authorization.id]
                ),
                labels=labels,
                opts=opts,
            )
            gcp.certificatemanager.CertificateMapEntry(
                f"{self._name}-cert-entry-{domain}",
                name=physical,
                map=certificate_map.name,
                hostname=domain,
                certificates=[certificate.id],
                labels=labels,
                opts=pulumi.ResourceOptions(parent=self),
            )
            records[domain] = authorization.dns_resource_records.apply(
                lambda rs: [{"name": r.name or "", "type": r.type or "", "data": r.data or ""} for r in rs or []]
            )
        reference = certificate_map.id.apply(lambda map_id: f"//{CERTIFICATE_MANAGER}/{map_id}")
        return reference, records

    def _target(self, target: str) -> pulumi.Output[str]:
        if target == CDN and self.backend_bucket is not None:
            return self.backend_bucket.id
        return self.backend_services[target].id

    def _path_matcher(self, matcher: PathMatcher) -> gcp.compute.URLMapPathMatcherArgs:
        return gcp.compute.URLMapPathMatcherArgs(
            name=matcher.name,
            default_service=self._target(matcher.default),
            path_rules=[
                gcp.compute.URLMapPathMatcherPathRuleArgs(paths=list(paths), service=self._target(target))
                for paths, target in matcher.rules
            ],
        )

    def _cdn(
        self, args: LoadBalancerArgs, apis: ProjectServices, *, deletion_protection: bool, protect: bool
    ) -> tuple[gcp.storage.Bucket, gcp.compute.BackendBucket]:
        """A private bucket only Cloud CDN's cache-fill identity may read, behind a CDN-enabled backend bucket."""
        cdn = args.cdn
        child = pulumi.ResourceOptions(parent=self)
        bucket = gcp.storage.Bucket(
            f"{self._name}-static",
            name=self._naming.physical("static"),
            location=cdn.location,
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            force_destroy=not deletion_protection,
            deletion_policy="PREVENT" if deletion_protection else "DELETE",
            labels=self._naming.labels_for("load-balancer"),
            opts=pulumi.ResourceOptions(
                parent=self, protect=protect, depends_on=apis.require("storage.googleapis.com")
            ),
        )
        project = gcp.organizations.get_project_output(opts=pulumi.InvokeOutputOptions(parent=self))
        gcp.storage.BucketIAMMember(
            f"{self._name}-static-cdn-reader",
            bucket=bucket.name,
            role="roles/storage.objectViewer",
            member=project.number.apply(lambda n: f"serviceAccount:service-{n}@cloud-cdn-fill.iam.gserviceaccount.com"),
            opts=child,
        )
        ttls = cdn.cache_mode != "USE_ORIGIN_HEADERS"  # with origin headers, the API rejects explicit TTLs
        backend_bucket = gcp.compute.BackendBucket(
            f"{self._name}-static-backend",
            name=self._naming.physical("static"),
            description="Static assets from Cloud Storage through Cloud CDN",
            bucket_name=bucket.name,
            enable_cdn=True,
            compression_mode="AUTOMATIC",
            cdn_policy=gcp.compute.BackendBucketCdnPolicyArgs(
                cache_mode=cdn.cache_mode,
                default_ttl=cdn.default_ttl if ttls else None,
                max_ttl=cdn.max_ttl if cdn.cache_mode == "CACHE_ALL_STATIC" else None,
                client_ttl=cdn.client_ttl if ttls else None,
                serve_while_stale=cdn.serve_while_stale,
                negative_caching=cdn.negative_caching,
                request_coalescing=True,
            ),
            opts=pulumi.ResourceOptions.merge(
                self._compute, pulumi.ResourceOptions(aliases=[pulumi.Alias(name=f"{self._name}-static")])
            ),
        )
        return bucket, backend_bucket
