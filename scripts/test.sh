#!/usr/bin/env bash
# Run the whole test suite against the real local services: PostgreSQL, the plaintext Kafka broker, and the
# broker that speaks only SASL over TLS (scripts/kafka.sh start --sasl) for
# tests/integration/aiguilleur/test_sasl.py. Stop what this script started afterwards, whatever the outcome.
# Extra arguments go to pytest.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
if [[ -x scripts/install_ops_tools.sh ]]; then
  bash scripts/install_ops_tools.sh || echo "warning: ops tools could not be installed; their tests will say so" >&2
fi
# PostgreSQL (operator API and audit trail) and headless Chromium (the operator page's test), from Debian.
bash scripts/postgres.sh install
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  sudo=(); [[ $(id -u) -ne 0 ]] && sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
fi
pg_started=0
started=()
stop() {
  local flag
  for flag in "${started[@]}"; do bash scripts/kafka.sh stop $flag; done
  if [[ $pg_started == 1 ]]; then bash scripts/postgres.sh stop; fi
}
trap stop EXIT
if ! bash scripts/postgres.sh status >/dev/null 2>&1; then
  bash scripts/postgres.sh start || exit 1
  pg_started=1
fi
export AIGUILLEUR_TEST_PG_DSN=$(bash scripts/postgres.sh dsn)
# The plaintext broker, and the one that speaks only SASL over TLS (tests/integration/aiguilleur/test_sasl.py).
for flag in "" "--sasl"; do
  if ! bash scripts/kafka.sh status $flag >/dev/null 2>&1; then
    bash scripts/kafka.sh start $flag || exit 1
    started+=("$flag")
  fi
done
export AIGUILLEUR_TEST_KAFKA_BOOTSTRAP=$(bash scripts/kafka.sh bootstrap)
.venv/bin/pytest -q "$@"
