#!/usr/bin/env bash
# Prove that a restore works on a (staging) stack, and how long it takes against the stack's RTO target:
#   1. clone the Cloud SQL instance to a point in time (PITR) and run a check query on the clone;
#   2. import the newest daily export of one database into a scratch database on the clone (exports are named
#      gs://BUCKET/cloudsql/INSTANCE/DATABASE/YYYYMMDDTHHMMSSZ.sql.gz, in UTC, so the newest sorts last);
#   3. delete the clone, even when a step fails. A clone inherits deletion protection from its source, so the clone's
#      protection is removed first; a clone that cannot be deleted fails the run (it would keep running, and billing).
#
# Usage: scripts/verify-recovery.sh [STACK]          (default: staging)
# Environment:
#   DATABASE      database to check (default: the first of the stack's database_names)
#   CHECK_QUERY   SQL that must succeed on the restored database (default: SELECT count(*) FROM pg_catalog.pg_tables)
#   MINUTES_AGO   how far back the point in time is (default: 10)
#   PROXY_WAIT    seconds to give cloud-sql-proxy to start (default: 5)
# Needs pulumi, gcloud, jq, psql and cloud-sql-proxy, and a route to the VPC (the instances have private IPs only).
set -euo pipefail

STACK="${1:-staging}"
CHECK_QUERY="${CHECK_QUERY:-SELECT count(*) FROM pg_catalog.pg_tables}"
MINUTES_AGO="${MINUTES_AGO:-10}"
PROXY_PORT="${PROXY_PORT:-55432}"
PROXY_WAIT="${PROXY_WAIT:-5}"

if [[ "${STACK}" == "prod" && "${ALLOW_PROD:-}" != "yes" ]]; then
  echo "refusing to rehearse on prod; run it on staging (or set ALLOW_PROD=yes if you really mean it)" >&2
  exit 2
fi
for tool in pulumi gcloud jq psql cloud-sql-proxy; do
  command -v "${tool}" >/dev/null || { echo "missing tool: ${tool}" >&2; exit 2; }
done

outputs="$(pulumi stack output --json --show-secrets --stack "${STACK}")"
output() { jq -er "$1" <<<"${outputs}"; }

bucket="$(output '.backup_bucket')"
rto_minutes="$(output '.recovery_objectives.rto_minutes')"
IFS=: read -r project region instance <<<"$(output '.database_connection_name')"
database="${DATABASE:-$(output '.database_names[0]')}"
user="$(jq -er --arg db "${database}" '.database_users[$db]' <<<"${outputs}")"
secret_id="$(jq -er --arg db "${database}" '.database_password_secret_ids[$db]' <<<"${outputs}")"
clone="${instance}-verify-$(date -u +%m%d%H%M)"
point_in_time="$(date -u -d "-${MINUTES_AGO} min" +%Y-%m-%dT%H:%M:%SZ)"
exports="gs://${bucket}/cloudsql/${instance}/${database}/"
proxy_pid=""
granted_sa=""

cleanup() {
  local status=$?
  if [[ -n "${proxy_pid}" ]]; then
    kill "${proxy_pid}" 2>/dev/null || true
  fi
  if [[ -n "${granted_sa}" ]]; then
    gcloud storage buckets remove-iam-policy-binding "gs://${bucket}" \
      --member "serviceAccount:${granted_sa}" --role roles/storage.objectViewer >/dev/null || true
  fi
  if gcloud sql instances describe "${clone}" --project "${project}" >/dev/null 2>&1; then
    echo "deleting the clone ${clone}"
    if ! gcloud sql instances patch "${clone}" --no-deletion-protection --project "${project}" --quiet ||
      ! gcloud sql instances delete "${clone}" --project "${project}" --quiet; then
      echo "could not delete the clone ${clone}: it keeps running (and billing) until deleted by hand:" \
        "gcloud sql instances patch ${clone} --no-deletion-protection --project ${project} &&" \
        "gcloud sql instances delete ${clone} --project ${project}" >&2
      if ((status == 0)); then status=1; fi
    fi
  fi
  exit "${status}"
}
trap cleanup EXIT

# The newest export: object names are UTC timestamps, so lexical order is time order.
newest_export() {
  local listing
  listing="$(gcloud storage ls "${exports}")" || return 1
  grep -E '/[0-9]{8}T[0-9]{6}Z\.sql\.gz$' <<<"${listing}" | sort | tail -n 1
}
export_uri="$(newest_export)" || true
if [[ -z "${export_uri}" ]]; then
  echo "no export under ${exports}; run the export job first (docs/operations/backup-recovery.md)" >&2
  exit 1
fi

started="$(date +%s)"
echo "1/3 cloning ${instance} as it was at ${point_in_time} into ${clone} (project ${project}, ${region})"
gcloud sql instances clone "${instance}" "${clone}" --point-in-time "${point_in_time}" --project "${project}"

echo "2/3 running the check query on ${database} in the clone"
password="$(gcloud secrets versions access latest --secret "${secret_id}" --project "${project}")"
cloud-sql-proxy --private-ip --port "${PROXY_PORT}" "${project}:${region}:${clone}" &
proxy_pid=$!
sleep "${PROXY_WAIT}"
PGPASSWORD="${password}" psql "host=127.0.0.1 port=${PROXY_PORT} dbname=${database} user=${user} sslmode=disable" \
  --no-psqlrc --set ON_ERROR_STOP=1 --command "${CHECK_QUERY}"

echo "3/3 importing the newest export ${export_uri} into a scratch database"
clone_sa="$(gcloud sql instances describe "${clone}" --project "${project}" --format 'value(serviceAccountEmailAddress)')"
gcloud storage buckets add-iam-policy-binding "gs://${bucket}" \
  --member "serviceAccount:${clone_sa}" --role roles/storage.objectViewer >/dev/null
granted_sa="${clone_sa}"
gcloud sql databases create "${database}_verify" --instance "${clone}" --project "${project}"
gcloud sql import sql "${clone}" "${export_uri}" --database "${database}_verify" --project "${project}" --quiet
PGPASSWORD="${password}" psql "host=127.0.0.1 port=${PROXY_PORT} dbname=${database}_verify user=${user} sslmode=disable" \
  --no-psqlrc --set ON_ERROR_STOP=1 --command "${CHECK_QUERY}"

elapsed_minutes=$(( ($(date +%s) - started + 59) / 60 ))
echo "restore verified in ${elapsed_minutes} min (RTO target ${rto_minutes} min)"
if (( elapsed_minutes > rto_minutes )); then
  echo "the restore took longer than the RTO target; revisit the target or the restore path" >&2
  exit 1
fi
