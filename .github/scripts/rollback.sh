#!/usr/bin/env bash
# Sends all of a service's traffic back to an earlier revision, without running Pulumi. The target is the revision or
# traffic tag given, or else the newest ready revision older than the one serving now (the revision the last deploy
# replaced). The service is found by its URL in the stack output service_urls.
# Until the commit that caused the rollback is reverted and deployed, the nightly drift check reports this service.
# Usage: rollback.sh STACK SERVICE [REVISION_OR_TAG]   (needs pulumi, gcloud and jq)
set -euo pipefail

stack="${1:?usage: rollback.sh STACK SERVICE [REVISION_OR_TAG]}"
service="${2:?usage: rollback.sh STACK SERVICE [REVISION_OR_TAG]}"
target="${3:-}"

pulumi stack select "$stack"
project="$(pulumi config get --path platform:gcp.project)"
region="$(pulumi config get --path platform:gcp.region)"
url="$(pulumi stack output service_urls --json | jq -er --arg s "$service" '.[$s] // empty')" || {
  echo "::error::no service '$service' in the service_urls of stack $stack" >&2
  exit 1
}
where=(--project "$project" --region "$region")
name="$(gcloud run services list "${where[@]}" --filter "status.url=$url" --format 'value(metadata.name)')"
[[ -n "$name" ]] || { echo "::error::no Cloud Run service serves $url" >&2; exit 1; }

if [[ -z "$target" ]]; then
  serving="$(gcloud run services describe "$name" "${where[@]}" \
    --format 'value(status.traffic[0].revisionName)')"
  target="$(gcloud run revisions list --service "$name" "${where[@]}" --sort-by '~metadata.creationTimestamp' \
    --filter "status.conditions.type=Ready AND status.conditions.status=True" --format 'value(metadata.name)' |
    awk -v serving="$serving" 'found { print; exit } $0 == serving { found = 1 }')"
  [[ -n "$target" ]] || { echo "::error::$name has no ready revision older than $serving" >&2; exit 1; }
fi

if gcloud run revisions describe "$target" "${where[@]}" --format 'value(metadata.name)' >/dev/null 2>&1; then
  gcloud run services update-traffic "$name" "${where[@]}" --to-revisions "$target=100"
else
  gcloud run services update-traffic "$name" "${where[@]}" --to-tags "$target=100"
fi
echo "$name in $stack now sends all traffic to $target"
