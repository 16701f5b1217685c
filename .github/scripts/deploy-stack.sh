#!/usr/bin/env bash
# Updates one stack so that database migrations finish before any new service revision takes traffic:
#   1. preview the update with the policy pack (a violation stops here, named by a second, human-readable preview: the
#      JSON preview leaves policy events out) and read from it the Cloud Run jobs the update creates or changes (the
#      program's only jobs are migrations jobs; their names come from the preview's new state) and the Cloud Run
#      services it changes;
#   2. if it creates or changes jobs and changes services: update everything but those services and what depends on
#      them (--exclude ... --exclude-dependents: a new job's account and grants are created too), then run each of those
#      jobs to completion; the services still serve the old revision meanwhile. A job the update deletes is never run;
#   3. update the whole stack: services roll to their new revisions and take traffic. When jobs change but no service
#      does, they run after this update instead (no revision changes hands).
# The first deploy of a stack is no exception: its jobs are created in step 2 and run before its services exist.
# Every preview and update refreshes first (--refresh): app-owned services ignore changes to their image, revision and
# traffic, and without a refresh Pulumi would send the stale values from its state with the next template change,
# putting the bootstrap image back with all traffic (docs/compute.md).
# Usage: deploy-stack.sh STACK   (needs pulumi, gcloud and jq; GCP credentials for the stack's deployer)
set -euo pipefail

stack="${1:?usage: deploy-stack.sh STACK}"
policy=(--policy-pack policy --policy-pack-config "policy/config/${stack}.json")

pulumi stack select "$stack"
project="$(pulumi config get --path platform:gcp.project)"
region="$(pulumi config get --path platform:gcp.region)"

migrate() {
  for job in "$@"; do
    echo "Running migrations job $job in $project/$region"
    gcloud run jobs execute "$job" --project "$project" --region "$region" --wait
  done
}

if ! plan="$(pulumi preview --refresh --json --non-interactive "${policy[@]}")"; then
  echo "::error title=Preview of $stack failed::the preview below says why (policy violations included)"
  pulumi preview --refresh --non-interactive "${policy[@]}" || true
  exit 1
fi
# Steps that leave a resource in place after the update (a delete, or the old half of a replacement, does not).
ops='["create", "update", "replace", "create-replacement", "import", "import-replacement"]'
# shellcheck disable=SC2016 # jq programs
job_names="$(jq -r --argjson ops "$ops" '[.steps[]? | select(.op as $op | $ops | index($op))
  | select(.urn | test("gcp:cloudrunv2/job:Job::"))
  | .newState.inputs.name // error("a Cloud Run job in the preview has no name: \(.urn)")] | unique[]' <<<"$plan")"
# shellcheck disable=SC2016
service_urns="$(jq -r --argjson ops "$ops" '[.steps[]? | select(.op as $op | $ops | index($op)) | .urn
  | select(test("gcp:cloudrunv2/service:Service::"))] | unique[]' <<<"$plan")"
mapfile -t jobs < <(printf '%s' "$job_names" | sed '/^$/d')
mapfile -t services < <(printf '%s' "$service_urns" | sed '/^$/d')

if [[ ${#jobs[@]} -gt 0 && ${#services[@]} -gt 0 ]]; then
  excluded=()
  for urn in "${services[@]}"; do excluded+=(--exclude "$urn"); done
  pulumi up --refresh --yes --non-interactive "${policy[@]}" "${excluded[@]}" --exclude-dependents
  migrate "${jobs[@]}"
  pulumi up --refresh --yes --non-interactive "${policy[@]}"
else
  pulumi up --refresh --yes --non-interactive "${policy[@]}"
  migrate "${jobs[@]}"
fi
