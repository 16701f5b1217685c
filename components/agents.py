"""Google service agents that a grant names: created with `gcp.projects.ServiceIdentity` where they may not exist yet,
and addressed by the documented email built from the project number, never by the email the API happens to return
(`generateServiceIdentity` returns none for some services, which would make every grant to it fail)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.context import StackContext

# The API whose agent it is, and the domain of `service-PROJECT_NUMBER@...`.
AGENT_DOMAINS = {
    "pubsub.googleapis.com": "gcp-sa-pubsub.iam.gserviceaccount.com",
    "sqladmin.googleapis.com": "gcp-sa-cloud-sql.iam.gserviceaccount.com",
    "redis.googleapis.com": "cloud-redis.iam.gserviceaccount.com",
    "artifactregistry.googleapis.com": "gcp-sa-artifactregistry.iam.gserviceaccount.com",
    "secretmanager.googleapis.com": "gcp-sa-secretmanager.iam.gserviceaccount.com",
}


@dataclass(frozen=True)
class ServiceAgent:
    """A service agent's email and IAM member, resolving once the agent has been created."""

    email: pulumi.Output[str]
    member: pulumi.Output[str]


def service_agent(name: str, service: str, *, ctx: StackContext, parent: pulumi.Resource) -> ServiceAgent:
    """The agent of `service` (an API), created as `name` if the project has none yet."""
    identity = gcp.projects.ServiceIdentity(name, project=ctx.project, service=service, opts=ctx.after(parent, service))
    number = gcp.organizations.get_project_output(
        project_id=ctx.project, opts=pulumi.InvokeOutputOptions(parent=parent)
    ).number
    domain = AGENT_DOMAINS[service]
    email = pulumi.Output.all(number, identity.id).apply(lambda values: f"service-{values[0]}@{domain}")
    return ServiceAgent(email=email, member=pulumi.Output.concat("serviceAccount:", email))
