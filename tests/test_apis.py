"""Every Google Cloud resource waits for the API it calls: on a new project, `pulumi up` must not race enablement."""

from __future__ import annotations

import pytest

from offline.engine import Recording
from tests.conftest import ALL_STACKS

# Provider module -> the API its resources call. Project-level IAM and the Service resources themselves go through
# Cloud Resource Manager and Service Usage, which every project has on.
API_OF_MODULE = {
    "artifactregistry": "artifactregistry.googleapis.com",
    "bigquery": "bigquery.googleapis.com",
    "binaryauthorization": "binaryauthorization.googleapis.com",
    "billing": "billingbudgets.googleapis.com",
    "certificatemanager": "certificatemanager.googleapis.com",
    "cloudrunv2": "run.googleapis.com",
    "cloudscheduler": "cloudscheduler.googleapis.com",
    "compute": "compute.googleapis.com",
    "container": "container.googleapis.com",
    "containeranalysis": "containeranalysis.googleapis.com",
    "iap": "iap.googleapis.com",
    "kms": "cloudkms.googleapis.com",
    "logging": "logging.googleapis.com",
    "monitoring": "monitoring.googleapis.com",
    "pubsub": "pubsub.googleapis.com",
    "redis": "redis.googleapis.com",
    "secretmanager": "secretmanager.googleapis.com",
    "serviceaccount": "iam.googleapis.com",
    "servicenetworking": "servicenetworking.googleapis.com",
    "sql": "sqladmin.googleapis.com",
    "storage": "storage.googleapis.com",
    "workflows": "workflows.googleapis.com",
}
API_OF_TYPE = {"gcp:projects/iAMCustomRole:IAMCustomRole": "iam.googleapis.com"}


def _api(resource_type: str) -> str | None:
    package, module, _ = resource_type.split(":")
    if package != "gcp":
        return None
    return API_OF_TYPE.get(resource_type) or API_OF_MODULE.get(module.split("/")[0])


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_every_google_resource_waits_for_its_api(program: Recording) -> None:
    enabled = {r.inputs["service"]: r for r in program.of("gcp:projects/service:Service")}
    racing = [
        (r.name, api)
        for r in program.resources
        if r.custom and (api := _api(r.type)) is not None and not program.depends_on(r, enabled[api])
    ]
    assert racing == []


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_the_map_covers_every_google_type_the_stacks_create(program: Recording) -> None:
    unknown = {
        r.type
        for r in program.resources
        if r.custom and r.type.startswith("gcp:") and _api(r.type) is None and not r.type.startswith("gcp:projects/")
    }
    assert unknown == set()
