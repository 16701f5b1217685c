"""Types of the database office-hours schedule: its service account, custom role and Cloud Scheduler jobs."""

from __future__ import annotations

import base64
import json

from offline.catalog import Inputs, MockContext, MockOutputs, Summary, named


def _account(c: MockContext, name: str, i: Inputs) -> Inputs:
    email = f"{i.get('accountId') or name}@{c.project}.iam.gserviceaccount.com"
    return {"id": f"projects/{c.project}/serviceAccounts/{email}", "email": email, "member": f"serviceAccount:{email}"}


def _job(i: Inputs) -> str:
    target = i.get("httpTarget") or {}
    body = json.loads(base64.b64decode(target.get("body") or "e30="))  # e30= is {}
    policy = (body.get("settings") or {}).get("activationPolicy")
    return f"'{i.get('schedule')}' {i.get('timeZone')}: {target.get('httpMethod')} activationPolicy={policy}"


MOCK_OUTPUTS: dict[str, MockOutputs] = {
    "gcp:serviceaccount/account:Account": _account,
    "gcp:projects/iAMCustomRole:IAMCustomRole": lambda c, name, i: {
        "id": f"projects/{c.project}/roles/{i.get('roleId')}",
        "name": f"projects/{c.project}/roles/{i.get('roleId')}",
    },
    "gcp:cloudscheduler/job:Job": lambda c, name, i: {
        "id": f"projects/{c.project}/locations/{i.get('region') or c.region}/jobs/{named(i, name)}",
    },
}

SUMMARIES: dict[str, Summary] = {
    "gcp:cloudscheduler/job:Job": _job,
    "gcp:projects/iAMCustomRole:IAMCustomRole": lambda i: f"permissions {', '.join(i.get('permissions') or [])}",
}
