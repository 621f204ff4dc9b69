#!/usr/bin/env bash
# docs/benchmarks.md = an index followed by each area's latest report from docs/bench/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
{
  echo "# Benchmarks"
  echo
  echo "Latest measured figures, each with its date and machine, as written by the benchmark that produced it"
  echo "(\`make bench\` runs them all; every figure is a ratio to a baseline measured in the same run)."
  echo "Assembled from docs/bench/ by scripts/assemble_benchmarks.sh."
  echo
  for area in streams soak control optimizer zone_planning graph reroute twin twin_seeds adaptive reroute_twin; do
    f=docs/bench/$area.md
    [[ -f $f ]] || continue
    echo
    sed -e 's/^\(#\+\) /\1# /' "$f"   # each report's headings one level down
    echo
  done
} > docs/benchmarks.md
echo "wrote docs/benchmarks.md"
