#!/usr/bin/env bash
# Deploys a new image of one app-owned service (`deploy_mode: app` in the stack file) to every region the stack serves
# from, using the platform's stack outputs (docs/outputs.md):
#   1. refuses a service that Pulumi deploys: the next `pulumi up` would put Pulumi's image back;
#   2. the image must already be in the platform's registry (image_repository); its tag is resolved to a digest once,
#      and every region gets that digest, so a tag pushed again meanwhile cannot give two regions different images;
#   3. if the service owns a migrations job (migration_jobs[SERVICE]), that job runs the new image to completion, once,
#      in the stack's region (`platform:gcp.region`, where the job lives); a service without one skips this step;
#   4. in each serving region (the output serving_regions; `platform:gcp.region` alone for a stack that does not export
#      it), a new revision of that region's copy starts with no traffic, tagged `candidate`, and must be Ready by its own
#      condition (Cloud Run started it and its startup probe passed). Only a service with ingress `all` can be called
#      from outside Google Cloud: there the candidate's tag URL must also answer /health, with an identity token for
#      the service unless it is public. Ingress `internal` and `internal-and-lb` refuse every run.app URL from the
#      internet, tag URLs included, so for them the API check is the check. A region whose candidate is not healthy
#      stops the deploy before any region's traffic moves;
#   5. only when every region's candidate is healthy does all traffic move to it, region by region. The previous
#      revision stays, for .github/workflows/rollback.yml.
# A failure exits non-zero and says what it left where; running the same command again is safe (docs/delivery.md,
# "App deploys").
# Usage: examples/app-deploy.sh STACK SERVICE TAG   e.g. examples/app-deploy.sh staging orders 2026-11-22.3
# Run from a checkout of the platform repository (the stack files say which services are app-owned). Needs pulumi
# (logged in to the platform's state backend), gcloud, jq and curl.
set -euo pipefail

stack="${1:?usage: app-deploy.sh STACK SERVICE TAG}"
service="${2:?usage: app-deploy.sh STACK SERVICE TAG}"
tag="${3:?usage: app-deploy.sh STACK SERVICE TAG}"

config() { pulumi config get --stack "$stack" --path "platform:$1"; }

mode="$(config "services.$service.deploy_mode" 2>/dev/null || true)"
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
project="$(config gcp.project)"
home="$(config gcp.region)" # the stack's region: the migrations job's
mapfile -t regions < <(jq -r '.serving_regions // [] | .[]' <<<"$outputs")
((${#regions[@]} > 0)) || regions=("$home") # a stack whose state predates the output

digest="$(gcloud artifacts docker images describe "$repository/$service:$tag" --format 'value(image_summary.digest)')"
[[ "$digest" == sha256:* ]] || { echo "could not resolve $repository/$service:$tag to a digest" >&2; exit 1; }
image="$repository/$service@$digest"

if [[ -n "$job" ]]; then
  echo "Migrating with $image ($job in $home)"
  gcloud run jobs update "$job" --project "$project" --region "$home" --image "$image"
  gcloud run jobs execute "$job" --project "$project" --region "$home" --wait
else
  echo "$service has no migrations job; nothing to migrate"
fi

# Starts a candidate revision of the service in one region and checks it; exits, moving no traffic, if it is not healthy.
start_candidate() {
  local region="$1" where described revision ready ingress candidate headers public token
  where=(--project "$project" --region "$region")
  echo "Starting $name in $region on $image without traffic"
  gcloud run deploy "$name" "${where[@]}" --image "$image" --no-traffic --tag candidate
  described="$(gcloud run services describe "$name" "${where[@]}" --format json)"
  # What serves there now (the entry with the highest percent): the revision that region goes back to if need be.
  previous[$region]="$(jq -er '[.status.traffic[] | select(.revisionName != null)] | max_by(.percent // 0)
    | .revisionName' <<<"$described")"
  revision="$(jq -er '.status.traffic[] | select(.tag == "candidate") | .revisionName' <<<"$described")"
  candidates[$region]="$revision"
  ready="$(gcloud run revisions describe "$revision" "${where[@]}" --format json |
    jq -r '[.status.conditions[]? | select(.type == "Ready")][0].status // "Unknown"')"
  if [[ "$ready" != "True" ]]; then
    echo "candidate revision $revision is not Ready in $region (Ready: $ready)" >&2
    exit 1
  fi
  ingress="$(jq -r '.metadata.annotations["run.googleapis.com/ingress"] // ""' <<<"$described")"
  if [[ "$ingress" == "all" ]]; then
    candidate="$(jq -er '.status.traffic[] | select(.tag == "candidate") | .url' <<<"$described")"
    headers=()
    public="$(config "services.$service.public" 2>/dev/null || echo false)"
    if [[ "$public" != "true" ]]; then # Cloud Run's IAM check: a token whose audience is the service's URL
      token="$(gcloud auth print-identity-token --audiences="$(jq -er '.status.url' <<<"$described")")"
      headers=(-H "Authorization: Bearer $token")
    fi
    curl --fail --silent --show-error --max-time 10 --retry 5 --retry-all-errors "${headers[@]}" --output /dev/null \
      "$candidate/health"
  else
    echo "$name has ingress $ingress: its run.app URLs refuse the internet; the candidate is checked by its revision"
  fi
}

# What a failure leaves, said on the way out (every failing command exits: set -e).
phase="" # candidates: no traffic has moved; traffic: the regions before $at serve the new image
done_regions=()
at=""
declare -A previous=()   # region: the revision it served before this deploy
declare -A candidates=() # region: the candidate revision checked there
explain() {
  local status=$?
  ((status == 0)) && return
  case "$phase" in
    candidates)
      echo "$service was not deployed: starting or checking its candidate in $at failed. No region's traffic has" \
        "moved: every region still serves its previous revision (a Ready candidate at 0 % waits in:" \
        "${done_regions[*]:-no region}). Fix the cause and run the deploy again (a new candidate starts everywhere)." >&2
      ;;
    traffic)
      echo "$service serves $image in ${done_regions[*]:-no region}, but traffic did not move in $at (nor in the" \
        "regions after it): run the same deploy again to finish (a fresh candidate starts in every region), or put" \
        "back the regions that moved:" >&2
      for region in "${done_regions[@]}"; do
        echo "  gcloud run services update-traffic $name --project $project --region $region" \
          "--to-revisions ${previous[$region]}=100" >&2
      done
      ;;
  esac
}
trap explain EXIT

phase=candidates
for at in "${regions[@]}"; do
  start_candidate "$at"
  done_regions+=("$at")
done

phase=traffic
done_regions=()
for at in "${regions[@]}"; do
  # Traffic follows LATEST, so a later revision (a `pulumi up` of the template, the region-loss runbook's repointing)
  # takes it, where traffic pinned to a revision would keep every later one at 0 %. LATEST must be the checked
  # candidate: a revision created since the check would otherwise take traffic unchecked. The revision it replaces is
  # tagged `previous`, which rollback.sh goes back to when given no target.
  latest="$(gcloud run services describe "$name" --project "$project" --region "$at" --format json |
    jq -r '.status.latestCreatedRevisionName')"
  if [[ "$latest" != "${candidates[$at]}" ]]; then
    echo "$latest was created in $at after the candidate ${candidates[$at]} was checked; run the deploy again" >&2
    exit 1
  fi
  gcloud run services update-traffic "$name" --project "$project" --region "$at" \
    --to-latest --update-tags "previous=${previous[$at]}"
  done_regions+=("$at")
done
echo "$name in $stack serves $image in ${regions[*]}"
