#!/usr/bin/env bash
# Local single-node Apache Kafka broker (KRaft, combined broker+controller) for the demo, the tests and CI.
#
#   scripts/kafka.sh fetch      resolve the broker jars from Maven Central into .cache/kafka (once)
#   scripts/kafka.sh start      format storage if needed, start the broker, wait until it answers
#   scripts/kafka.sh stop       stop the broker started here (by its PID), wait for it to exit
#   scripts/kafka.sh status     say whether it runs, and where
#   scripts/kafka.sh bootstrap  print host:port for clients (AIGUILLEUR_KAFKA_BOOTSTRAP)
#   scripts/kafka.sh reset      stop, then delete the broker's data (topics, offsets)
#
# Idempotent: `start` on a running broker returns at once; `fetch` is skipped when the jars are there.
# Port: AIGUILLEUR_KAFKA_PORT if set, else the port used last time if still free, else a free one from 39092 up.
# Why Kafka 4.0.0: faust-streaming's maintainers run its live-broker suite against Apache Kafka 4.0.0 (KRaft) with
# aiokafka 0.14 (faust-streaming issue #655, PR #714); 4.x needs no ZooKeeper, and Java 17 is what it requires.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kafka_version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$root/scripts/kafka/pom.xml")
home=${AIGUILLEUR_KAFKA_HOME:-$root/.cache/kafka}
libs=$home/libs-$kafka_version
run=$home/run
data=$run/data
pidfile=$run/broker.pid
portfile=$run/port
log=$run/broker.log

say() { printf 'kafka: %s\n' "$*" >&2; }

port_free() {
  # True when nothing listens on 127.0.0.1:$1.
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

running() {
  [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

fetch() {
  if [[ -f $libs/.complete ]]; then return 0; fi
  command -v mvn >/dev/null || { say "mvn not found: install Maven (apt-get install maven)"; exit 1; }
  command -v java >/dev/null || { say "java not found: install a Java 17+ runtime"; exit 1; }
  say "resolving Apache Kafka $kafka_version from Maven Central into $libs"
  rm -rf "$libs"
  mkdir -p "$libs"
  mvn -q -B -f "$root/scripts/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$libs"
  touch "$libs/.complete"
}

choose_port() {
  if [[ -n ${AIGUILLEUR_KAFKA_PORT:-} ]]; then
    echo "$AIGUILLEUR_KAFKA_PORT"; return
  fi
  if [[ -f $portfile ]] && port_free "$(cat "$portfile")" && port_free $(( $(cat "$portfile") + 1 )); then
    cat "$portfile"; return
  fi
  local p=39092
  while ! port_free "$p" || ! port_free $((p + 1)); do p=$((p + 2)); done
  echo "$p"
}

write_config() {
  local port=$1 cport=$(($1 + 1))
  cat >"$run/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$data
num.partitions=4
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
log.retention.hours=168
EOF
  cat >"$run/log4j2.properties" <<EOF
rootLogger.level=WARN
rootLogger.appenderRef.file.ref=file
appender.file.type=File
appender.file.name=file
appender.file.fileName=$run/server.log
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
logger.kafka.name=kafka
logger.kafka.level=INFO
EOF
}

java_cmd() {
  java -Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$run/log4j2.properties" -cp "$libs/*" "$@"
}

wait_ready() {
  # Returns 0 when the broker answers, 2 when it lost its port to another process between our check
  # and its bind (the caller then tries another port); exits on any other failure.
  local port=$1 i
  for i in $(seq 1 120); do
    if ! running; then
      if grep -q "Address already in use" "$run/server.log" "$log" 2>/dev/null; then return 2; fi
      say "broker exited during start-up; last lines of $log:"; tail -n 30 "$log" >&2; exit 1
    fi
    if grep -q "Kafka Server started" "$log" "$run/server.log" 2>/dev/null && ! port_free "$port"; then
      return 0
    fi
    sleep 0.5
  done
  say "broker did not answer on 127.0.0.1:$port within 60 s; see $log"; exit 1
}

start() {
  fetch
  mkdir -p "$run"
  if running; then say "already running on 127.0.0.1:$(cat "$portfile") (pid $(cat "$pidfile"))"; return 0; fi
  local port attempt rc
  for attempt in 1 2 3 4 5; do
    port=$(choose_port)
    if ! port_free "$port" || ! port_free $((port + 1)); then
      say "port $port or $((port + 1)) is in use: set AIGUILLEUR_KAFKA_PORT to a free pair"; exit 1
    fi
    write_config "$port"
    if [[ ! -f $data/meta.properties ]]; then
      mkdir -p "$data"
      java_cmd kafka.tools.StorageTool format --ignore-formatted -t "$(cat "$run/cluster-id" 2>/dev/null || \
        { java_cmd kafka.tools.StorageTool random-uuid | tee "$run/cluster-id"; })" \
        -c "$run/server.properties" >/dev/null
    fi
    echo "$port" >"$portfile"
    : >"$log"; : >"$run/server.log"
    nohup bash -c 'exec "$@"' _ java -Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$run/log4j2.properties" -cp "$libs/*" kafka.Kafka "$run/server.properties" \
      >"$log" 2>&1 &
    echo $! >"$pidfile"
    rc=0; wait_ready "$port" || rc=$?
    if [[ $rc == 0 ]]; then break; fi
    # Another process took the port between our check and the broker's bind (a client's ephemeral
    # port, another session's broker starting at the same moment): try another pair.
    rm -f "$pidfile" "$portfile"
    if [[ -n ${AIGUILLEUR_KAFKA_PORT:-} ]]; then
      say "port $port or $((port + 1)) is in use: set AIGUILLEUR_KAFKA_PORT to a free pair"; exit 1
    fi
    say "port $port or $((port + 1)) was taken while the broker started; trying another pair"
    [[ $attempt == 5 ]] && { say "no free port pair after 5 attempts"; exit 1; }
  done
  say "started on 127.0.0.1:$port (pid $(cat "$pidfile"))"
}

stop() {
  if ! running; then rm -f "$pidfile"; say "not running"; return 0; fi
  local pid i
  pid=$(cat "$pidfile")
  kill "$pid"
  for i in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; say "stopped (pid $pid)"; return 0; }
    sleep 0.5
  done
  say "pid $pid did not stop in 30 s: killing it"
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

case ${1:-} in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) if running; then echo "running on 127.0.0.1:$(cat "$portfile") (pid $(cat "$pidfile"))"; else echo "stopped"; exit 3; fi ;;
  bootstrap) running || { say "not running: scripts/kafka.sh start"; exit 1; }; echo "127.0.0.1:$(cat "$portfile")" ;;
  reset) stop; rm -rf "$data" "$run/cluster-id"; say "data deleted" ;;
  *) echo "usage: $0 fetch|start|stop|status|bootstrap|reset" >&2; exit 2 ;;
esac
