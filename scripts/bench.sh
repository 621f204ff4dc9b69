#!/usr/bin/env bash
# Run the benchmarks and assemble docs/benchmarks.md from their reports (docs/bench/*.md).
# BENCH_TWIN=1 also runs the digital-twin benchmarks over ../shared/data/scenarios (long: hours for both).
# BENCH_SOAK=1 also runs the 30-minute soak (4,000 junctions x 16 detectors, a real Prometheus; Debian's
# `prometheus` package must be installed).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
py=.venv/bin/python
mkdir -p docs/bench
$py -m benchmarks.streams_bench --write docs/bench/streams.md
$py -m benchmarks.control_bench --write docs/bench/control.md
$py -m benchmarks.optimizer_bench --write docs/bench/optimizer.md
$py -m benchmarks.zone_planning_bench --write docs/bench/zone_planning.md
$py -m benchmarks.graph_bench
$py -m benchmarks.reroute_bench --write docs/bench/reroute.md
if [[ ${BENCH_SOAK:-0} == 1 ]]; then $py -m benchmarks.soak --write docs/bench/soak.md; fi
if [[ ${BENCH_TWIN:-0} == 1 ]]; then $py -m benchmarks.twin_bench; $py -m benchmarks.reroute_twin; fi
bash scripts/assemble_benchmarks.sh
