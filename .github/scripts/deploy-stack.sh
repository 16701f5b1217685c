#!/usr/bin/env bash
# Updates one stack so that database migrations finish before any new service revision takes traffic:
#   1. preview the update with the policy pack (a violation stops here) and find the Cloud Run jobs it changes;
#   2. if the stack already has migrations jobs and the update changes jobs, update only those jobs (--target) and
#      run every migrations job to completion; services still serve the old revision meanwhile;
#   3. update the whole stack: services roll to their new revisions and take traffic;
#   4. on the first deploy of a stack (no migrations job yet), run the new migrations jobs right after they exist.
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

# The migrations jobs the stack exports (`migration_jobs`: service -> job; older stacks: `migration_job_name`). A
# failing `pulumi stack output` stops the deploy; a stack without the outputs has no jobs yet.
jobs() {
  local outputs
  outputs="$(pulumi stack output --json)" || return 1
  jq -r '(.migration_jobs // (if .migration_job_name then {"": .migration_job_name} else {} end))[]' <<<"$outputs"
}
migrate() {
  for job in "$@"; do
    echo "Running migrations job $job in $project/$region"
    gcloud run jobs execute "$job" --project "$project" --region "$region" --wait
  done
}

existing_jobs="$(jobs)"
mapfile -t existing < <(printf '%s' "$existing_jobs" | sed '/^$/d')
plan="$(pulumi preview --refresh --json --non-interactive "${policy[@]}")" # a policy violation stops the deploy here
mapfile -t changed_jobs < <(
  jq -r '.steps[]? | select(.op != "same") | .urn | select(test("gcp:cloudrunv2/job:Job::"))' <<<"$plan"
)

if [[ ${#existing[@]} -gt 0 && ${#changed_jobs[@]} -gt 0 ]]; then
  targets=()
  for urn in "${changed_jobs[@]}"; do targets+=(--target "$urn"); done
  pulumi up --refresh --yes --non-interactive "${policy[@]}" "${targets[@]}"
  migrate "${existing[@]}"
fi

pulumi up --refresh --yes --non-interactive "${policy[@]}"

if [[ ${#existing[@]} -eq 0 ]]; then
  created_jobs="$(jobs)"
  mapfile -t created < <(printf '%s' "$created_jobs" | sed '/^$/d')
  migrate "${created[@]}"
fi
