#!/usr/bin/env bash
# Updates one stack so that database migrations finish before any new service revision takes traffic:
#   1. preview the update with the policy pack (a violation stops here) and find the Cloud Run jobs it changes;
#   2. if the stack already has a migrations job and the update changes jobs, update only those jobs (--target) and
#      run the migrations job to completion; services still serve the old revision meanwhile;
#   3. update the whole stack: services roll to their new revisions and take traffic;
#   4. on the first deploy of a stack (no migrations job yet), run the new migrations job right after it is created.
# Usage: deploy-stack.sh STACK   (needs pulumi, gcloud and jq; GCP credentials for the stack's deployer)
set -euo pipefail

stack="${1:?usage: deploy-stack.sh STACK}"
policy=(--policy-pack policy --policy-pack-config "policy/config/${stack}.json")

pulumi stack select "$stack"
project="$(pulumi config get --path platform:gcp.project)"
region="$(pulumi config get --path platform:gcp.region)"

migrate() {
  echo "Running migrations job $1 in $project/$region"
  gcloud run jobs execute "$1" --project "$project" --region "$region" --wait
}

job="$(pulumi stack output migration_job_name 2>/dev/null || true)"
plan="$(pulumi preview --json --non-interactive "${policy[@]}")"  # a policy violation stops the deploy here
mapfile -t changed_jobs < <(
  jq -r '.steps[]? | select(.op != "same") | .urn | select(test("gcp:cloudrunv2/job:Job::"))' <<<"$plan"
)

if [[ -n "$job" && ${#changed_jobs[@]} -gt 0 ]]; then
  targets=()
  for urn in "${changed_jobs[@]}"; do targets+=(--target "$urn"); done
  pulumi up --yes --non-interactive "${policy[@]}" "${targets[@]}"
  migrate "$job"
fi

pulumi up --yes --non-interactive "${policy[@]}"

if [[ -z "$job" ]]; then
  job="$(pulumi stack output migration_job_name 2>/dev/null || true)"
  if [[ -n "$job" ]]; then migrate "$job"; fi
fi
