#!/usr/bin/env bash
# Installs the locked environment (`make setup`, which installs the uv pinned in the Makefile into .tools/bin) and puts
# that uv, and nothing else from .tools/bin, on PATH for the job's later steps. Pulumi.yaml and policy/PulumiPolicy.yaml
# use `toolchain: uv`, so every `pulumi preview` and `pulumi up` (and the policy pack) needs `uv` on PATH; GitHub's
# runner images do not ship it.
# Usage: uv-on-path.sh   (in a GitHub Actions step: needs GITHUB_PATH and RUNNER_TEMP)
set -euo pipefail

make setup
bin="${RUNNER_TEMP:?RUNNER_TEMP is not set}/uv-bin"
mkdir -p "$bin"
ln -sf "$PWD/.tools/bin/uv" "$bin/uv"
"$bin/uv" --version
echo "$bin" >>"${GITHUB_PATH:?GITHUB_PATH is not set}"
