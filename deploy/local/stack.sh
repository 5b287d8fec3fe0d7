#!/usr/bin/env bash
# stack.sh — a real single-node Kafka 4.x (KRaft) and Cassandra 5.0 on 127.0.0.1, from Maven Central jars.
#
#   deploy/local/stack.sh fetch                 resolve the jars (cached under $KJ_RUN/cache)
#   deploy/local/stack.sh start [kafka|cassandra]   start (idempotent: a running server is reused)
#   deploy/local/stack.sh stop  [kafka|cassandra]   stop only what this script started (pid files)
#   deploy/local/stack.sh kill  kafka|cassandra     SIGKILL (fault tests), data kept
#   deploy/local/stack.sh status
#   deploy/local/stack.sh running NAME          exit status 0 when NAME runs and was started here
#   deploy/local/stack.sh env                   print KAFKA_BROKERS=… and CASSANDRA_HOSTS=…
#
# Environment (defaults): KJ_RUN (<repo>/.run), KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093),
# KAFKA_PARTITIONS (4, default partitions of auto-created topics), CASSANDRA_PORT (9042),
# CASSANDRA_STORAGE_PORT (7000), KAFKA_HEAP (512m), CASSANDRA_HEAP (768m), JAVA_HOME (Java 17; never 25:
# Cassandra 5.0 calls System.setSecurityManager, which throws on Java 24+), KJ_READY_TIMEOUT (180s).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
run=${KJ_RUN:-$root/.run}
kafka_port=${KAFKA_PORT:-9092}
kafka_ctl_port=${KAFKA_CONTROLLER_PORT:-9093}
kafka_partitions=${KAFKA_PARTITIONS:-4}
cql_port=${CASSANDRA_PORT:-9042}
storage_port=${CASSANDRA_STORAGE_PORT:-7000}
ready_timeout=${KJ_READY_TIMEOUT:-180s}
# A fixed cluster id is fine for a throwaway single node (the apache/kafka image's default).
kafka_cluster_id=MkU3OEVBNTcwNTJENDM2Qk

find_java() {
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
    echo "$JAVA_HOME/bin/java"
  elif [[ -x /usr/lib/jvm/java-17-openjdk-amd64/bin/java ]]; then
    echo /usr/lib/jvm/java-17-openjdk-amd64/bin/java
  else
    command -v java
  fi
}
java=$(find_java)

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

# fetch NAME: copy the runtime closure of deploy/local/NAME/pom.xml into $run/cache/NAME/libs.
# The copy is keyed by the pom's checksum, so a second start neither resolves nor downloads again.
fetch() {
  local name=$1 pom="$here/$1/pom.xml" dir="$run/cache/$1"
  local sum
  sum=$(sha256sum "$pom" | cut -c1-16)
  if [[ -f "$dir/libs.$sum" ]]; then
    return
  fi
  log "resolving $name jars from Maven Central (first run only)"
  rm -rf "$dir/libs" "$dir"/libs.*
  mkdir -p "$dir"
  mvn -B -q -f "$pom" org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$dir/libs" >"$dir/mvn.log" 2>&1 ||
    { tail -n 30 "$dir/mvn.log" >&2; die "mvn failed for $name (log: $dir/mvn.log)"; }
  touch "$dir/libs.$sum"
}

waitready_bin() {
  local bin="$run/bin/waitready"
  if [[ ! -x "$bin" || "$here/waitready/main.go" -nt "$bin" ]]; then
    mkdir -p "$run/bin"
    (cd "$root" && go build -o "$bin" ./deploy/local/waitready)
  fi
  echo "$bin"
}

# running NAME: true when NAME's pid file names a live process that is ours (its command line holds our
# run dir), so a recycled pid is never mistaken for our server and never killed.
running() {
  local pidf="$run/$1/pid" pid
  [[ -f "$pidf" ]] || return 1
  pid=$(cat "$pidf")
  [[ -n "$pid" && -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' </proc/"$pid"/cmdline | grep -qF -- "$run/$1"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_ready() {
  local name=$1 addr=$2 dir="$run/$1"
  if ! "$(waitready_bin)" "$name" "$addr" "$ready_timeout"; then
    log "$name did not become ready; last lines of $dir/server.log:"
    tail -n 40 "$dir/server.log" >&2 || true
    stop_one "$name"
    return 1
  fi
}

start_kafka() {
  local dir="$run/kafka"
  if running kafka; then
    log "kafka already running (pid $(cat "$dir/pid")) on 127.0.0.1:$kafka_port"
    return
  fi
  port_busy "$kafka_port" && die "port $kafka_port is taken by a process this script did not start"
  fetch kafka
  mkdir -p "$dir/data"
  sed -e "s#@DIR@#$dir#g" -e "s#@PORT@#$kafka_port#g" -e "s#@CONTROLLER_PORT@#$kafka_ctl_port#g" \
    -e "s#@PARTITIONS@#$kafka_partitions#g" "$here/kafka/server.properties.in" >"$dir/server.properties"
  local cp="$run/cache/kafka/libs/*"
  # Kafka 4.x logs through SLF4J 1.7 (reload4j binding here); kafka-tools also drags in log4j-core, which
  # wants a log4j2 config of its own or prints "No configuration found".
  local logopts=(-Dlog4j.configuration="file:$here/kafka/log4j.properties"
    -Dlog4j2.configurationFile="$here/kafka/log4j2.properties" -Dkafka.logs.dir="$dir")
  # --ignore-formatted keeps a restart (fault tests) on the same data.
  "$java" -Xmx256m "${logopts[@]}" -cp "$cp" kafka.tools.StorageTool format \
    -t "$kafka_cluster_id" -c "$dir/server.properties" --ignore-formatted >"$dir/format.log" 2>&1 ||
    { cat "$dir/format.log" >&2; die "kafka storage format failed"; }
  log "starting kafka on 127.0.0.1:$kafka_port"
  setsid "$java" -Xms"${KAFKA_HEAP:-512m}" -Xmx"${KAFKA_HEAP:-512m}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -Djava.awt.headless=true "${logopts[@]}" \
    -Dkjournal.run="$dir" -cp "$cp" kafka.Kafka "$dir/server.properties" >"$dir/server.log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
}

start_cassandra() {
  local dir="$run/cassandra"
  if running cassandra; then
    log "cassandra already running (pid $(cat "$dir/pid")) on 127.0.0.1:$cql_port"
    return
  fi
  port_busy "$cql_port" && die "port $cql_port is taken by a process this script did not start"
  fetch cassandra
  mkdir -p "$dir"/{data,commitlog,saved_caches,hints,cdc_raw,triggers,tmp}
  sed -e "s#@DIR@#$dir#g" -e "s#@CQL_PORT@#$cql_port#g" -e "s#@STORAGE_PORT@#$storage_port#g" \
    "$here/cassandra/cassandra.yaml.in" >"$dir/cassandra.yaml"
  local libs="$run/cache/cassandra/libs" jamm
  jamm=$(ls "$libs"/jamm-*.jar | head -n1)
  log "starting cassandra on 127.0.0.1:$cql_port"
  # Heap set explicitly: Cassandra would otherwise size it from the machine's RAM.
  setsid "$java" @"$here/cassandra/jvm17.args" \
    -Xms"${CASSANDRA_HEAP:-768m}" -Xmx"${CASSANDRA_HEAP:-768m}" -Xss256k -XX:+UseG1GC \
    -Djava.net.preferIPv4Stack=true -javaagent:"$jamm" \
    -Dcassandra-foreground=yes -Dcassandra.config="file://$dir/cassandra.yaml" \
    -Dcassandra.storagedir="$dir" -Dcassandra.logdir="$dir" -Dcassandra.triggers_dir="$dir/triggers" \
    -Djava.io.tmpdir="$dir/tmp" -Djna.tmpdir="$dir/tmp" \
    -Dlogback.configurationFile="$here/cassandra/logback.xml" \
    -Dcassandra.skip_wait_for_gossip_to_settle=0 -Dcassandra.load_ring_state=false \
    -Dcassandra.superuser_setup_delay_ms=0 -Dcassandra.system_distributed.default_rf=1 \
    -Dcassandra.system_traces.default_rf=1 -Dcassandra.system_auth.default_rf=1 \
    -cp "$libs/*" org.apache.cassandra.service.CassandraDaemon >"$dir/server.log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
}

stop_one() {
  local name=$1 dir="$run/$1" pid
  if ! running "$name"; then
    rm -f "$dir/pid"
    return
  fi
  pid=$(cat "$dir/pid")
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name ignored SIGTERM for 30s; killing"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$dir/pid"
}

kill_one() {
  local name=$1 dir="$run/$1"
  running "$name" || die "$name is not running"
  kill -KILL "$(cat "$dir/pid")"
  while running "$name"; do sleep 0.1; done
  rm -f "$dir/pid"
}

which_servers() { if [[ $# -gt 0 && -n "$1" ]]; then echo "$1"; else echo "kafka cassandra"; fi; }

cmd=${1:-}
shift || true
mkdir -p "$run"
case "$cmd" in
fetch)
  for s in $(which_servers "${1:-}"); do fetch "$s"; done
  ;;
start)
  servers=$(which_servers "${1:-}")
  # Both JVMs start in parallel; readiness is then awaited in turn.
  for s in $servers; do "start_$s"; done
  for s in $servers; do
    case $s in
    kafka) wait_ready kafka "127.0.0.1:$kafka_port" ;;
    cassandra) wait_ready cassandra "127.0.0.1:$cql_port" ;;
    esac
    log "$s ready"
  done
  ;;
stop)
  for s in $(which_servers "${1:-}"); do stop_one "$s"; done
  ;;
kill)
  [[ $# -eq 1 ]] || die "kill needs kafka or cassandra"
  kill_one "$1"
  ;;
running)
  # exit status only: is NAME running (and ours)?
  [[ $# -eq 1 ]] || die "running needs kafka or cassandra"
  running "$1"
  ;;
status)
  for s in kafka cassandra; do
    if running "$s"; then echo "$s: running (pid $(cat "$run/$s/pid"))"; else echo "$s: stopped"; fi
  done
  ;;
env)
  echo "KAFKA_BROKERS=127.0.0.1:$kafka_port"
  echo "CASSANDRA_HOSTS=127.0.0.1:$cql_port"
  ;;
*)
  sed -n '2,14p' "$0" >&2
  exit 2
  ;;
esac
