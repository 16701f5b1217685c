"""Where a service's container image comes from: an existing reference, or a Docker build pushed to the registry and
tagged by the content of its build context, so an unchanged context never rebuilds or redeploys."""

from __future__ import annotations

import fnmatch
import hashlib
from pathlib import Path, PurePosixPath
from typing import Annotated

import pulumi
import pulumi_docker as docker
import pulumi_gcp as gcp
from pydantic import AfterValidator, StringConstraints, model_validator

from components.config_types import Model, invalid

# Paths in the stack config are relative to the project (where Pulumi.yaml is), which is where `pulumi up` runs.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
TAG_LENGTH = 16
PLATFORM = "linux/amd64"  # Cloud Run runs x86-64 images only


def _inside_project(value: str) -> str:
    if ".." in PurePosixPath(value).parts:
        raise ValueError(f"'{value}' leaves the project; give a path inside it, relative to Pulumi.yaml")
    return value


RelativePath = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9_][A-Za-z0-9._/-]*$"), AfterValidator(_inside_project)
]
# An image reference: registry host and path with a tag or a digest, or `name:tag` inside the stack's repository.
ImageRef = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$"),
]


class BuildArgs(Model):
    context: RelativePath  # a directory, relative to the project
    dockerfile: RelativePath | None = None  # relative to the project; default: Dockerfile in the context

    @model_validator(mode="after")
    def _exists(self) -> BuildArgs:
        if not (PROJECT_ROOT / self.context).is_dir():
            invalid("context", f"'{self.context}' is not a directory of this project")
        if not self.dockerfile_path.is_file():
            where = self.dockerfile or f"{self.context}/Dockerfile"
            invalid("dockerfile" if self.dockerfile else "context", f"no Dockerfile at '{where}'")
        return self

    @property
    def dockerfile_path(self) -> Path:
        return PROJECT_ROOT / (self.dockerfile or f"{self.context}/Dockerfile")


def check_reference(ref: str) -> str | None:
    """Why a configured image reference is unsafe to deploy, or None: a mutable `latest` or a missing tag."""
    name = ref.split("@", 1)[0]
    tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else None
    if "@sha256:" in ref:
        return None
    if tag is None:
        return f"'{ref}' has no tag; pin a version tag or a digest (name:1.4.2 or name@sha256:...)"
    if tag == "latest":
        return f"'{ref}' uses the moving tag 'latest'; pin a version tag or a digest"
    return None


def resolve_reference(ref: str, repository_url: pulumi.Input[str]) -> pulumi.Output[str]:
    """A full reference: `name:tag` without a registry host lives in the stack's repository."""
    if "/" in ref:
        return pulumi.Output.from_input(ref)
    return pulumi.Output.concat(repository_url, "/", ref)


def context_digest(context: Path, dockerfile: Path) -> str:
    """sha256 over the files Docker would send (honouring .dockerignore) and the Dockerfile, independent of mtimes."""
    patterns = _dockerignore(context)
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        relative = path.relative_to(context).as_posix()
        if not _ignored(relative, patterns):
            digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(b"Dockerfile\0" + dockerfile.read_bytes())
    return digest.hexdigest()


def _dockerignore(context: Path) -> list[str]:
    path = context / ".dockerignore"
    if not path.is_file():
        return []
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _ignored(relative: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent directories wins; `!` re-includes."""
    parts = PurePosixPath(relative).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        cleaned = pattern.removeprefix("!").strip("/")
        if any(fnmatch.fnmatchcase(candidate, cleaned) for candidate in candidates):
            ignored = not negated
    return ignored


def build_image(
    name: str,
    build: BuildArgs,
    *,
    repository_url: pulumi.Input[str],
    image: str,
    parent: pulumi.Resource,
) -> docker.Image:
    """Build `build` for Cloud Run and push it as `{repository}/{image}:{content hash}`.

    The registry login is a short-lived OAuth token of the identity running Pulumi, fetched at deploy time, so no key
    file exists anywhere.
    """
    tag = context_digest(PROJECT_ROOT / build.context, build.dockerfile_path)[:TAG_LENGTH]
    token = gcp.organizations.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=parent)).access_token
    server = pulumi.Output.from_input(repository_url).apply(lambda url: url.split("/", 1)[0])
    return docker.Image(
        name,
        image_name=pulumi.Output.concat(repository_url, f"/{image}:{tag}"),
        build=docker.DockerBuildArgs(
            context=build.context,
            dockerfile=build.dockerfile or f"{build.context}/Dockerfile",
            platform=PLATFORM,
        ),
        registry=docker.RegistryArgs(server=server, username="oauth2accesstoken", password=pulumi.Output.secret(token)),
        # The image name comes from the repository's outputs, so the push waits for the repository.
        opts=pulumi.ResourceOptions(parent=parent),
    )
