#!/usr/bin/env bash
# Local single-node Apache Kafka broker (KRaft, combined broker+controller) for the demo, the tests and CI.
#
#   scripts/kafka.sh fetch      resolve the broker jars from Maven Central into .cache/kafka (once)
#   scripts/kafka.sh start      format storage if needed, start the broker, wait until it answers
#   scripts/kafka.sh stop       stop the broker started here (by its PID), wait for it to exit
#   scripts/kafka.sh status     say whether it runs, and where
#   scripts/kafka.sh bootstrap  print host:port for clients (AIGUILLEUR_KAFKA_BOOTSTRAP)
#   scripts/kafka.sh env        print the AIGUILLEUR_KAFKA_* variables a client needs (export-able lines)
#   scripts/kafka.sh reset      stop, then delete the broker's data (topics, offsets)
#
# Idempotent: `start` on a running broker returns at once; `fetch` is skipped when the jars are there.
# Port: AIGUILLEUR_KAFKA_PORT if set, else the port used last time if still free, else a free one from 39092 up.
# Why Kafka 4.0.0: faust-streaming's maintainers run its live-broker suite against Apache Kafka 4.0.0 (KRaft) with
# aiokafka 0.14 (faust-streaming issue #655, PR #714); 4.x needs no ZooKeeper, and Java 17 is what it requires.
#
# Secured broker: `--sasl` after any command (or AIGUILLEUR_KAFKA_SASL=1) works on a second, separate broker
# that speaks only SASL over TLS (SCRAM-SHA-512, SCRAM-SHA-256 and PLAIN) to clients, from .cache/kafka/run-sasl
# and on its own ports (AIGUILLEUR_KAFKA_SASL_PORT, else a free pair from 39192 up), so it runs beside the
# plaintext one. Its first start makes a throw-away CA and broker certificate (openssl; for 127.0.0.1 and
# localhost), random passwords for the client user `aiguilleur` and for the broker itself, and formats the
# storage with their SCRAM credentials (kafka-storage format --add-scram). `scripts/kafka.sh env --sasl` prints
# the bootstrap, mechanism, user, password and CA file. Nothing there is worth keeping: `reset --sasl` deletes it.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kafka_version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$root/scripts/kafka/pom.xml")
home=${AIGUILLEUR_KAFKA_HOME:-$root/.cache/kafka}
libs=$home/libs-$kafka_version

command=${1:-}
[[ $# -gt 0 ]] && shift
sasl=${AIGUILLEUR_KAFKA_SASL:-0}
for arg in "$@"; do
  case $arg in
    --sasl) sasl=1 ;;
    *) echo "kafka: unknown option $arg (the only one is --sasl)" >&2; exit 2 ;;
  esac
done
if [[ $sasl == 1 ]]; then
  run=$home/run-sasl
  first_port=39192
  wanted_port=${AIGUILLEUR_KAFKA_SASL_PORT:-}
  port_variable=AIGUILLEUR_KAFKA_SASL_PORT
  flag=" --sasl"
else
  run=$home/run
  first_port=39092
  wanted_port=${AIGUILLEUR_KAFKA_PORT:-}
  port_variable=AIGUILLEUR_KAFKA_PORT
  flag=""
fi
data=$run/data
pidfile=$run/broker.pid
portfile=$run/port
log=$run/broker.log
tls=$run/tls
secrets=$run/secrets

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
  if [[ -n $wanted_port ]]; then
    echo "$wanted_port"; return
  fi
  if [[ -f $portfile ]] && port_free "$(cat "$portfile")" && port_free $(( $(cat "$portfile") + 1 )); then
    cat "$portfile"; return
  fi
  local p=$first_port
  while ! port_free "$p" || ! port_free $((p + 1)); do p=$((p + 2)); done
  echo "$p"
}

# The throw-away CA, the broker's certificate signed by it, and the passwords; made once per run directory.
make_secrets() {
  if [[ -f $secrets && -f $tls/broker.p12 ]]; then return 0; fi
  command -v openssl >/dev/null || { say "openssl not found: install it (apt-get install openssl)"; exit 1; }
  # The SCRAM credentials live in the formatted storage: new passwords mean a new storage.
  rm -rf "$tls" "$data" "$run/cluster-id"
  mkdir -p "$tls"
  (
    umask 077
    {
      echo "client_password=$(openssl rand -hex 16)"
      echo "broker_password=$(openssl rand -hex 16)"
      echo "keystore_password=$(openssl rand -hex 16)"
    } >"$secrets"
  )
  # shellcheck disable=SC1090
  source "$secrets"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=aiguilleur throw-away test CA" \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$tls/broker.key" \
    -out "$tls/broker.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$tls/san.ext"
  openssl x509 -req -in "$tls/broker.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
    -days 3650 -extfile "$tls/san.ext" -out "$tls/broker.pem" 2>/dev/null
  openssl pkcs12 -export -in "$tls/broker.pem" -inkey "$tls/broker.key" -certfile "$tls/ca.pem" \
    -name broker -passout "pass:$keystore_password" -out "$tls/broker.p12"
  say "made a throw-away CA and broker certificate in $tls"
}

write_listeners() {
  local port=$1 cport=$(($1 + 1))
  if [[ $sasl != 1 ]]; then
    cat <<EOF
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
EOF
    return 0
  fi
  # shellcheck disable=SC1090
  source "$secrets"
  # Clients reach only the SASL_SSL listener; the controller listener stays on loopback as the plaintext
  # broker's does. The broker talks to itself over SASL_SSL as the user `broker` (SCRAM-SHA-512).
  cat <<EOF
listeners=SASL_SSL://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=SASL_SSL://127.0.0.1:$port
inter.broker.listener.name=SASL_SSL
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="$broker_password";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_aiguilleur="$client_password";
ssl.keystore.type=PKCS12
ssl.keystore.location=$tls/broker.p12
ssl.keystore.password=$keystore_password
ssl.truststore.type=PEM
ssl.truststore.location=$tls/ca.pem
EOF
}

# kafka-storage format arguments that create the SCRAM users (secured broker only).
scram_args() {
  if [[ $sasl != 1 ]]; then return 0; fi
  # shellcheck disable=SC1090
  source "$secrets"
  printf '%s\n' \
    --add-scram "SCRAM-SHA-512=[name=broker,password=$broker_password]" \
    --add-scram "SCRAM-SHA-512=[name=aiguilleur,password=$client_password]" \
    --add-scram "SCRAM-SHA-256=[name=aiguilleur,password=$client_password]"
}

write_config() {
  local port=$1 cport=$(($1 + 1))
  {
    cat <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
controller.listener.names=CONTROLLER
EOF
    write_listeners "$port"
    cat <<EOF
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
  } >"$run/server.properties"
  chmod 600 "$run/server.properties"
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
  if [[ $sasl == 1 ]]; then make_secrets; fi
  local port attempt rc scram=()
  mapfile -t scram < <(scram_args)
  for attempt in 1 2 3 4 5; do
    port=$(choose_port)
    if ! port_free "$port" || ! port_free $((port + 1)); then
      say "port $port or $((port + 1)) is in use: set $port_variable to a free pair"; exit 1
    fi
    write_config "$port"
    if [[ ! -f $data/meta.properties ]]; then
      mkdir -p "$data"
      java_cmd kafka.tools.StorageTool format --ignore-formatted -t "$(cat "$run/cluster-id" 2>/dev/null || \
        { java_cmd kafka.tools.StorageTool random-uuid | tee "$run/cluster-id"; })" \
        -c "$run/server.properties" "${scram[@]}" >/dev/null
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
    if [[ -n $wanted_port ]]; then
      say "port $port or $((port + 1)) is in use: set $port_variable to a free pair"; exit 1
    fi
    say "port $port or $((port + 1)) was taken while the broker started; trying another pair"
    [[ $attempt == 5 ]] && { say "no free port pair after 5 attempts"; exit 1; }
  done
  say "started${flag:+ (SASL over TLS)} on 127.0.0.1:$port (pid $(cat "$pidfile"))"
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

require_running() {
  running || { say "not running: scripts/kafka.sh start$flag"; exit 1; }
}

# What a client needs to reach this broker, as VARIABLE=value lines.
client_env() {
  require_running
  echo "AIGUILLEUR_KAFKA_BOOTSTRAP=127.0.0.1:$(cat "$portfile")"
  if [[ $sasl != 1 ]]; then return 0; fi
  # shellcheck disable=SC1090
  source "$secrets"
  echo "AIGUILLEUR_KAFKA_SASL_MECHANISM=SCRAM-SHA-512"
  echo "AIGUILLEUR_KAFKA_SASL_USERNAME=aiguilleur"
  echo "AIGUILLEUR_KAFKA_SASL_PASSWORD=$client_password"
  echo "AIGUILLEUR_KAFKA_SSL_CAFILE=$tls/ca.pem"
}

case $command in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) if running; then echo "running on 127.0.0.1:$(cat "$portfile") (pid $(cat "$pidfile"))"; else echo "stopped"; exit 3; fi ;;
  bootstrap) require_running; echo "127.0.0.1:$(cat "$portfile")" ;;
  env) client_env ;;
  reset) stop; rm -rf "$data" "$run/cluster-id" "$tls" "$secrets"; say "data deleted" ;;
  *) echo "usage: $0 fetch|start|stop|status|bootstrap|env|reset [--sasl]" >&2; exit 2 ;;
esac
