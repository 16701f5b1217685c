#!/usr/bin/env bash
# Smoke test of one stack after a deploy or a rollback, in two parts:
#   1. every Cloud Run service (the stack output service_names) in every serving region (the output serving_regions;
#      `platform:gcp.region` alone for a stack that does not export it yet), through the Cloud Run API: each region's
#      copy is a service of its own, which must be Ready, with its latest revision Ready (latestReadyRevisionName ==
#      latestCreatedRevisionName) and serving the share of traffic that copy's spec gives it;
#   2. GET /health on what the runner can reach from the internet: services with ingress `all` (each region's URL),
#      and the load balancer's domains (the output load_balancer_domains). Services with ingress `internal` or
#      `internal-and-lb` refuse internet requests at their run.app URL, so part 1 is all the runner can check of them.
#      The load balancer answers from the nearest healthy region, so part 1 is also what checks the other regions.
# A load balancer domain is retried for up to SMOKE_LB_WAIT seconds (15 minutes): on a first deploy, or after its
# certificate or forwarding rule changes, the load balancer serves the domain only once the certificate is provisioned.
# A failing `pulumi stack output` fails the test; only an output the stack does not export counts as nothing to check.
# Usage: smoke-test.sh STACK   (needs pulumi, gcloud, jq and curl; SMOKE_TRIES and SMOKE_DELAY tune the retries of
# services, SMOKE_LB_WAIT and SMOKE_LB_DELAY those of load balancer domains)
set -euo pipefail

stack="${1:?usage: smoke-test.sh STACK}"
tries="${SMOKE_TRIES:-5}"
delay="${SMOKE_DELAY:-6}"
# The services' health path (components/cloud_run/config.py); not /healthz, since Cloud Run reserves some paths ending
# in z at a service's URL.
health="/health"

fail() {
  echo "::error title=Smoke test failed in $stack::$*"
  exit 1
}

outputs="$(pulumi stack output --json --stack "$stack")" || fail "could not read the outputs of stack $stack"
project="$(pulumi config get --stack "$stack" --path platform:gcp.project)" || fail "no platform:gcp.project"
mapfile -t regions < <(jq -r '.serving_regions // [] | .[]' <<<"$outputs")
if ((${#regions[@]} == 0)); then # a stack whose state predates the output serves from its own region only
  regions=("$(pulumi config get --stack "$stack" --path platform:gcp.region)") || fail "no platform:gcp.region"
fi
lb_wait="${SMOKE_LB_WAIT:-900}"
lb_delay="${SMOKE_LB_DELAY:-15}"
wait_for="" # seconds get() keeps retrying for (load balancer domains); empty: SMOKE_TRIES times

# Prints why a service (its `gcloud run services describe --format json`) is not serving its latest revision.
# shellcheck disable=SC2016 # jq program
unhealthy='
  def percent: .percent // 0;
  (.status.latestCreatedRevisionName // "") as $latest
  | ([.status.conditions[]? | select(.type == "Ready")][0].status // "Unknown") as $ready
  | ([.spec.traffic[]? | select(.latestRevision == true or .revisionName == $latest) | percent] | add // 0) as $want
  | ([.status.traffic[]? | select(.revisionName == $latest) | percent] | add // 0) as $serving
  | if $ready != "True" then "the service is not Ready (Ready: \($ready))"
    elif $latest == "" or .status.latestReadyRevisionName != $latest
      then "its latest revision \($latest) is not Ready (latest ready: \(.status.latestReadyRevisionName // "none"))"
    elif $serving != $want then "its latest revision \($latest) serves \($serving)% of traffic, not \($want)%"
    else empty end'

check_service() {
  local key="$1" name="$2" region="$3" described problem=""
  for ((try = 1; try <= tries; try++)); do
    described="$(gcloud run services describe "$name" --project "$project" --region "$region" --format json \
      </dev/null)" || fail "$key: gcloud run services describe $name in $region failed"
    problem="$(jq -r "$unhealthy" <<<"$described")"
    [[ -z "$problem" ]] && break
    ((try < tries)) && sleep "$delay"
  done
  [[ -z "$problem" ]] || fail "$key ($name in $region): $problem"
  echo "$key ($name in $region): latest revision Ready and serving its share"
  if [[ "$(jq -r '.metadata.annotations["run.googleapis.com/ingress"] // ""' <<<"$described")" == "all" ]]; then
    get "$key" "$(jq -r '.status.url' <<<"$described")$health"
  fi
}

get() {
  local what="$1" url="$2" headers=() token
  if token="$(gcloud auth print-identity-token --audiences="${url%"$health"}" 2>/dev/null)"; then
    headers=(-H "Authorization: Bearer $token")
  fi
  echo "GET $url ($what)"
  local retry=(--retry "$tries" --retry-delay "$delay")
  [[ -z "$wait_for" ]] ||
    retry=(--retry "$((wait_for / lb_delay + 1))" --retry-delay "$lb_delay" --retry-max-time "$wait_for")
  curl --fail --silent --show-error --max-time 10 "${retry[@]}" --retry-all-errors \
    "${headers[@]}" --output /dev/null "$url" </dev/null || fail "$what at $url is not healthy"
}

checked=0
while IFS=$'\t' read -r key name; do
  for region in "${regions[@]}"; do
    check_service "$key" "$name" "$region"
    checked=$((checked + 1))
  done
done < <(jq -r '.service_names // {} | to_entries[] | [.key, .value] | @tsv' <<<"$outputs")

wait_for="$lb_wait" # a new load balancer serves its domains only once their certificates are provisioned
while read -r domain; do
  get "load balancer domain" "https://$domain$health"
  checked=$((checked + 1))
done < <(jq -r '.load_balancer_domains // [] | .[]' <<<"$outputs")

if ((checked == 0)); then
  echo "::warning title=Nothing to smoke test in $stack::the stack exports no service_names and no load_balancer_domains"
fi
echo "Smoke test of $stack passed ($checked checks)."
