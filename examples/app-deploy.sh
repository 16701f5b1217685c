#!/usr/bin/env bash
# Deploys a new image of one app service using only the platform's stack outputs (docs/outputs.md):
#   1. the image must already be in the platform's registry (image_repository);
#   2. the migrations job (migration_job_name) runs the new image to completion;
#   3. a new revision of the service starts with no traffic, tagged `candidate`, and must answer /healthz;
#   4. only then does all traffic move to it. The previous revision stays, for .github/workflows/rollback.yml.
# Usage: examples/app-deploy.sh STACK SERVICE TAG   e.g. examples/app-deploy.sh staging api 2026-11-22.3
# Needs pulumi (logged in to the platform's state backend), gcloud, jq and curl.
set -euo pipefail

stack="${1:?usage: app-deploy.sh STACK SERVICE TAG}"
service="${2:?usage: app-deploy.sh STACK SERVICE TAG}"
tag="${3:?usage: app-deploy.sh STACK SERVICE TAG}"

outputs="$(pulumi stack output --json --stack "$stack")"
output() { jq -er "$@" <<<"$outputs"; }

repository="$(output '.image_repository')"  # REGION-docker.pkg.dev/PROJECT/REPOSITORY
job="$(output '.migration_job_name')"
# shellcheck disable=SC2016 # $s is a jq variable
url="$(output --arg s "$service" '.service_urls[$s]')"
region="${repository%%-docker.pkg.dev/*}"
project="$(cut -d/ -f2 <<<"$repository")"
image="$repository/$service:$tag"
where=(--project "$project" --region "$region")

gcloud artifacts docker images describe "$image" --format 'value(image_summary.digest)' >/dev/null
name="$(gcloud run services list "${where[@]}" --filter "status.url=$url" --format 'value(metadata.name)')"
[[ -n "$name" ]] || { echo "no Cloud Run service serves $url in $stack" >&2; exit 1; }

echo "Migrating with $image"
gcloud run jobs update "$job" "${where[@]}" --image "$image"
gcloud run jobs execute "$job" "${where[@]}" --wait

echo "Starting $name on $image without traffic"
gcloud run deploy "$name" "${where[@]}" --image "$image" --no-traffic --tag candidate
candidate="$(gcloud run services describe "$name" "${where[@]}" --format json |
  jq -er '.status.traffic[] | select(.tag == "candidate") | .url')"
curl --fail --silent --show-error --max-time 10 --retry 5 --retry-all-errors --output /dev/null "$candidate/healthz"

gcloud run services update-traffic "$name" "${where[@]}" --to-latest
echo "$name in $stack serves $image"
