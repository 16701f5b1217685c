"""The export workflows (Cloud Workflows), built from plain data and rendered as YAML.

A scheduled Cloud Scheduler job can only send a fixed request, so it cannot name a new object per run, and Cloud SQL
refuses an export to an object that exists. A workflow execution can: it names each export after the time it starts
(`YYYYMMDDTHHMMSSZ`, UTC, so names sort by time), waits for the operation, and fails when an export fails, which
the backup-failure alert reads from the execution's log.

- Cloud SQL: the Cloud SQL Admin connector (`googleapis.sqladmin.v1.instances.export`) waits for the long-running
  operation and raises when it fails or times out. Databases are exported one after another (Cloud SQL runs one
  operation at a time); "another operation is in progress" (HTTP 409) is retried with backoff; a database that still
  fails is recorded and the others are exported before the execution fails.
- Memorystore: no connector is documented for it, so the workflow calls the REST method (`instances:export`) and
  polls the long-running operation until it is done, then fails if it carries an error or takes too long. A busy
  instance (maintenance, a failover, a scale, an import) answers 400 FAILED_PRECONDITION ("ongoing operations"), which
  is retried with the same backoff, as is a 409.
"""

from __future__ import annotations

from typing import Any

import yaml

Definition = dict[str, Any]

# The UTC time an expression runs at as YYYYMMDDTHHMMSSZ: time.format gives "2024-01-10T16:15:54.615087Z".
STAMP = 'text.replace_all(text.replace_all(text.substring(time.format(sys.now()), 0, 19), "-", ""), ":", "") + "Z"'
SQLADMIN_EXPORT = "googleapis.sqladmin.v1.instances.export"
REDIS_API = "https://redis.googleapis.com/v1/"
BUSY = "busy"  # the subworkflow that says whether an error is "another operation is in progress"
POLL_SECONDS = 30
# Retry an export refused because the instance is busy (a backup, maintenance, another export): 55 minutes of waits.
BUSY_RETRIES = 8
BUSY_BACKOFF = {"initial_delay": 60, "max_delay": 600, "multiplier": 2}
RETRY_BUSY = {"predicate": "${" + BUSY + "}", "max_retries": BUSY_RETRIES, "backoff": BUSY_BACKOFF}


def busy_retry_seconds() -> int:
    """The longest an export waits for a busy instance before it starts: the sum of RETRY_BUSY's back-offs, each the
    previous times `multiplier`, capped at `max_delay` (60 + 120 + 240 + 480 + 4 x 600 = 3300 s)."""
    delay, total = BUSY_BACKOFF["initial_delay"], 0
    for _ in range(BUSY_RETRIES):
        total += delay
        delay = min(delay * BUSY_BACKOFF["multiplier"], BUSY_BACKOFF["max_delay"])
    return total


def _uri(prefix: str, suffix: str) -> str:
    return "${" + f'"{prefix}" + {STAMP} + "{suffix}"' + "}"


def cloudsql_prefix(bucket: str, instance: str, database: str) -> str:
    return f"gs://{bucket}/cloudsql/{instance}/{database}/"


def redis_prefix(bucket: str, instance: str) -> str:
    return f"gs://{bucket}/redis/{instance}/"


def _busy(*, failed_precondition: bool = False) -> Definition:
    """HTTP 409; with `failed_precondition`, also a 400 whose Google API error status is FAILED_PRECONDITION (read
    null-safely: map.get returns null through anything that is not a map)."""
    busy = 'map.get(e, "code") == 409'
    if failed_precondition:
        status = 'map.get(e, ["body", "error", "status"]) == "FAILED_PRECONDITION"'
        busy = f'{busy} or (map.get(e, "code") == 400 and {status})'
    return {"params": ["e"], "steps": [{"answer": {"return": "${" + busy + "}"}}]}


def _export_database(project: str, bucket: str, instance: str, database: str, timeout: int) -> Definition:
    """One database to a new object; a failure is recorded so that the next database is still exported."""
    body = {"exportContext": {"fileType": "SQL", "uri": "${uri}", "databases": [database], "offload": True}}
    call = {
        "call": SQLADMIN_EXPORT,
        "args": {"project": project, "instance": instance, "body": body, "connector_params": {"timeout": timeout}},
        "result": "operation",
    }
    return {
        f"export_{database}": {
            "try": {
                "steps": [
                    {
                        f"name_{database}": {
                            "assign": [{"uri": _uri(cloudsql_prefix(bucket, instance, database), ".sql.gz")}]
                        }
                    },
                    {f"call_{database}": call},
                    {f"record_{database}": {"assign": [{"exported": "${list.concat(exported, uri)}"}]}},
                ]
            },
            "retry": RETRY_BUSY,
            "except": {
                "as": "e",
                "steps": [
                    {
                        f"fail_{database}": {
                            "assign": [
                                {"failure": {"database": database, "error": "${e}"}},
                                {"failed": "${list.concat(failed, failure)}"},
                            ]
                        }
                    }
                ],
            },
        }
    }


def database_workflow(project: str, bucket: str, instance: str, databases: list[str], timeout: int) -> Definition:
    """Export each database of the Cloud SQL instance to `gs://BUCKET/cloudsql/INSTANCE/DATABASE/<time>.sql.gz`;
    `timeout` (seconds) bounds each export. Returns the objects written; raises if any export failed."""
    steps: list[Definition] = [{"init": {"assign": [{"exported": []}, {"failed": []}]}}]
    steps += [_export_database(project, bucket, instance, db, timeout) for db in databases]
    steps += [
        {"check": {"switch": [{"condition": "${len(failed) > 0}", "next": "fail"}]}},
        {"done": {"return": "${exported}"}},
        {"fail": {"raise": {"message": "Cloud SQL export failed", "failures": "${failed}"}}},
    ]
    return {"main": {"steps": steps}, BUSY: _busy()}


def redis_workflow(project: str, region: str, bucket: str, instance: str, timeout: int) -> Definition:
    """Export the Memorystore instance to `gs://BUCKET/redis/INSTANCE/<time>.rdb` and wait up to `timeout` seconds
    for it. Returns the object written; raises if the export failed or did not finish in time."""
    oauth = {"type": "OAuth2"}
    name = f"projects/{project}/locations/{region}/instances/{instance}"
    done = 'map.get(operation.body, "done") == true'
    steps: list[Definition] = [
        {"name": {"assign": [{"uri": _uri(redis_prefix(bucket, instance), ".rdb")}, {"waited": 0}]}},
        {
            "start": {
                "try": {
                    "call": "http.post",
                    "args": {
                        "url": f"{REDIS_API}{name}:export",
                        "auth": oauth,
                        "body": {"outputConfig": {"gcsDestination": {"uri": "${uri}"}}},
                    },
                    "result": "started",
                },
                "retry": RETRY_BUSY,
            }
        },
        {"wait": {"call": "sys.sleep", "args": {"seconds": POLL_SECONDS}}},
        {
            "poll": {
                "try": {
                    "call": "http.get",
                    "args": {"url": '${"' + REDIS_API + '" + started.body.name}', "auth": oauth},
                    "result": "operation",
                },
                "retry": "${http.default_retry}",
            }
        },
        {"count": {"assign": [{"waited": f"${{waited + {POLL_SECONDS}}}"}]}},
        {
            "check": {
                "switch": [
                    {"condition": f"${{not({done}) and waited < {timeout}}}", "next": "wait"},
                    {"condition": f"${{not({done})}}", "next": "timed_out"},
                    {"condition": '${map.get(operation.body, "error") != null}', "next": "failed"},
                ]
            }
        },
        {"done": {"return": "${uri}"}},
        {"timed_out": {"raise": {"message": "Memorystore export timed out", "operation": "${started.body.name}"}}},
        {"failed": {"raise": {"message": "Memorystore export failed", "error": "${operation.body.error}"}}},
    ]
    return {"main": {"steps": steps}, BUSY: _busy(failed_precondition=True)}


class _NoAliases(yaml.SafeDumper):
    """Writes a dict used twice (a retry policy, `auth`) out in full each time: PyYAML would otherwise write an anchor
    and an alias (`&id001`, `*id001`), which no Workflows page says its parser resolves."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def to_yaml(definition: Definition) -> str:
    """The workflow source as Cloud Workflows reads it: plain YAML, no anchors or aliases."""
    return yaml.dump(definition, Dumper=_NoAliases, sort_keys=False, width=1000)
