"""Where a service's container image comes from: an existing reference, or a Docker build pushed to the registry and
tagged by everything that makes pulumi-docker rebuild it, so an unchanged build never rebuilds or redeploys and a
rebuild never reuses a tag."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import posixpath
import re
import stat
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
BUILD_ON_PREVIEW = False  # previews never build: they need no Docker engine


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


def build_options(build: BuildArgs) -> dict[str, str]:
    """The image's `build` input (context, Dockerfile, platform), which pulumi-docker's diff compares."""
    return {
        "context": build.context,
        "dockerfile": build.dockerfile or f"{build.context}/Dockerfile",
        "platform": PLATFORM,
    }


def tagged_inputs(build: BuildArgs) -> dict[str, object]:
    """Every input of the image, as the engine receives it, that the tag hashes: all but the image name (which holds
    the tag) and the registry login (whose credentials pulumi-docker's diff ignores; its server is in the name)."""
    return {"build": build_options(build), "buildOnPreview": BUILD_ON_PREVIEW, "skipPush": False}


def image_tag(build: BuildArgs) -> str:
    """The tag of a build: a hash of everything that makes pulumi-docker build and push again.

    pulumi-docker rebuilds when any of its inputs differs from the last deploy: the build options, or the digest it
    computes of the context (each file's path, mode and content, the Dockerfile). Builds are not reproducible, so a
    rebuild pushed under an unchanged tag would move it, which a repository with immutable tags refuses. Hashing the
    same things gives every rebuild a tag of its own, and an unchanged build the same tag (nothing rebuilds).
    """
    options = json.dumps(tagged_inputs(build), sort_keys=True).encode()
    digest = context_digest(PROJECT_ROOT / build.context, build.dockerfile_path)
    return hashlib.sha256(options + b"\0" + digest.encode()).hexdigest()[:TAG_LENGTH]


def context_digest(context: Path, dockerfile: Path) -> str:
    """sha256 over the Dockerfile and every file Docker would send (its ignore file honoured): each by path, mode and
    content (a symlink by where it points), as pulumi-docker hashes them; modification times do not count."""
    patterns = _dockerignore(context, dockerfile)
    digest = hashlib.sha256(b"Dockerfile\0" + hashlib.sha256(dockerfile.read_bytes()).digest())
    for path in _files(context):
        relative = path.relative_to(context).as_posix()
        if _ignored(relative, patterns):
            continue
        mode = path.lstat().st_mode
        content = os.path.realpath(path).encode() if stat.S_ISLNK(mode) else path.read_bytes()
        digest.update(f"\0{relative}\0{mode:o}\0".encode() + hashlib.sha256(content).digest())
    return digest.hexdigest()


def _files(directory: Path) -> list[Path]:
    """Every file and symlink under `directory`, without following symlinks, in a stable order."""
    found: list[Path] = []
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        if entry.is_dir(follow_symlinks=False):
            found += _files(Path(entry.path))
        else:
            found.append(Path(entry.path))
    return found


def _dockerignore(context: Path, dockerfile: Path | None = None) -> list[str]:
    """The ignore patterns Docker applies: `<Dockerfile>.dockerignore` if there is one, else the context's."""
    candidates = [Path(f"{dockerfile}.dockerignore")] if dockerfile else []
    path = next((p for p in [*candidates, context / ".dockerignore"] if p.is_file()), None)
    if path is None:
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
        matcher = _pattern(pattern.removeprefix("!").strip())
        if any(matcher.match(candidate) for candidate in candidates):
            ignored = not negated
    return ignored


@functools.cache
def _pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as Docker reads it (moby/patternmatcher): cleaned like a path, without a leading `/`;
    `*` and `?` stop at `/`, `**` spans any number of directories, `[...]` is a character class."""
    cleaned = posixpath.normpath(pattern).lstrip("/")
    regex, i = "", 0
    while i < len(cleaned):
        char = cleaned[i]
        if cleaned.startswith("**", i):
            i += 2
            if cleaned.startswith("/", i):
                i += 1
            regex += ".*" if i >= len(cleaned) else "(.*/)?"
            continue
        if char == "*":
            regex += "[^/]*"
        elif char == "?":
            regex += "[^/]"
        elif char == "[" and "]" in cleaned[i + 1 :]:
            end = cleaned.index("]", i + 1)
            body = cleaned[i + 1 : end]
            regex += "[" + ("^" + body[1:] if body.startswith(("!", "^")) else body) + "]"
            i = end
        elif char == "\\" and i + 1 < len(cleaned):
            i += 1
            regex += re.escape(cleaned[i])
        else:
            regex += re.escape(char)
        i += 1
    return re.compile(f"^{regex}$")


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
    tag = image_tag(build)
    options = build_options(build)
    token = gcp.organizations.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=parent)).access_token
    server = pulumi.Output.from_input(repository_url).apply(lambda url: url.split("/", 1)[0])
    return docker.Image(
        name,
        image_name=pulumi.Output.concat(repository_url, f"/{image}:{tag}"),
        # Every input but the name and the login is hashed into the tag (a test checks they are tagged_inputs).
        build=docker.DockerBuildArgs(context=options["context"], dockerfile=options["dockerfile"], platform=PLATFORM),
        build_on_preview=BUILD_ON_PREVIEW,
        skip_push=False,
        registry=docker.RegistryArgs(server=server, username="oauth2accesstoken", password=pulumi.Output.secret(token)),
        # The image name comes from the repository's outputs, so the push waits for the repository.
        opts=pulumi.ResourceOptions(parent=parent),
    )
