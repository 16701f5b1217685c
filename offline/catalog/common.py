"""Types several areas use: service accounts, custom roles, IAM grants, Cloud Storage buckets, Cloud Scheduler jobs."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING

import pulumi
import pulumi_gcp as gcp

from components.config_types import REGIONS
from offline.catalog.facts import API_CALL, Facts, Inputs, MockContext, MockOutputs, Summary, inputs_only, named
from offline.estimate.pricing import Context, Usage, fixed

if TYPE_CHECKING:
    from offline.engine import Resource

IAM_IS_FREE = "IAM grants, roles and service accounts cost nothing"


def grant(resource: type[pulumi.CustomResource], summary: Summary, outputs: MockOutputs = inputs_only) -> Facts:
    """The record of an IAM grant type: free, created by one API call."""
    return Facts(resource, outputs=outputs, summary=summary, create_seconds=API_CALL, free=IAM_IS_FREE)


def to_member(i: Inputs) -> str:
    return f"{i.get('role')} to {i.get('member')}"


def duration(seconds: str | None) -> str:
    """A duration input ("604800s") as a reviewer reads it ("7 days")."""
    value = int(str(seconds or "0s").removesuffix("s"))
    if value and value % 86400 == 0:
        return f"{value // 86400} days"
    return f"{value // 60} min" if value >= 60 else f"{value}s"


def _account(c: MockContext, name: str, i: Inputs) -> Inputs:
    project = i.get("project") or c.project
    email = f"{i.get('accountId') or name}@{project}.iam.gserviceaccount.com"
    path = f"projects/{project}/serviceAccounts/{email}"
    return {"id": path, "name": path, "email": email, "member": f"serviceAccount:{email}", "uniqueId": c.project_number}


def _bucket(c: MockContext, name: str, i: Inputs) -> Inputs:
    bucket = named(i, name)
    return {
        "id": bucket,
        "name": bucket,
        "url": f"gs://{bucket}",
        "selfLink": f"https://www.googleapis.com/storage/v1/b/{bucket}",
        "projectNumber": c.project_number,
    }


def _bucket_summary(i: Inputs) -> str:
    uniform = "uniform access" if i.get("uniformBucketLevelAccess") else "ACLs"
    versioning = "on" if (i.get("versioning") or {}).get("enabled") else "off"
    soft_delete = int((i.get("softDeletePolicy") or {}).get("retentionDurationSeconds", 0)) // 86400
    retention = i.get("retentionPolicy")
    kept = (
        f"{int(retention['retentionPeriod']) // 86400}d{' LOCKED' if retention.get('isLocked') else ''}"
        if retention
        else "none"
    )
    classes = [
        f"{r['action']['storageClass']}@{r['condition']['age']}d"
        for r in i.get("lifecycleRules") or []
        if r["action"]["type"] == "SetStorageClass"
    ]
    return (
        f"{i.get('location')} {i.get('storageClass', 'STANDARD')}, {uniform}, public access prevention "
        f"{i.get('publicAccessPrevention', 'inherited')}, versioning {versioning}, soft delete {soft_delete}d, "
        f"retention {kept}"
        + (f", lifecycle {' '.join(classes)}" if classes else "")
        + (", CMEK" if (i.get("encryption") or {}).get("defaultKmsKeyName") else "")
    )


def _bucket_price(r: Resource, ctx: Context) -> list[Usage]:
    storage_class = str(r.inputs.get("storageClass") or "STANDARD").upper()
    location = str(r.inputs.get("location") or "US").upper()
    # Single regions share one list price in the table (EU and US regions differ by cents); multi- and dual-regions
    # have their own.
    where = "regional" if location.lower() in REGIONS else location
    return [
        Usage(
            f"{ctx.profile.bucket_gb:g} GB {storage_class} in {location}",
            f"storage.{where}.{storage_class}",
            ctx.profile.bucket_gb,
            ctx.elsewhere(location),
        )
    ]


def _job(i: Inputs) -> str:
    http = i.get("httpTarget") or {}
    body = json.loads(base64.b64decode(http["body"])) if http.get("body") else {}
    target = (
        (body.get("exportContext") or {}).get("uri")
        or ((body.get("outputConfig") or {}).get("gcsDestination") or {}).get("uri")
        or (
            (body.get("settings") or {}).get("activationPolicy")
            and f"activationPolicy={body['settings']['activationPolicy']}"
        )
    )
    return f"'{i.get('schedule')}' {i.get('timeZone')}: {http.get('httpMethod')} {http.get('uri')}" + (
        f" -> {target}" if target else ""
    )


RECORDS = (
    Facts(
        gcp.serviceaccount.Account,
        outputs=_account,
        summary=lambda i: f"{i.get('accountId')}: {i.get('displayName') or i.get('description') or ''}".rstrip(": "),
        create_seconds=API_CALL,
        free=IAM_IS_FREE,
    ),
    grant(
        gcp.serviceaccount.IAMMember,
        lambda i: f"{i.get('role')} to {i.get('member')} on {str(i.get('serviceAccountId')).rsplit('/', 1)[-1]}",
    ),
    Facts(
        gcp.projects.IAMCustomRole,
        outputs=lambda c, name, i: {
            "id": f"projects/{c.project}/roles/{i.get('roleId')}",
            "name": f"projects/{c.project}/roles/{i.get('roleId')}",
        },
        summary=lambda i: f"{i.get('roleId')}: {', '.join(i.get('permissions', []))}",
        create_seconds=API_CALL,
        free=IAM_IS_FREE,
    ),
    Facts(
        gcp.storage.Bucket,
        outputs=_bucket,
        summary=_bucket_summary,
        create_seconds=5,
        price=_bucket_price,
        label=lambda i: f"Cloud Storage {i.get('storageClass') or 'STANDARD'} {i.get('location')}",
    ),
    grant(
        gcp.storage.BucketIAMMember,
        to_member,
        lambda c, name, i: {"id": f"b/{i.get('bucket')}/{i.get('role')}/{i.get('member')}", "etag": "BwYfake="},
    ),
    Facts(
        gcp.cloudscheduler.Job,
        outputs=lambda c, name, i: {
            "id": f"projects/{c.project}/locations/{i.get('region') or c.region}/jobs/{named(i, name)}",
        },
        summary=_job,
        create_seconds=5,
        price=fixed("job", "scheduler.job"),
        label=lambda i: "Cloud Scheduler",
    ),
)
