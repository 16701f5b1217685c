"""Types several areas use: service accounts, custom roles, Cloud Storage buckets and their IAM, Cloud Scheduler
jobs."""

from __future__ import annotations

import base64
import json

from offline.catalog import Inputs, MockContext, MockOutputs, Summary, named


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
        f"retention {kept}" + (f", lifecycle {' '.join(classes)}" if classes else "")
    )


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


MOCK_OUTPUTS: dict[str, MockOutputs] = {
    "gcp:serviceaccount/account:Account": _account,
    "gcp:storage/bucket:Bucket": _bucket,
    "gcp:storage/bucketIAMMember:BucketIAMMember": lambda c, name, i: {
        "id": f"b/{i.get('bucket')}/{i.get('role')}/{i.get('member')}",
        "etag": "BwYfake=",
    },
    "gcp:cloudscheduler/job:Job": lambda c, name, i: {
        "id": f"projects/{c.project}/locations/{i.get('region') or c.region}/jobs/{named(i, name)}",
    },
    "gcp:projects/iAMCustomRole:IAMCustomRole": lambda c, name, i: {
        "id": f"projects/{c.project}/roles/{i.get('roleId')}",
        "name": f"projects/{c.project}/roles/{i.get('roleId')}",
    },
}

SUMMARIES: dict[str, Summary] = {
    "gcp:serviceaccount/account:Account": lambda i: (
        f"{i.get('accountId')}: {i.get('displayName') or i.get('description') or ''}".rstrip(": ")
    ),
    "gcp:storage/bucket:Bucket": _bucket_summary,
    "gcp:storage/bucketIAMMember:BucketIAMMember": lambda i: f"{i.get('role')} to {i.get('member')}",
    "gcp:cloudscheduler/job:Job": _job,
    "gcp:projects/iAMCustomRole:IAMCustomRole": lambda i: f"{i.get('roleId')}: {', '.join(i.get('permissions', []))}",
}
