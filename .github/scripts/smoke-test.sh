#!/usr/bin/env bash
# Calls /healthz on every service of a stack (the stack output service_urls) and fails on the first that is not
# healthy after a few tries. Sends an identity token for the URL when one can be minted (services that require IAM).
# Usage: smoke-test.sh STACK   (needs pulumi, jq and curl; gcloud for the identity token)
set -euo pipefail

stack="${1:?usage: smoke-test.sh STACK}"
urls="$(pulumi stack output service_urls --json --stack "$stack" 2>/dev/null || echo '{}')"

if [[ "$(jq 'length' <<<"$urls")" -eq 0 ]]; then
  echo "::warning title=No services in $stack::the stack exports no service_urls; nothing to smoke test"
  exit 0
fi

while IFS=$'\t' read -r service url; do
  headers=()
  if token="$(gcloud auth print-identity-token --audiences="$url" 2>/dev/null)"; then
    headers=(-H "Authorization: Bearer $token")
  fi
  echo "GET $url/healthz ($service)"
  if ! curl --fail --silent --show-error --max-time 10 --retry 5 --retry-delay 6 --retry-all-errors \
      "${headers[@]}" --output /dev/null "$url/healthz"; then
    echo "::error title=Smoke test failed in $stack::$service at $url/healthz is not healthy"
    exit 1
  fi
done < <(jq -r 'to_entries[] | [.key, .value] | @tsv' <<<"$urls")
echo "All $(jq 'length' <<<"$urls") services of $stack are healthy."
