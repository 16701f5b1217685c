"""Compute types: the Artifact Registry repository, built images, Cloud Run services and jobs, their IAM grants."""

from __future__ import annotations

import hashlib
import math
import re
from typing import TYPE_CHECKING

import pulumi
import pulumi_docker as docker
import pulumi_gcp as gcp
import pulumiverse_time as time

from offline.catalog.common import duration, grant
from offline.catalog.facts import API_CALL, Facts, Inputs, MockContext, inputs_only, named
from offline.estimate.pricing import SECONDS, Context, UnpricedError, Usage

if TYPE_CHECKING:
    from offline.engine import Resource

# pulumiverse-time's SDK predates classes that carry their type token: give Sleep the one its instances register with
# (misspelt, the stacks' Sleeps would have no record, which tests/test_facts.py reports).
pulumi.type_token("time:index/sleep:Sleep")(time.Sleep)

REGION_CODES = {"europe-west1": "ew", "europe-west4": "ez", "us-central1": "uc", "us-east1": "ue"}


def _hash(seed: str, length: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


def _repository(c: MockContext, name: str, i: Inputs) -> Inputs:
    location = i.get("location") or c.region
    repository = i.get("repositoryId") or name
    path = f"projects/{c.project}/locations/{location}/repositories/{repository}"
    return {
        "id": path,
        "name": repository,
        "project": c.project,
        "location": location,
        "registryUri": f"{location}-docker.pkg.dev/{c.project}/{repository}",
    }


def _image(c: MockContext, name: str, i: Inputs) -> Inputs:
    image_name = str(i.get("imageName"))
    repository = image_name.rsplit(":", 1)[0]
    digest = hashlib.sha256(image_name.encode()).hexdigest()
    return {
        "id": f"{repository}@sha256:{digest}",
        "imageName": image_name,
        "repoDigest": f"{repository}@sha256:{digest}",
    }


def _service(c: MockContext, name: str, i: Inputs) -> Inputs:
    service = named(i, name)
    location = i.get("location") or c.region
    code = REGION_CODES.get(location, "xx")
    return {
        "id": f"projects/{c.project}/locations/{location}/services/{service}",
        "name": service,
        "uri": f"https://{service}-{_hash(c.project + service, 10)}-{code}.a.run.app",
        "urls": [f"https://{service}-{c.project_number}.{location}.run.app"],
        "latestReadyRevision": f"{service}-00001-abc",
    }


def _job(c: MockContext, name: str, i: Inputs) -> Inputs:
    location = i.get("location") or c.region
    return {"id": f"projects/{c.project}/locations/{location}/jobs/{named(i, name)}", "name": named(i, name)}


def _iam(c: MockContext, name: str, i: Inputs) -> Inputs:
    target = i.get("secretId") or i.get("name") or i.get("project")
    return {"id": f"{target}/{i.get('role')}/{i.get('member')}", "etag": _hash(name, 12)}


def _repository_summary(i: Inputs) -> str:
    policies = ", ".join(p["id"] for p in i.get("cleanupPolicies") or []) or "none"
    dry = " (dry run)" if i.get("cleanupPolicyDryRun") else ""
    scanning = (i.get("vulnerabilityScanningConfig") or {}).get("enablementConfig")
    immutable = (i.get("dockerConfig") or {}).get("immutableTags")
    return (
        f"{i.get('format')} in {i.get('location')}, scanning {scanning}, tags {'immutable' if immutable else 'mutable'}"
        f", cleanup {policies}{dry}, deletion {i.get('deletionPolicy')}" + (", CMEK" if i.get("kmsKeyName") else "")
    )


def _scaling(template: Inputs) -> str:
    scaling = template.get("scaling") or {}
    return f"{scaling.get('minInstanceCount', 0)}-{scaling.get('maxInstanceCount')} instances"


def _secrets(container: Inputs) -> str:
    refs = [e["name"] for e in container.get("envs") or [] if e.get("valueSource")]
    return f"secrets {', '.join(refs)}" if refs else "no secrets"


def _egress(template: Inputs) -> str:
    egress = (template.get("vpcAccess") or {}).get("egress")
    return f"VPC egress {egress}" if egress else "no VPC egress"


def _service_summary(i: Inputs) -> str:
    template = i.get("template") or {}
    (container,) = template.get("containers") or [{}]
    limits = (container.get("resources") or {}).get("limits") or {}
    traffic = ", ".join(
        f"{t.get('percent')}% {t.get('revision') or 'latest'}" + (f" [{t['tag']}]" if t.get("tag") else "")
        for t in i.get("traffics") or []
    )
    return (
        f"image {container.get('image')}, {limits.get('cpu')} CPU {limits.get('memory')}, {_scaling(template)}"
        f" x{template.get('maxInstanceRequestConcurrency')}, ingress {i.get('ingress')}, {_egress(template)}, "
        f"{_secrets(container)}, traffic {traffic or 'app-owned'}, deletion protection {i.get('deletionProtection')}"
    )


def _job_summary(i: Inputs) -> str:
    template = (i.get("template") or {}).get("template") or {}
    (container,) = template.get("containers") or [{}]
    command = " ".join([*container.get("commands", []), *container.get("args", [])])
    return f"runs `{command}` on {container.get('image')}, {_egress(template)}, {_secrets(container)}"


def cpu_count(value: str | float | int | None) -> float:
    """A Kubernetes-style CPU quantity ("1", "2", "500m") in vCPUs; Cloud Run's default is 1."""
    text = str(value or "1")
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


_MEMORY_UNITS = {"Ki": 2**-20, "Mi": 2**-10, "Gi": 1.0, "K": 1e3 / 2**30, "M": 1e6 / 2**30, "G": 1e9 / 2**30}


def memory_gib(value: str | None) -> float:
    """A memory quantity ("512Mi", "1Gi", "2G") in GiB; Cloud Run's default is 512Mi."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMG]i?)?", str(value or "512Mi"))
    if not match:
        raise UnpricedError(f"memory limit '{value}' is not a quantity like 512Mi or 2Gi")
    return float(match[1]) * _MEMORY_UNITS[match[2]] if match[2] else float(match[1]) / 2**30


# Cloud Run's autoscaler keeps each instance at 60 % of its maximum concurrency by default
# (cloud.google.com/run/docs/configuring/scaling-controls).
CONCURRENCY_TARGET = 0.6
SCANNING_API = "containerscanning.googleapis.com"


def fleet(load: float, concurrency: int, minimum: int, maximum: int) -> tuple[float, float, float]:
    """(instances, busy, idle minimum instances) on average, for `load` requests in flight on average.

    Requests arrive at random (Poisson) and each keeps an instance busy for its latency, so the requests in flight are
    Poisson with mean `load`. The autoscaler runs N = max(minimum, ceil(load / (0.6 x concurrency))) instances (at
    most `maximum`) and spreads the requests over them; an instance is busy (has a request) with probability
    1 - exp(-load / N), so N x (1 - exp(-load / N)) instances are busy on average, and never fewer than
    load / concurrency (no instance holds more than `concurrency`). The minimum instances are idle the rest of the
    time. At low load this is `load` (every request alone on an instance), at high load N.
    """
    needed = math.ceil(load / (CONCURRENCY_TARGET * concurrency)) if load else 0
    instances = min(max(minimum, needed), max(maximum, minimum))
    if not instances:
        return 0.0, 0.0, 0.0
    busy = min(instances, max(instances * (1 - math.exp(-load / instances)), load / concurrency))
    return float(instances), busy, minimum * (1 - busy / instances)


def _service_price(r: Resource, ctx: Context) -> list[Usage]:
    """Request-based billing (cpuIdle): busy instances at the active rate, minimum instances at the idle rate while
    they wait, and the request fee. Instance-based billing: every instance all the time it runs, at the instance
    rate, and nothing per request. Each instance-second is billed once."""
    template = r.inputs.get("template") or {}
    containers = template.get("containers") or [{}]
    limits = [(c.get("resources") or {}) for c in containers]
    cpus = sum(cpu_count((res.get("limits") or {}).get("cpu")) for res in limits)
    memory = sum(memory_gib((res.get("limits") or {}).get("memory")) for res in limits)
    request_based = all(res.get("cpuIdle", True) is not False for res in limits)
    scaling = template.get("scaling") or {}
    minimum = max(
        int(scaling.get("minInstanceCount") or 0), int((r.inputs.get("scaling") or {}).get("minInstanceCount") or 0)
    )
    maximum = int(scaling.get("maxInstanceCount") or 100)
    concurrency = int(template.get("maxInstanceRequestConcurrency") or 80)
    # Each copy of a service that runs in several regions gets its share of the service's requests.
    requests = ctx.requests_of(ctx.component_of(r)) / ctx.copies_of(ctx.component_of(r))
    load = requests / SECONDS * ctx.profile.avg_request_ms / 1000
    instances, busy, idle = fleet(load, concurrency, minimum, maximum)
    where = ctx.elsewhere(r.inputs.get("location"))
    shape = f"{cpus:g} vCPU/{memory:g} GiB"
    if not request_based:
        running = f"{instances:g} instance(s) of {shape} all month (instance-based)"
        return [
            Usage(running, "run.instance.cpu", instances * cpus * SECONDS, where),
            Usage(f"{running}, memory", "run.instance.memory", instances * memory * SECONDS, where),
        ]
    serving = f"{busy:.3g} busy instance(s) of {shape} for {requests:,.0f} requests"
    usages = [
        Usage(serving, "run.request.cpu", busy * cpus * SECONDS, where),
        Usage(f"{serving}, memory", "run.request.memory", busy * memory * SECONDS, where),
        Usage(f"{requests:,.0f} requests", "run.requests", requests / 1e6, where),
    ]
    if minimum:
        waiting = f"{idle:.3g} idle minimum instance(s) of {shape}"
        usages.append(Usage(waiting, "run.idle.cpu", idle * cpus * SECONDS, where))
        usages.append(Usage(f"{waiting}, memory", "run.idle.memory", idle * memory * SECONDS, where))
    return [u for u in usages if u.quantity]


def _repository_price(r: Resource, ctx: Context) -> list[Usage]:
    """Stored images, and each newly pushed image's first vulnerability scan when scanning is on for the repository
    and the Container Scanning API is enabled."""
    usages = [Usage("image storage", "artifacts.storage", ctx.profile.artifact_gb)]
    scanning = (r.inputs.get("vulnerabilityScanningConfig") or {}).get("enablementConfig") != "DISABLED"
    api = any(s.inputs.get("service") == SCANNING_API for s in ctx.recording.of("gcp:projects/service:Service"))
    if scanning and api and ctx.profile.images_pushed_per_month:
        pushed = ctx.profile.images_pushed_per_month
        usages.append(Usage(f"{pushed} new images scanned", "artifacts.scan", pushed))
    return usages


def _sleep_seconds(resource: Resource) -> float:
    return float(str(resource.inputs.get("createDuration") or "0s").removesuffix("s"))


def _sleep_summary(i: Inputs) -> str:
    again = ", ".join(sorted(i.get("triggers") or {}))
    return f"waits {duration(i.get('createDuration'))} when created" + (f"; again when {again} change" if again else "")


RECORDS = (
    Facts(
        gcp.cloudrunv2.Service,
        outputs=_service,
        summary=_service_summary,
        create_seconds=60,
        price=_service_price,
        label=lambda i: f"Cloud Run {i.get('name')}",
    ),
    Facts(
        gcp.cloudrunv2.Job,
        outputs=_job,
        summary=_job_summary,
        create_seconds=20,
        free="billed only while a task runs, seconds per deploy: not priced (docs/estimates.md, Limits)",
        label=lambda i: f"Cloud Run job {i.get('name')}",
    ),
    Facts(
        gcp.artifactregistry.Repository,
        outputs=_repository,
        summary=_repository_summary,
        create_seconds=10,
        price=_repository_price,
        label=lambda i: "Artifact Registry",
    ),
    Facts(
        docker.Image,
        outputs=_image,
        summary=lambda i: f"{i.get('imageName')} from {(i.get('build') or {}).get('context')}",
        create_seconds=API_CALL,
        free="built and pushed from the deploying machine; stored images are priced per repository",
    ),
    grant(gcp.projects.IAMMember, lambda i: f"{i.get('role')} on project {i.get('project')}", _iam),
    Facts(
        time.Sleep,  # grants propagate before a revision needs them
        outputs=inputs_only,
        summary=_sleep_summary,
        create_seconds=_sleep_seconds,
        free="a wait during the deploy, not a cloud resource",
    ),
    grant(gcp.cloudrunv2.ServiceIamMember, lambda i: f"{i.get('role')} for {i.get('member')}", _iam),
    grant(
        gcp.artifactregistry.RepositoryIamMember,
        lambda i: f"{i.get('role')} on {i.get('repository')} for {i.get('member')}",
    ),
)
