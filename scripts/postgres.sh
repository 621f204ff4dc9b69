#!/usr/bin/env bash
# A local PostgreSQL for the operator API's lifecycle and audit trail, like scripts/kafka.sh for the broker:
# Debian's postgresql (installed with apt-get when missing), one cluster under .cache/postgres on a free loopback
# port (39432 or the next free one), trust authentication on 127.0.0.1 only, database and role `aiguilleur`.
# The data directory survives `stop`/`start` (the trail with it); `reset` deletes it.
#
# Usage: scripts/postgres.sh install|start|stop|status|dsn|reset
# As root, the server runs as the `postgres` system user (PostgreSQL refuses to run as root).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${AIGUILLEUR_PG_DIR:-$root/.cache/postgres}
data=$dir/data
port_file=$dir/port
say() { printf 'postgres: %s\n' "$*" >&2; }

bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  [[ -n $d && -x $d/postgres ]] && echo "$d"
}

install() {
  if [[ -n $(bindir) ]]; then return; fi
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { say "not installed and not root: apt-get install postgresql"; exit 1; }
    sudo=(sudo)
  fi
  say "installing Debian's postgresql package (its own service is not used)"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends postgresql >/dev/null
}

as_owner() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  local p=${AIGUILLEUR_PG_PORT:-39432}
  while (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null; do p=$((p + 1)); done
  echo "$p"
}

status() {
  local b
  b=$(bindir) || return 1
  [[ -f $data/postmaster.pid && -f $port_file ]] || return 1
  as_owner "$b/pg_ctl" -D "$data" status >/dev/null 2>&1
}

start() {
  install
  local b
  b=$(bindir)
  if status; then say "already running on 127.0.0.1:$(cat "$port_file")"; return; fi
  mkdir -p "$dir"
  if [[ $(id -u) -eq 0 ]]; then
    chown postgres "$dir"
    # the server must reach its data directory through every parent
    local p=$dir
    while [[ $p != / ]]; do chmod o+x "$p" 2>/dev/null || true; p=$(dirname "$p"); done
  fi
  if [[ ! -f $data/PG_VERSION ]]; then
    as_owner "$b/initdb" -D "$data" -U aiguilleur --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  local port
  port=$(free_port)
  echo "$port" >"$port_file"
  as_owner "$b/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=on" start >/dev/null
  as_owner "$b/psql" -h 127.0.0.1 -p "$port" -U aiguilleur -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname='aiguilleur'" | grep -q 1 ||
    as_owner "$b/createdb" -h 127.0.0.1 -p "$port" -U aiguilleur aiguilleur
  say "started on 127.0.0.1:$port (pid $(head -1 "$data/postmaster.pid"))"
}

stop() {
  local b
  b=$(bindir) || return 0
  if status; then
    as_owner "$b/pg_ctl" -D "$data" -m fast -w stop >/dev/null
    say "stopped"
  fi
}

case ${1:-} in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) if status; then echo "running on 127.0.0.1:$(cat "$port_file")"; else echo "not running"; exit 1; fi ;;
  dsn) status || { say "not running: scripts/postgres.sh start"; exit 1; }
       echo "postgresql://aiguilleur@127.0.0.1:$(cat "$port_file")/aiguilleur" ;;
  reset) stop; rm -rf "$dir"; say "data deleted" ;;
  *) echo "usage: $0 install|start|stop|status|dsn|reset" >&2; exit 2 ;;
esac
