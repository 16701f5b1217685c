#!/usr/bin/env bash
# Deploys a new image of one app-owned service (`deploy_mode: app` in the stack file) using the platform's stack
# outputs (docs/outputs.md):
#   1. refuses a service that Pulumi deploys: the next `pulumi up` would put Pulumi's image back;
#   2. the image must already be in the platform's registry (image_repository);
#   3. if the service owns a migrations job (migration_jobs[SERVICE]), that job runs the new image to completion;
#      a service without one skips this step;
#   4. a new revision of the service starts with no traffic, tagged `candidate`, and must be Ready by its own condition
#      (Cloud Run started it and its startup probe passed). Only a service with ingress `all` can be called from
#      outside Google Cloud: there the candidate's tag URL must also answer /health, with an identity token for the
#      service unless it is public. Ingress `internal` and `internal-and-lb` refuse every run.app URL from the
#      internet, tag URLs included, so for them the API check is the check;
#   5. only then does all traffic move to it. The previous revision stays, for .github/workflows/rollback.yml.
# Usage: examples/app-deploy.sh STACK SERVICE TAG   e.g. examples/app-deploy.sh staging orders 2026-11-22.3
# Run from a checkout of the platform repository (the stack files say which services are app-owned). Needs pulumi
# (logged in to the platform's state backend), gcloud, jq and curl.
set -euo pipefail

stack="${1:?usage: app-deploy.sh STACK SERVICE TAG}"
service="${2:?usage: app-deploy.sh STACK SERVICE TAG}"
tag="${3:?usage: app-deploy.sh STACK SERVICE TAG}"

mode="$(pulumi config get --stack "$stack" --path "platform:services.$service.deploy_mode" 2>/dev/null || true)"
if [[ "$mode" != "app" ]]; then
  echo "refusing: $service in $stack is deployed by Pulumi (deploy_mode is not app); change its image in" \
    "Pulumi.$stack.yaml instead, or set deploy_mode: app" >&2
  exit 2
fi

outputs="$(pulumi stack output --json --stack "$stack")"
output() { jq -er "$@" <<<"$outputs"; }

repository="$(output '.image_repository')" # REGION-docker.pkg.dev/PROJECT/REPOSITORY
# shellcheck disable=SC2016 # $s is a jq variable
name="$(output --arg s "$service" '.service_names[$s]')"
jq -e 'has("migration_jobs")' <<<"$outputs" >/dev/null ||
  { echo "stack $stack does not export migration_jobs yet; run its deploy first" >&2; exit 1; }
# shellcheck disable=SC2016 # $s is a jq variable
job="$(jq -r --arg s "$service" '.migration_jobs[$s] // empty' <<<"$outputs")"
region="${repository%%-docker.pkg.dev/*}"
project="$(cut -d/ -f2 <<<"$repository")"
image="$repository/$service:$tag"
where=(--project "$project" --region "$region")

gcloud artifacts docker images describe "$image" --format 'value(image_summary.digest)' >/dev/null

if [[ -n "$job" ]]; then
  echo "Migrating with $image ($job)"
  gcloud run jobs update "$job" "${where[@]}" --image "$image"
  gcloud run jobs execute "$job" "${where[@]}" --wait
else
  echo "$service has no migrations job; nothing to migrate"
fi

echo "Starting $name on $image without traffic"
gcloud run deploy "$name" "${where[@]}" --image "$image" --no-traffic --tag candidate
described="$(gcloud run services describe "$name" "${where[@]}" --format json)"
revision="$(jq -er '.status.traffic[] | select(.tag == "candidate") | .revisionName' <<<"$described")"
ready="$(gcloud run revisions describe "$revision" "${where[@]}" --format json |
  jq -r '[.status.conditions[]? | select(.type == "Ready")][0].status // "Unknown"')"
if [[ "$ready" != "True" ]]; then
  echo "candidate revision $revision is not Ready (Ready: $ready); traffic stays where it is" >&2
  exit 1
fi
ingress="$(jq -r '.metadata.annotations["run.googleapis.com/ingress"] // ""' <<<"$described")"
if [[ "$ingress" == "all" ]]; then
  candidate="$(jq -er '.status.traffic[] | select(.tag == "candidate") | .url' <<<"$described")"
  headers=()
  public="$(pulumi config get --stack "$stack" --path "platform:services.$service.public" 2>/dev/null || echo false)"
  if [[ "$public" != "true" ]]; then # Cloud Run's IAM check: a token whose audience is the service's URL
    token="$(gcloud auth print-identity-token --audiences="$(jq -er '.status.url' <<<"$described")")"
    headers=(-H "Authorization: Bearer $token")
  fi
  curl --fail --silent --show-error --max-time 10 --retry 5 --retry-all-errors "${headers[@]}" --output /dev/null \
    "$candidate/health"
else
  echo "$name has ingress $ingress: its run.app URLs refuse the internet; the candidate is checked by its revision"
fi

gcloud run services update-traffic "$name" "${where[@]}" --to-latest
echo "$name in $stack serves $image"
