"""Data Access audit logs: who read or changed data, for every Google service that holds the stack's data. Admin
Activity logs are always on; Data Access logs are off by default and are what an incident review needs."""

from __future__ import annotations

from typing import Literal

import pulumi
import pulumi_gcp as gcp
from pydantic import Field

from components.config_types import Model
from components.context import StackContext

LogType = Literal["ADMIN_READ", "DATA_READ", "DATA_WRITE"]


class AuditLogsArgs(Model):
    """`platform:audit_logs`: the services whose Data Access logs are on, and which kinds."""

    services: list[str] = Field(
        [
            "cloudsql.googleapis.com",
            "redis.googleapis.com",
            "secretmanager.googleapis.com",
            "storage.googleapis.com",
        ],
        min_length=1,
    )
    log_types: list[LogType] = ["ADMIN_READ", "DATA_READ", "DATA_WRITE"]


class AuditLogs(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        args: AuditLogsArgs,
        *,
        ctx: StackContext,
        aliases_parent: pulumi.Resource | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`aliases_parent` is the component these configs belonged to before they had their own."""
        super().__init__("platform:components:AuditLogs", name, None, ctx.component(opts))
        self.configs = {}
        for service in sorted(set(args.services)):
            short = service.removesuffix(".googleapis.com")
            aliases = (
                [pulumi.Alias(name=f"observability-audit-{short}", parent=aliases_parent)] if aliases_parent else None
            )
            self.configs[service] = gcp.projects.IAMAuditConfig(
                f"{name}-{short}",
                project=ctx.project,
                service=service,
                audit_log_configs=[
                    gcp.projects.IAMAuditConfigAuditLogConfigArgs(log_type=kind) for kind in args.log_types
                ],
                opts=pulumi.ResourceOptions(parent=self, aliases=aliases),
            )
        self.register_outputs({"services": sorted(self.configs)})
