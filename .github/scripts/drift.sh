#!/usr/bin/env bash
# Nightly drift check of one stack: refresh the stack's view of the cloud in memory and expect no changes. Read-only
# (`pulumi preview` writes no state). Exits 0 only when the preview itself succeeds with no changes; drift and every
# other failure (credentials, backend, a crashing program, a policy violation) exit 1, say which in the run summary
# and raise an error annotation. The preview's own exit status decides: nothing is piped into the test.
# Usage: drift.sh STACK   (needs pulumi, logged in to the state backend; uv on PATH for the program)
set -euo pipefail

stack="${1:?usage: drift.sh STACK}"
summary="${GITHUB_STEP_SUMMARY:-/dev/null}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

status=0
pulumi preview --stack "$stack" --refresh --expect-no-changes --diff --non-interactive \
  --policy-pack policy --policy-pack-config "policy/config/$stack.json" >"$log" 2>&1 || status=$?
cat "$log"

if ((status == 0)); then
  echo "No drift in stack $stack." >>"$summary"
  exit 0
fi

if grep -Eq 'no changes were expected( for [a-z]+)? but changes were proposed' "$log"; then
  heading="Stack \`$stack\` has drifted"
  explanation="The cloud no longer matches the program. Changes \`pulumi up\` would make:"
  title="Drift in stack $stack"
else
  heading="The drift check of stack \`$stack\` failed (pulumi preview exited $status)"
  explanation="The preview did not finish, so drift is unknown. Its output:"
  title="Drift check failed in stack $stack"
fi
{
  echo "## $heading"
  echo "$explanation"
  echo '```'
  tail -n 200 "$log"
  echo '```'
} >>"$summary"
echo "::error title=$title::see the run summary"
exit 1
