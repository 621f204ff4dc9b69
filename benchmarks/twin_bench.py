"""Twin benchmark: every control mode on every SUMO scenario (see docs/bench/twin.md).

Usage: .venv/bin/python benchmarks/twin_bench.py [SCENARIO_DIR_OR_SUMOCFG ...] [--control NAME ...]
Same as ``aiguilleur twin bench``; resumable (results kept in docs/bench/twin.json).
"""

from __future__ import annotations

import sys

from aiguilleur.cli_twin import app

if __name__ == "__main__":
    sys.argv = [sys.argv[0], "bench", *sys.argv[1:]]
    app()
