#!/usr/bin/env bash
# Sends all of a service's traffic back to an earlier revision, without running Pulumi. The target is the revision or
# traffic tag given, or else the newest Ready revision older than the one serving now (the traffic entry with the
# highest percent: a tagged 0 % entry may come first), which is the revision the last deploy replaced. Readiness is
# each revision's own Ready condition. The service is the stack output service_names[SERVICE].
# Until the commit that caused the rollback is reverted and deployed, the nightly drift check reports this service.
# Usage: rollback.sh STACK SERVICE [REVISION_OR_TAG]   (needs pulumi, gcloud and jq)
set -euo pipefail

stack="${1:?usage: rollback.sh STACK SERVICE [REVISION_OR_TAG]}"
service="${2:?usage: rollback.sh STACK SERVICE [REVISION_OR_TAG]}"
target="${3:-}"

fail() {
  echo "::error title=Rollback failed in $stack::$*" >&2
  exit 1
}

pulumi stack select "$stack"
project="$(pulumi config get --path platform:gcp.project)"
region="$(pulumi config get --path platform:gcp.region)"
outputs="$(pulumi stack output --json)" || fail "could not read the outputs of stack $stack"
name="$(jq -r --arg s "$service" '.service_names[$s] // empty' <<<"$outputs")"
[[ -n "$name" ]] || fail "no service '$service' in the service_names of stack $stack"
where=(--project "$project" --region "$region")

# A revision's own Ready condition (not any condition of any revision).
# shellcheck disable=SC2016 # jq program
ready='[.status.conditions[]? | select(.type == "Ready")][0].status == "True"'

if [[ -z "$target" ]]; then
  serving="$(gcloud run services describe "$name" "${where[@]}" --format json |
    jq -r '[.status.traffic[]? | select(.revisionName != null)] | max_by(.percent // 0) | .revisionName // empty')"
  [[ -n "$serving" ]] || fail "$name serves no revision"
  target="$(gcloud run revisions list --service "$name" "${where[@]}" --sort-by '~metadata.creationTimestamp' \
    --format json | jq -r --arg serving "$serving" "
      [.[] | {name: .metadata.name, ready: ($ready)}] as \$revisions
      | ([\$revisions[].name] | index(\$serving)) as \$at
      | if \$at == null then empty else [\$revisions[\$at + 1:][] | select(.ready) | .name][0] // empty end")"
  [[ -n "$target" ]] || fail "$name has no Ready revision older than $serving"
fi

if described="$(gcloud run revisions describe "$target" "${where[@]}" --format json 2>/dev/null)"; then
  [[ "$(jq -r "$ready" <<<"$described")" == "true" ]] || fail "revision $target is not Ready"
  gcloud run services update-traffic "$name" "${where[@]}" --to-revisions "$target=100"
else
  gcloud run services update-traffic "$name" "${where[@]}" --to-tags "$target=100"
fi
echo "$name in $stack now sends all traffic to $target"
