#!/usr/bin/env bash
# Sends all of a service's traffic back to an earlier revision in every region it serves from, without running Pulumi.
# The regions are the stack output serving_regions (`platform:gcp.region` alone for a stack that does not export it);
# each region's copy is a service of its own, with its own revisions, so each is rolled back on its own terms:
#   - no target given: the revision tagged `previous` there, which an app deploy (examples/app-deploy.sh) tags as the
#     one it replaced, when it is Ready and not the one serving; otherwise the newest Ready revision older than the one
#     serving now in that region (the traffic entry with the highest percent: a tagged 0 % entry may come first). The
#     tag matters: a deploy whose candidate failed leaves a Ready revision that never served, which the newest-older
#     rule would pick;
#   - a traffic tag: the revision the tag names in that region;
#   - a revision name: that revision, which must exist in every region (Cloud Run names revisions per region, so only
#     names set by config, `revision:`, are the same everywhere; otherwise give a tag or nothing).
# Readiness is each revision's own Ready condition. Every region's target is found and checked before any traffic
# moves: a region without one stops the rollback with nothing changed. Then each region is rolled back in turn; a region
# that fails to update does not stop the others, and the script fails at the end printing, for each region left, the
# command that finishes it. (Do not re-run without a target to finish: in a region already rolled back that would go
# one revision further back.)
# The service is the stack output service_names[SERVICE]. Until the commit that caused the rollback is reverted and
# deployed, the nightly drift check reports this service.
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
outputs="$(pulumi stack output --json)" || fail "could not read the outputs of stack $stack"
name="$(jq -r --arg s "$service" '.service_names[$s] // empty' <<<"$outputs")"
[[ -n "$name" ]] || fail "no service '$service' in the service_names of stack $stack"
mapfile -t regions < <(jq -r '.serving_regions // [] | .[]' <<<"$outputs")
if ((${#regions[@]} == 0)); then # a stack whose state predates the output serves from its own region only
  regions=("$(pulumi config get --path platform:gcp.region)")
fi

# A revision's own Ready condition (not any condition of any revision).
# shellcheck disable=SC2016 # jq program
ready='[.status.conditions[]? | select(.type == "Ready")][0].status == "True"'

# Prints the update-traffic flag that rolls the service back in one region (`--to-revisions REV=100` or
# `--to-tags TAG=100`), or fails saying why that region has no target.
resolve() {
  local region="$1" where described serving revision
  where=(--project "$project" --region "$region")
  if [[ -z "$target" ]]; then
    described="$(gcloud run services describe "$name" "${where[@]}" --format json)" ||
      fail "no service $name in $region"
    serving="$(jq -r '[.status.traffic[]? | select(.revisionName != null)] | max_by(.percent // 0)
      | .revisionName // empty' <<<"$described")"
    [[ -n "$serving" ]] || fail "$name in $region serves no revision"
    revision="$(jq -r '[.status.traffic[]? | select(.tag == "previous")][0].revisionName // empty' <<<"$described")"
    if [[ -n "$revision" && "$revision" != "$serving" ]] &&
      [[ "$(gcloud run revisions describe "$revision" "${where[@]}" --format json | jq -r "$ready")" == "true" ]]; then
      echo "--to-tags previous=100"
      return
    fi
    revision="$(gcloud run revisions list --service "$name" "${where[@]}" --sort-by '~metadata.creationTimestamp' \
      --format json | jq -r --arg serving "$serving" "
        [.[] | {name: .metadata.name, ready: ($ready)}] as \$revisions
        | ([\$revisions[].name] | index(\$serving)) as \$at
        | if \$at == null then empty else [\$revisions[\$at + 1:][] | select(.ready) | .name][0] // empty end")"
    [[ -n "$revision" ]] || fail "$name in $region has no Ready revision older than $serving"
    echo "--to-revisions $revision=100"
  elif described="$(gcloud run revisions describe "$target" "${where[@]}" --format json 2>/dev/null)"; then
    [[ "$(jq -r "$ready" <<<"$described")" == "true" ]] || fail "revision $target is not Ready in $region"
    echo "--to-revisions $target=100"
  else
    described="$(gcloud run services describe "$name" "${where[@]}" --format json)" ||
      fail "no service $name in $region"
    revision="$(jq -r --arg tag "$target" '[.status.traffic[]? | select(.tag == $tag)][0].revisionName // empty' \
      <<<"$described")"
    [[ -n "$revision" ]] || fail "$name in $region has no revision or traffic tag '$target'" \
      "(revision names differ between regions: give a tag, or nothing for the previous revision)"
    described="$(gcloud run revisions describe "$revision" "${where[@]}" --format json)"
    [[ "$(jq -r "$ready" <<<"$described")" == "true" ]] ||
      fail "revision $revision (tag $target) is not Ready in $region"
    echo "--to-tags $target=100"
  fi
}

plans=()
for region in "${regions[@]}"; do
  plans+=("$(resolve "$region")")
done

left=()
for i in "${!regions[@]}"; do
  region="${regions[$i]}"
  read -r flag value <<<"${plans[$i]}"
  update=(gcloud run services update-traffic "$name" --project "$project" --region "$region" "$flag" "$value")
  if "${update[@]}"; then
    echo "$name in $stack ($region) now sends all traffic to ${value%=100}"
  else
    left+=("${update[*]}")
  fi
done
if ((${#left[@]} > 0)); then
  printf 'Not rolled back; to finish, run:\n' >&2
  printf '  %s\n' "${left[@]}" >&2
  fail "$name was rolled back in $((${#regions[@]} - ${#left[@]})) of ${#regions[@]} regions; the commands above" \
    "finish the others"
fi
