#!/usr/bin/env bash
# Run the whole test suite against the real local Kafka broker; stop the broker afterwards if this script
# started it, whatever the outcome. Extra arguments go to pytest.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
if [[ -x scripts/install_ops_tools.sh ]]; then
  bash scripts/install_ops_tools.sh || echo "warning: ops tools could not be installed; their tests will say so" >&2
fi
started=0
if ! bash scripts/kafka.sh status >/dev/null 2>&1; then
  bash scripts/kafka.sh start || exit 1
  started=1
fi
stop() { if [[ $started == 1 ]]; then bash scripts/kafka.sh stop; fi; }
trap stop EXIT
export AIGUILLEUR_TEST_KAFKA_BOOTSTRAP=$(bash scripts/kafka.sh bootstrap)
.venv/bin/pytest -q "$@"
