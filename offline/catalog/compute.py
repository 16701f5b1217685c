"""Compute types: the Artifact Registry repository, built images, Cloud Run services and jobs, their service accounts
and IAM grants."""

from __future__ import annotations

import hashlib

from offline.catalog import Inputs, MockContext, MockOutputs, Summary, named

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


MOCK_OUTPUTS: dict[str, MockOutputs] = {
    "gcp:artifactregistry/repository:Repository": _repository,
    "docker:index/image:Image": _image,
    "gcp:cloudrunv2/service:Service": _service,
    "gcp:cloudrunv2/job:Job": _job,
    "gcp:projects/iAMMember:IAMMember": _iam,
    "gcp:cloudrunv2/serviceIamMember:ServiceIamMember": _iam,
}


def _repository_summary(i: Inputs) -> str:
    policies = ", ".join(p["id"] for p in i.get("cleanupPolicies") or []) or "none"
    dry = " (dry run)" if i.get("cleanupPolicyDryRun") else ""
    scanning = (i.get("vulnerabilityScanningConfig") or {}).get("enablementConfig")
    immutable = (i.get("dockerConfig") or {}).get("immutableTags")
    return (
        f"{i.get('format')} in {i.get('location')}, scanning {scanning}, tags {'immutable' if immutable else 'mutable'}"
        f", cleanup {policies}{dry}, deletion {i.get('deletionPolicy')}"
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


SUMMARIES: dict[str, Summary] = {
    "gcp:artifactregistry/repository:Repository": _repository_summary,
    "docker:index/image:Image": lambda i: f"{i.get('imageName')} from {(i.get('build') or {}).get('context')}",
    "gcp:cloudrunv2/service:Service": _service_summary,
    "gcp:cloudrunv2/job:Job": _job_summary,
    "gcp:projects/iAMMember:IAMMember": lambda i: f"{i.get('role')} on project {i.get('project')}",
    "gcp:cloudrunv2/serviceIamMember:ServiceIamMember": lambda i: f"{i.get('role')} for {i.get('member')}",
}
