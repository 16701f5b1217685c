"""Typed Kubernetes custom resources the platform creates: the GKE Gateway API objects, GKE's backend and health-check
policies, and Argo CD Applications.

pulumi-kubernetes has no generated classes for custom resources; these fix each one's apiVersion and kind, carry its
type token (so the offline tools key a facts record by the class, like any other), and take a `TypedDict` spec, so
a misspelt field fails in mypy instead of being pruned silently by the API server."""

from __future__ import annotations

from typing import Any, Generic, Literal, NotRequired, TypedDict, TypeVar

import pulumi
import pulumi_kubernetes as kubernetes


class ObjectRef(TypedDict):
    group: str
    kind: str
    name: str


class ParentRef(TypedDict):
    name: str
    namespace: str


class BackendRef(TypedDict):
    name: str
    port: int


class RouteRule(TypedDict):
    backendRefs: list[BackendRef]


class HttpRouteSpec(TypedDict):
    parentRefs: list[ParentRef]
    hostnames: list[str]
    rules: list[RouteRule]


class GatewayTls(TypedDict):
    mode: Literal["Terminate"]
    options: dict[str, str]


class NamespaceSelector(TypedDict):
    matchExpressions: list[dict[str, Any]]


class RouteNamespaces(TypedDict):
    namespaces: dict[str, Any]


class Listener(TypedDict):
    name: str
    protocol: Literal["HTTPS"]
    port: int
    tls: GatewayTls
    allowedRoutes: RouteNamespaces


class GatewayAddress(TypedDict):
    type: Literal["NamedAddress"]
    value: str


class GatewaySpec(TypedDict):
    gatewayClassName: str
    listeners: list[Listener]
    addresses: list[GatewayAddress]


class SecretRef(TypedDict):
    name: str


class IapSettings(TypedDict):
    enabled: bool
    clientID: str
    oauth2ClientSecret: SecretRef


class BackendDefaults(TypedDict):
    iap: IapSettings


class BackendPolicySpec(TypedDict):
    default: BackendDefaults
    targetRef: ObjectRef


class HttpHealthCheck(TypedDict):
    requestPath: str


class HealthCheckConfig(TypedDict):
    type: Literal["HTTP"]
    httpHealthCheck: HttpHealthCheck


class HealthCheckDefaults(TypedDict):
    config: HealthCheckConfig


class HealthCheckPolicySpec(TypedDict):
    default: HealthCheckDefaults
    targetRef: ObjectRef


class ApplicationSource(TypedDict):
    repoURL: str
    path: str
    targetRevision: str


class ApplicationDestination(TypedDict):
    server: str
    namespace: str


class Automated(TypedDict):
    prune: bool
    selfHeal: bool


class SyncPolicy(TypedDict):
    automated: NotRequired[Automated]
    syncOptions: list[str]


class ApplicationSpec(TypedDict):
    project: str
    source: ApplicationSource
    destination: ApplicationDestination
    syncPolicy: SyncPolicy


def _metadata(name: str, namespace: str, labels: dict[str, str]) -> kubernetes.meta.v1.ObjectMetaArgs:
    return kubernetes.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=labels)


Spec = TypeVar("Spec")


class _Typed(kubernetes.apiextensions.CustomResource, Generic[Spec]):  # type: ignore[misc]
    API_VERSION = ""
    KIND = ""

    def __init__(
        self,
        resource_name: str,
        *,
        name: str,
        namespace: str,
        labels: dict[str, str],
        spec: Spec,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            resource_name,
            api_version=self.API_VERSION,
            kind=self.KIND,
            metadata=_metadata(name, namespace, labels),
            spec=spec,
            opts=opts,
        )


@pulumi.type_token("kubernetes:gateway.networking.k8s.io/v1:Gateway")
class Gateway(_Typed[GatewaySpec]):
    API_VERSION, KIND = "gateway.networking.k8s.io/v1", "Gateway"


@pulumi.type_token("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute")
class HttpRoute(_Typed[HttpRouteSpec]):
    API_VERSION, KIND = "gateway.networking.k8s.io/v1", "HTTPRoute"


@pulumi.type_token("kubernetes:networking.gke.io/v1:GCPBackendPolicy")
class BackendPolicy(_Typed[BackendPolicySpec]):
    API_VERSION, KIND = "networking.gke.io/v1", "GCPBackendPolicy"


@pulumi.type_token("kubernetes:networking.gke.io/v1:HealthCheckPolicy")
class HealthCheckPolicy(_Typed[HealthCheckPolicySpec]):
    API_VERSION, KIND = "networking.gke.io/v1", "HealthCheckPolicy"


@pulumi.type_token("kubernetes:argoproj.io/v1alpha1:Application")
class Application(_Typed[ApplicationSpec]):
    API_VERSION, KIND = "argoproj.io/v1alpha1", "Application"


def service_ref(name: str) -> ObjectRef:
    """A policy's target: a Service in the policy's namespace."""
    return ObjectRef(group="", kind="Service", name=name)
