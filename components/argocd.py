"""Argo CD on the cluster, from its pinned Helm chart, and one Application per environment pointing at the app
repository's path. Its UI is served only through Identity-Aware Proxy (components/internal_tools.py): the server runs
plain HTTP behind the load balancer, which terminates TLS."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

import pulumi
import pulumi_kubernetes as kubernetes
from pydantic import Field, StringConstraints

from components.config_types import Hostname, Key, Model
from components.context import StackContext
from components.internal_tools import ToolArgs
from components.kubernetes_objects import Application, ApplicationSpec, SyncPolicy
from components.workload_identity import K8sName

CHART = "argo-cd"
CHART_REPOSITORY = "https://argoproj.github.io/argo-helm"
NAMESPACE = "argocd"
SERVER_SERVICE = "argocd-server"  # the chart's server Service (release name argocd)
IN_CLUSTER = "https://kubernetes.default.svc"
ChartVersion = Annotated[str, StringConstraints(pattern=r"^\d+\.\d+\.\d+$")]  # pinned: never a range
GitUrl = Annotated[str, StringConstraints(pattern=r"^(https://|git@)[^\s]+$")]
RepoPath = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")]


class ApplicationArgs(Model):
    path: RepoPath  # the environment's directory in the app repository (Kustomize overlay, Helm chart, manifests)
    namespace: K8sName  # where its workloads run
    revision: str = "main"  # branch, tag or commit
    # automated: every commit is applied and drift reverted; manual: an operator syncs (protected stacks must).
    sync: Literal["automated", "manual"] = "manual"


class ArgoCdArgs(Model):
    """`gke.argocd`: the chart version, the hostname of its UI (behind IAP), and the Applications by environment."""

    chart_version: ChartVersion = "10.1.1"
    host: Hostname
    repo_url: GitUrl
    applications: dict[Key, ApplicationArgs] = Field(min_length=1)

    def tool(self) -> ToolArgs:
        """Argo CD's UI as an internal tool: the server Service on port 80, health at /healthz."""
        return ToolArgs(host=self.host, namespace=NAMESPACE, service=SERVER_SERVICE, port=80, health_path="/healthz")


class ArgoCd(pulumi.ComponentResource):
    """Takes the cluster's Kubernetes provider in `opts`; nothing is created before `nodes` (its pods need them)."""

    def __init__(
        self,
        name: str,
        args: ArgoCdArgs,
        *,
        ctx: StackContext,
        nodes: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:components:ArgoCd", name, None, ctx.component(opts))
        labels = {"app.kubernetes.io/managed-by": "pulumi", "platform/component": "argocd"}
        self.namespace = kubernetes.core.v1.Namespace(
            f"{name}-namespace",
            metadata=kubernetes.meta.v1.ObjectMetaArgs(name=NAMESPACE, labels=labels),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(nodes)),
        )
        self.release = kubernetes.helm.v3.Release(
            f"{name}-release",
            name="argocd",
            chart=CHART,
            version=args.chart_version,
            repository_opts=kubernetes.helm.v3.RepositoryOptsArgs(repo=CHART_REPOSITORY),
            namespace=NAMESPACE,
            create_namespace=False,
            atomic=True,
            cleanup_on_fail=True,
            timeout=900,
            values=_values(args),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.namespace]),
        )
        self.applications = {
            key: Application(
                f"{name}-{key}",
                name=key,
                namespace=NAMESPACE,
                labels=labels,
                spec=_application(args, app),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.release]),  # its CRD comes with the chart
            )
            for key, app in args.applications.items()
        }
        self.register_outputs({})


def _values(args: ArgoCdArgs) -> dict[str, object]:
    """Chart values: the UI's URL, plain HTTP behind the load balancer, no Dex (people sign in through IAP first)."""
    return {
        "global": {"domain": args.host},
        "configs": {"params": {"server.insecure": True}},
        "dex": {"enabled": False},
        "server": {"service": {"type": "ClusterIP"}},
    }


def _application(args: ArgoCdArgs, app: ApplicationArgs) -> ApplicationSpec:
    sync = SyncPolicy(syncOptions=["CreateNamespace=true"])
    if app.sync == "automated":
        sync["automated"] = {"prune": True, "selfHeal": True}
    return ApplicationSpec(
        project="default",
        source={"repoURL": args.repo_url, "path": app.path, "targetRevision": app.revision},
        destination={"server": IN_CLUSTER, "namespace": app.namespace},
        syncPolicy=sync,
    )
