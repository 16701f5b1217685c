"""Internal web tools on the cluster (Argo CD's UI, Grafana, admin apps), served only through Identity-Aware Proxy:
one GKE Gateway (a global external Application Load Balancer on a reserved address, HTTPS only), a route per tool's
hostname, and on each tool's Service a GCPBackendPolicy that turns IAP on. Who may pass IAP is granted per tool, on
the requests for that tool's hostname only."""

from __future__ import annotations

import hashlib
from typing import Annotated

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as kubernetes
from pydantic import Field, StringConstraints

from components.config_types import Hostname, Key, Model
from components.context import StackContext
from components.kubernetes_objects import (
    BackendPolicy,
    BackendPolicySpec,
    Gateway,
    GatewaySpec,
    HealthCheckPolicy,
    HttpRoute,
    service_ref,
)
from components.workload_identity import K8sName

IAP_ACCESSOR = "roles/iap.httpsResourceAccessor"
GATEWAY_CLASS = "gke-l7-global-external-managed"
GATEWAY_NAMESPACE = "internal-tools"
OAUTH_SECRET_KEY = "iap_oauth_client_secret"  # the Pulumi secret holding the OAuth client's secret
OAUTH_SECRET_NAME = "iap-oauth-client"  # the Kubernetes Secret each tool's namespace gets it in (data key `key`)
AccessMember = Annotated[str, StringConstraints(pattern=r"^(group|user|domain):[^\s]+$")]
OAuthClientId = Annotated[str, StringConstraints(pattern=r"^[0-9]+-[a-z0-9]+\.apps\.googleusercontent\.com$")]
HealthPath = Annotated[str, StringConstraints(pattern=r"^/[A-Za-z0-9._~/-]*$")]
MAX_CERTIFICATES = 15  # SSL certificates per target HTTPS proxy: one per tool


class ToolArgs(Model):
    host: Hostname  # the tool's own hostname: point it at the `internal_tools_ip` output
    namespace: K8sName
    service: K8sName  # the tool's Service (it must exist for the load balancer to route to it)
    port: int = Field(80, ge=1, le=65535)  # the Service port
    health_path: HealthPath = "/healthz"
    access: list[AccessMember] = []  # who may use it; empty: internal_tools.access


class InternalToolsArgs(Model):
    """`gke.internal_tools`: the OAuth client IAP signs users in with (created once by hand, see docs/kubernetes.md),
    who may reach the tools, and the tools besides Argo CD (which is always one when `gke.argocd` is set)."""

    oauth_client_id: OAuthClientId
    access: list[AccessMember] = Field(min_length=1)
    # Each tool has its own certificate on the Gateway's proxy, which takes at most 15; Argo CD may be one more.
    tools: dict[Key, ToolArgs] = Field({}, max_length=MAX_CERTIFICATES - 1)


class InternalTools(pulumi.ComponentResource):
    """Takes the Kubernetes provider in `opts`; the tools' namespaces must exist (see `depends_on`)."""

    ip_address: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: InternalToolsArgs,
        tools: dict[str, ToolArgs],
        *,
        ctx: StackContext,
        oauth_client_secret: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:components:InternalTools", name, None, ctx.component(opts))
        self._name = name
        self._labels = {"app.kubernetes.io/managed-by": "pulumi", "platform/component": "internal-tools"}
        child = pulumi.ResourceOptions(parent=self)
        self.address_name = ctx.naming.physical("tools")
        self.address = gcp.compute.GlobalAddress(
            f"{name}-ip",
            name=self.address_name,
            address_type="EXTERNAL",
            labels=ctx.labels("internal-tools"),
            opts=ctx.after(self, "compute.googleapis.com"),
        )
        # A certificate's domain cannot change: named after its host, a new host gets a new certificate, created
        # before the old one goes.
        self.certificate_names = {
            key: ctx.naming.physical("tools", key, hashlib.sha256(tool.host.encode()).hexdigest()[:6])
            for key, tool in sorted(tools.items())
        }
        self.certificates = {key: self._certificate(key, tools[key].host, ctx) for key in self.certificate_names}
        self.namespace = kubernetes.core.v1.Namespace(
            f"{name}-namespace",
            metadata=kubernetes.meta.v1.ObjectMetaArgs(name=GATEWAY_NAMESPACE, labels=self._labels),
            opts=child,
        )
        self.gateway = Gateway(
            f"{name}-gateway",
            name="internal-tools",
            namespace=GATEWAY_NAMESPACE,
            labels=self._labels,
            spec=self._gateway_spec(sorted({t.namespace for t in tools.values()})),
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[self.namespace, self.address, *self.certificates.values()]
            ),
        )
        # One OAuth client Secret per namespace, however many tools share it: removing one tool leaves the others'.
        self.oauth_secrets = {
            namespace: self._oauth_secret(namespace, oauth_client_secret)
            for namespace in sorted({t.namespace for t in tools.values()})
        }
        for key, tool in tools.items():
            self._tool(key, tool, args, ctx)
        self.ip_address = self.address.address
        self.register_outputs({"ip_address": self.ip_address})

    def _certificate(self, key: str, host: str, ctx: StackContext) -> gcp.compute.ManagedSslCertificate:
        """One Google-managed certificate per tool: a new tool's certificate provisions (up to an hour, once its DNS
        points here) while the others stay listed and ACTIVE, so adding a tool never takes HTTPS from the rest."""
        return gcp.compute.ManagedSslCertificate(
            f"{self._name}-{key}-certificate",
            name=self.certificate_names[key],
            managed=gcp.compute.ManagedSslCertificateManagedArgs(domains=[host]),
            opts=ctx.after(self, "compute.googleapis.com"),
        )

    def _oauth_secret(self, namespace: str, secret: pulumi.Input[str]) -> kubernetes.core.v1.Secret:
        return kubernetes.core.v1.Secret(
            f"{self._name}-{namespace}-oauth-client",
            metadata=kubernetes.meta.v1.ObjectMetaArgs(
                name=OAUTH_SECRET_NAME, namespace=namespace, labels=self._labels
            ),
            string_data={"key": pulumi.Output.secret(secret)},
            type="Opaque",
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _gateway_spec(self, namespaces: list[str]) -> GatewaySpec:
        """HTTPS only, on the reserved address; routes attach only from the tools' namespaces, so nothing else in
        the cluster can publish itself here."""
        return GatewaySpec(
            gatewayClassName=GATEWAY_CLASS,
            listeners=[
                {
                    "name": "https",
                    "protocol": "HTTPS",
                    "port": 443,
                    "tls": {
                        "mode": "Terminate",
                        # Every tool's certificate: the load balancer picks the one whose domain the client asks for.
                        "options": {"networking.gke.io/pre-shared-certs": ",".join(self.certificate_names.values())},
                    },
                    "allowedRoutes": {
                        "namespaces": {
                            "from": "Selector",
                            "selector": {
                                "matchExpressions": [
                                    {"key": "kubernetes.io/metadata.name", "operator": "In", "values": namespaces}
                                ]
                            },
                        }
                    },
                }
            ],
            addresses=[{"type": "NamedAddress", "value": self.address_name}],
        )

    def _tool(self, key: str, tool: ToolArgs, args: InternalToolsArgs, ctx: StackContext) -> None:
        name, labels = f"{self._name}-{key}", self._labels
        child = pulumi.ResourceOptions(parent=self)
        BackendPolicy(
            f"{name}-iap",
            name=f"{tool.service}-iap",
            namespace=tool.namespace,
            labels=labels,
            spec=BackendPolicySpec(
                default={
                    "iap": {
                        "enabled": True,
                        "clientID": args.oauth_client_id,
                        "oauth2ClientSecret": {"name": OAUTH_SECRET_NAME},
                    }
                },
                targetRef=service_ref(tool.service),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.oauth_secrets[tool.namespace]]),
        )
        HealthCheckPolicy(
            f"{name}-health-check",
            name=f"{tool.service}-health",
            namespace=tool.namespace,
            labels=labels,
            spec={
                "default": {"config": {"type": "HTTP", "httpHealthCheck": {"requestPath": tool.health_path}}},
                "targetRef": service_ref(tool.service),
            },
            opts=child,
        )
        HttpRoute(
            f"{name}-route",
            name=key,
            namespace=tool.namespace,
            labels=labels,
            spec={
                "parentRefs": [{"name": "internal-tools", "namespace": GATEWAY_NAMESPACE}],
                "hostnames": [tool.host],
                "rules": [{"backendRefs": [{"name": tool.service, "port": tool.port}]}],
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.gateway]),
        )
        for member in tool.access or args.access:
            who = member.split(":", 1)[1].split("@", 1)[0]
            gcp.iap.WebTypeComputeIamMember(
                f"{name}-access-{who}",
                project=ctx.project,
                role=IAP_ACCESSOR,
                member=member,
                condition=gcp.iap.WebTypeComputeIamMemberConditionArgs(
                    title=f"{key} only",
                    description=f"Requests for {tool.host}",
                    expression=f'request.host == "{tool.host}"',
                ),
                opts=ctx.after(self, "iap.googleapis.com"),
            )
