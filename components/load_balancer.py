"""The global external Application Load Balancer in front of the Cloud Run services: one reserved anycast IP, HTTPS
with Google-managed certificates and a TLS 1.2+ policy, host and path routing from config, HTTP redirected to HTTPS,
request logging, Cloud Armor on every backend service and, where config asks, Cloud CDN for static assets."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import pulumi
import pulumi_gcp as gcp
from pydantic import Field, StringConstraints, model_validator

from components.cloud_armor import SecurityArgs
from components.config_types import Hostname, Key, Model, invalid
from components.context import StackContext
from components.naming import Naming
from components.refs import NO_CMEK, Encryption
from components.routing import CDN, PathMatcher, RouteArgs, UrlPath, path_rules_for, plan_routing

# A target HTTPS proxy takes at most 15 certificates directly; a Certificate Manager map holds many more.
MAX_CERTIFICATES = 15
# Static assets replaced by a deploy stay restorable this long as noncurrent versions, then are deleted.
NONCURRENT_ASSET_DAYS = 30
CERTIFICATE_MANAGER = "certificatemanager.googleapis.com"


class SslPolicyArgs(Model):
    profile: Literal["MODERN", "RESTRICTED"] = "RESTRICTED"
    min_tls_version: Literal["TLS_1_2", "TLS_1_3"] = "TLS_1_2"


class CdnArgs(Model):
    """Cloud CDN in front of a private bucket of static assets, served on `paths` of every domain (on every path when
    the load balancer has no services): the load balancer's own bucket, or the application bucket (`platform:buckets`)
    that says `public_through_cdn: true`."""

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
    # The Cloud Run services behind the load balancer, one serverless NEG each. None, with cdn enabled: the load
    # balancer serves the CDN bucket alone, on every path (a stack whose services run elsewhere, such as on GKE).
    services: list[Key] = []
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
            self._bucket_only()
            return self
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
            for name, paths in path_rules_for(self.routes, self.cdn_paths, host):
                for path in paths:
                    if path in seen:
                        where = f"routes.{name}.paths" if name != CDN else "cdn.paths"
                        invalid(where, f"{path} on {host} is already routed by {seen[path]}")
                    seen[path] = name
        return self

    def _bucket_only(self) -> None:
        """Without services the CDN bucket takes every request: nothing else may be routed."""
        if not self.cdn.enabled:
            invalid(
                "services",
                "list the Cloud Run services the load balancer sends traffic to, or enable cdn to serve its bucket "
                "alone",
            )
        if self.default_service is not None:
            invalid("default_service", f"'{self.default_service}' is not one of services, which is empty; remove it")
        if self.routes:
            invalid("routes", "a load balancer without services sends every request to its CDN bucket; remove routes")

    def _known(self) -> str:
        return ", ".join(self.services) or "(none)"

    @property
    def cdn_paths(self) -> list[str]:
        """The paths routed to the CDN bucket; none when it is the default (no services): it takes every path."""
        return list(self.cdn.paths) if self.cdn.enabled and self.services else []

    def routing(self) -> list[PathMatcher]:
        """The URL map as plain data (see components/routing.py): requests no route matches go to the default
        service, or to the CDN bucket on a load balancer without services."""
        return plan_routing(self.domains, self.routes, self.default_service or CDN, self.cdn_paths)


@dataclass(frozen=True)
class ServerlessBackend:
    """A Cloud Run service to put behind the load balancer."""

    cloud_run_service_name: pulumi.Input[str]
    region: str


def certificate_name(naming: Naming, domain: str) -> str:
    """A physical name per domain; the digest keeps names distinct where the slugs collide (a-b.c vs a.b-c)."""
    return naming.physical("cert", domain.replace(".", "-"), hashlib.sha256(domain.encode()).hexdigest()[:6])


class LoadBalancer(pulumi.ComponentResource):
    """Global external Application Load Balancer (EXTERNAL_MANAGED) for serverless backends, each backend service
    carrying the Cloud Armor backend policy `security_policy` and, with the static-assets bucket, the edge policy
    `edge_security_policy` (self links; only an edge policy can protect a backend bucket).

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
        ctx: StackContext,
        backends: Mapping[str, ServerlessBackend],
        security_policy: pulumi.Input[str],
        edge_security_policy: pulumi.Input[str] | None = None,
        cdn_bucket: pulumi.Input[str] | None = None,
        encryption: Encryption = NO_CMEK,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`cdn_bucket`: the name of the application bucket Cloud CDN serves, instead of a bucket of its own;
        `encryption`: with CMEK, its own bucket takes the `storage` key of its location."""
        super().__init__("platform:components:LoadBalancer", name, None, ctx.component(opts))
        self._name = name
        self._edge_policy = edge_security_policy
        self._ctx = ctx
        self._naming = ctx.naming
        self._compute = ctx.after(self, "compute.googleapis.com")
        self.address = gcp.compute.GlobalAddress(
            f"{name}-ip",
            name=ctx.naming.physical("lb-ip"),
            address_type="EXTERNAL",
            ip_version="IPV4",
            labels=ctx.labels("load-balancer"),
            opts=self._compute,
        )
        self.backend_services = self._backend_services(args, backends, security_policy)
        self.cdn_bucket: gcp.storage.Bucket | None = None
        self.backend_bucket: gcp.compute.BackendBucket | None = None
        if args.cdn.enabled:
            self.cdn_bucket, self.backend_bucket = self._cdn(args, cdn_bucket, encryption)
        self.url_map = self._url_map(args)
        # Per domain, the DNS records Certificate Manager asks for (certificate_authorization: dns), for the edge's DNS:
        # one Output per domain, so a consumer can create one record each.
        self.dns_authorizations: dict[str, pulumi.Output[list[dict[str, str]]]] = {}
        self.https_proxy = self._https_proxy(args)
        self.http_proxy = self._http_redirect()
        self.forwarding_rules = {
            port: gcp.compute.GlobalForwardingRule(
                f"{name}-{port}",
                name=ctx.naming.physical("lb", str(port)),
                ip_address=self.address.id,
                ip_protocol="TCP",
                port_range=str(port),
                load_balancing_scheme="EXTERNAL_MANAGED",
                target=target.id,
                labels=ctx.labels("load-balancer"),
                opts=pulumi.ResourceOptions(parent=self),
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

    def _backend_services(
        self, args: LoadBalancerArgs, backends: Mapping[str, ServerlessBackend], security_policy: pulumi.Input[str]
    ) -> dict[str, gcp.compute.BackendService]:
        """A serverless NEG and a backend service (with Cloud Armor and request logging) per Cloud Run service."""
        services = {}
        for service in args.services:
            neg = gcp.compute.RegionNetworkEndpointGroup(
                f"{self._name}-{service}-neg",
                name=self._naming.physical(service, "neg"),
                region=backends[service].region,
                network_endpoint_type="SERVERLESS",
                cloud_run=gcp.compute.RegionNetworkEndpointGroupCloudRunArgs(
                    service=backends[service].cloud_run_service_name
                ),
                opts=self._compute,
            )
            services[service] = gcp.compute.BackendService(
                f"{self._name}-{service}",
                name=self._naming.physical(service, "backend"),
                description=f"Cloud Run service {service}, behind Cloud Armor",
                load_balancing_scheme="EXTERNAL_MANAGED",
                protocol="HTTPS",
                backends=[gcp.compute.BackendServiceBackendArgs(group=neg.id)],
                security_policy=security_policy,
                edge_security_policy=self._edge_policy,
                log_config=gcp.compute.BackendServiceLogConfigArgs(enable=True, sample_rate=args.log_sample_rate),
                opts=pulumi.ResourceOptions(parent=self),
            )
        return services

    def _url_map(self, args: LoadBalancerArgs) -> gcp.compute.URLMap:
        matchers = args.routing()
        return gcp.compute.URLMap(
            f"{self._name}-urls",
            name=self._naming.physical("urls"),
            description="Host and path routing to the Cloud Run services"
            if args.services
            else "Every request to the static-assets bucket through Cloud CDN",
            default_service=self._target(args.default_service or CDN),
            host_rules=[gcp.compute.URLMapHostRuleArgs(hosts=list(m.hosts), path_matcher=m.name) for m in matchers],
            path_matchers=[self._path_matcher(m) for m in matchers],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _https_proxy(self, args: LoadBalancerArgs) -> gcp.compute.TargetHttpsProxy:
        certificates: dict[str, gcp.compute.ManagedSslCertificate] = {}
        certificate_map: pulumi.Output[str] | None = None
        if args.certificate_authorization == "dns":
            certificate_map, self.dns_authorizations = self._certificate_map(args)
        else:
            certificates = self._managed_certificates(args)
        self.ssl_policy = gcp.compute.SSLPolicy(
            f"{self._name}-tls",
            name=self._naming.physical("tls"),
            description=f"{args.ssl_policy.min_tls_version} or newer, {args.ssl_policy.profile} cipher profile",
            profile=args.ssl_policy.profile,
            min_tls_version=args.ssl_policy.min_tls_version,
            opts=self._compute,
        )
        return gcp.compute.TargetHttpsProxy(
            f"{self._name}-https",
            name=self._naming.physical("https"),
            url_map=self.url_map.id,
            ssl_certificates=[c.id for c in certificates.values()] or None,
            certificate_map=certificate_map,
            ssl_policy=self.ssl_policy.id,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _http_redirect(self) -> gcp.compute.TargetHttpProxy:
        """Plain HTTP answers with a permanent redirect to HTTPS, keeping the query."""
        self.redirect_map = gcp.compute.URLMap(
            f"{self._name}-redirect",
            name=self._naming.physical("http-redirect"),
            description="Plain HTTP: permanent redirect to HTTPS",
            default_url_redirect=gcp.compute.URLMapDefaultUrlRedirectArgs(
                https_redirect=True, redirect_response_code="MOVED_PERMANENTLY_DEFAULT", strip_query=False
            ),
            opts=self._compute,
        )
        return gcp.compute.TargetHttpProxy(
            f"{self._name}-http",
            name=self._naming.physical("http"),
            url_map=self.redirect_map.id,
            opts=pulumi.ResourceOptions(parent=self),
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
        self, args: LoadBalancerArgs
    ) -> tuple[pulumi.Output[str], dict[str, pulumi.Output[list[dict[str, str]]]]]:
        """Certificate Manager: per domain a DNS authorization, a Google-managed certificate and a map entry.
        Returns the map's reference for the proxy and, per domain, the CNAME records to publish."""
        opts = self._ctx.after(self, CERTIFICATE_MANAGER)
        labels = self._ctx.labels("load-balancer")
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
        self, args: LoadBalancerArgs, app_bucket: pulumi.Input[str] | None, encryption: Encryption
    ) -> tuple[gcp.storage.Bucket | None, gcp.compute.BackendBucket]:
        """A bucket anyone may read (its own, or the application bucket that says `public_through_cdn`), behind a
        CDN-enabled backend bucket."""
        cdn = args.cdn
        child = pulumi.ResourceOptions(parent=self)
        bucket: gcp.storage.Bucket | None = None
        if app_bucket is None:
            bucket = self._static_bucket(cdn, encryption)
            bucket_name: pulumi.Input[str] = bucket.name
        else:
            bucket_name = app_bucket
        # A backend bucket without signed URLs fills Cloud CDN's cache with unauthenticated reads: its objects must be
        # readable by allUsers. Cloud CDN's cache-fill account exists only once a signed URL key does, so a grant to it
        # fails on a fresh project (and where the organization allows only its own domain's members).
        gcp.storage.BucketIAMMember(
            f"{self._name}-static-cdn-reader",
            bucket=bucket_name,
            role="roles/storage.objectViewer",
            member="allUsers",
            opts=child,
        )
        ttls = cdn.cache_mode != "USE_ORIGIN_HEADERS"  # with origin headers, the API rejects explicit TTLs
        backend_bucket = gcp.compute.BackendBucket(
            f"{self._name}-static-backend",
            name=self._naming.physical("static"),
            description="Static assets from Cloud Storage through Cloud CDN",
            bucket_name=bucket_name,
            enable_cdn=True,
            edge_security_policy=self._edge_policy,
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

    def _static_bucket(self, cdn: CdnArgs, encryption: Encryption) -> gcp.storage.Bucket:
        key = encryption.key("storage", cdn.location)
        return gcp.storage.Bucket(
            f"{self._name}-static",
            name=self._naming.physical("static"),
            location=cdn.location,
            uniform_bucket_level_access=True,
            public_access_prevention="inherited",  # public through the CDN: a grant to allUsers is refused otherwise
            # A deploy that overwrites or deletes assets leaves the old ones restorable for a while.
            versioning=gcp.storage.BucketVersioningArgs(enabled=True),
            lifecycle_rules=[
                gcp.storage.BucketLifecycleRuleArgs(
                    action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                    condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                        days_since_noncurrent_time=NONCURRENT_ASSET_DAYS, with_state="ARCHIVED"
                    ),
                )
            ],
            encryption=gcp.storage.BucketEncryptionArgs(default_kms_key_name=key) if key else None,
            force_destroy=not self._ctx.deletion_protection,
            deletion_policy="PREVENT" if self._ctx.deletion_protection else "DELETE",
            labels={**self._ctx.labels("load-balancer"), "exposure": "cdn"},
            opts=self._ctx.stateful(self, "storage.googleapis.com"),
        )
