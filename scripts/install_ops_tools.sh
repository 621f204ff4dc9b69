#!/usr/bin/env bash
# Install the tools that the chart, alert-rule and dashboard checks need (tests/integration/deploy).
# Idempotent: each tool already present at the wanted version is left alone.
#
#   helm                 `go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION` into .cache/bin (Go module proxy;
#                        there is no helm package on PyPI, npm or Debian). Needs Go 1.26+ (helm v3.22's go.mod).
#   kubernetes-validate  offline Kubernetes schema validation of manifests, and
#   promql-parser        the parser of the dashboard's and rules' PromQL: both are dev dependencies in uv.lock,
#                        installed by `make setup`; this script only checks they are there.
#   promtool             Debian's `prometheus` package (apt-get), unless promtool is already on PATH.
#
# Usage: scripts/install_ops_tools.sh
# Environment: HELM_VERSION (default below), PYTHON (default .venv/bin/python), AIGUILLEUR_TOOLS_BIN (default
# .cache/bin: where helm goes; the tests look there, then on PATH).
# Time measured on a shared 2-core machine (2026-11-26): 4 min 20 s to build helm with empty Go caches (a new
# machine: module downloads + compile), plus ~30 s for apt and ~6 s for pip; 11 s for a fresh clone on a machine
# that built it before (Go's caches, ~/.cache/go-build and ~/go/pkg/mod, are warm); under 1 s when all is there.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELM_VERSION=${HELM_VERSION:-v3.22.0}
bin=${AIGUILLEUR_TOOLS_BIN:-$root/.cache/bin}
python=${PYTHON:-$root/.venv/bin/python}

say() { printf 'install_ops_tools: %s\n' "$*" >&2; }

install_helm() {
  local helm=$bin/helm
  # A helm built by `go install` reports only "v3.NN" as its version; the stamp records the module version.
  local stamp=$bin/helm.version
  if [[ -x $helm ]] && [[ -f $stamp ]] && [[ $(cat "$stamp") == "$HELM_VERSION" ]]; then
    say "helm $HELM_VERSION already in $bin"
    return
  fi
  local go
  go=$(command -v go || true)
  [[ -z $go && -x /usr/local/go/bin/go ]] && go=/usr/local/go/bin/go
  if [[ -z $go ]]; then
    say "no Go toolchain found: install Go 1.26+ to build helm $HELM_VERSION (Debian's golang-go is too old)"
    exit 1
  fi
  say "building helm $HELM_VERSION with $("$go" version | cut -d' ' -f3) into $bin"
  mkdir -p "$bin"
  GOBIN=$bin "$go" install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  "$helm" version --short >/dev/null
  echo "$HELM_VERSION" >"$stamp"
}

install_python_tools() {
  if [[ ! -x $python ]]; then
    say "no Python at $python: create the venv first (python3 -m venv .venv), or set PYTHON"
    exit 1
  fi
  if "$python" -c 'import kubernetes_validate, promql_parser' 2>/dev/null; then
    say "kubernetes-validate and promql-parser already in $("$python" -c 'import sys; print(sys.prefix)')"
    return
  fi
  say "kubernetes-validate or promql-parser missing from $python: run \`make setup\` (they are locked in uv.lock)"
  exit 1
}

install_promtool() {
  if command -v promtool >/dev/null; then
    say "promtool already at $(command -v promtool)"
    return
  fi
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { say "promtool missing and not root: apt-get install prometheus"; exit 1; }
    sudo=(sudo)
  fi
  say "installing Debian's prometheus package for promtool (its service is not started here)"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  promtool --version 2>&1 | head -1 >&2
}

install_python_tools
install_promtool
install_helm
say "done"
