#!/usr/bin/env bash
# stack.sh — a real Kafka 4.x (KRaft) and Cassandra 5.0 from Maven Central jars, one node each on 127.0.0.1
# (default) or, with KJ_NODES=3, three of each on 127.0.0.1-3, and the kjournal replicator and sidecar on
# top of them (built from this checkout).
#
#   deploy/local/stack.sh fetch                 resolve the jars (cached under $KJ_RUN/cache)
#   deploy/local/stack.sh start [SERVICE...]    start (idempotent: a running service is reused);
#                                               SERVICE: kafka cassandra replicator sidecar (default all);
#                                               with KJ_NODES=3 also kafkaN/cassandraN, one node (N 1-3)
#   deploy/local/stack.sh stop  [SERVICE...]    stop only what this script started (pid files)
#   deploy/local/stack.sh kill  SERVICE         SIGKILL (fault tests), data kept
#   deploy/local/stack.sh status
#   deploy/local/stack.sh running NAME          exit status 0 when NAME runs and was started here
#   deploy/local/stack.sh env                   print KAFKA_BROKERS=…, CASSANDRA_HOSTS=…, KJOURNAL_SOCKET=…
#
# Environment (defaults): KJ_RUN (<repo>/.run), KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093),
# KAFKA_PARTITIONS (4, default partitions of auto-created topics), CASSANDRA_PORT (9042),
# CASSANDRA_STORAGE_PORT (7000), KAFKA_HEAP (512m), CASSANDRA_HEAP (768m), JAVA_HOME (Java 17; never 25:
# Cassandra 5.0 calls System.setSecurityManager, which throws on Java 24+), KJ_READY_TIMEOUT (180s),
# KJOURNAL_SOCKET ($KJ_RUN/sidecar/kjournal.sock), SIDECAR_HTTP_ADDR (127.0.0.1:9095),
# REPLICATOR_HTTP_ADDR (127.0.0.1:9096), CASSANDRA_AUTH (1: PasswordAuthenticator and CassandraAuthorizer,
# superuser cassandra/cassandra; the services log in as CASSANDRA_USERNAME with CASSANDRA_PASSWORD).
# KJ_NODES (1; or 3: a cluster, node N on 127.0.0.N with the same ports, data under $KJ_RUN/kafkaN and
# $KJ_RUN/cassandraN; topics RF 3 with min.insync.replicas 2, keyspace NetworkTopologyStrategy
# datacenter1=3; heaps default to KAFKA_HEAP 384m and CASSANDRA_HEAP 512m per node).
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
socket=${KJOURNAL_SOCKET:-$run/sidecar/kjournal.sock}
sidecar_http=${SIDECAR_HTTP_ADDR:-127.0.0.1:9095}
replicator_http=${REPLICATOR_HTTP_ADDR:-127.0.0.1:9096}
all_services="kafka cassandra replicator sidecar"
nodes=${KJ_NODES:-1}
case $nodes in
1)
  kafka_heap=${KAFKA_HEAP:-512m} cassandra_heap=${CASSANDRA_HEAP:-768m} rf=1 min_isr=1
  replication=SimpleStrategy:1
  ;;
3)
  kafka_heap=${KAFKA_HEAP:-384m} cassandra_heap=${CASSANDRA_HEAP:-512m} rf=3 min_isr=2
  # SimpleSnitch puts every node in datacenter1.
  replication=NetworkTopologyStrategy:datacenter1=3
  ;;
*)
  echo "[stack] error: KJ_NODES must be 1 or 3, not $nodes" >&2
  exit 2
  ;;
esac
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
# On a cluster, kafka and cassandra run when every node does.
running() {
  local n
  if [[ $nodes -gt 1 && ($1 == kafka || $1 == cassandra) ]]; then
    for n in $(node_names "$1"); do running_node "$n" || return 1; done
    return 0
  fi
  running_node "$1"
}

running_node() {
  local pidf="$run/$1/pid" pid mark="$run/$1"
  case $1 in replicator | sidecar) mark="$run/bin/kjournal $1" ;; esac
  [[ -f "$pidf" ]] || return 1
  pid=$(cat "$pidf")
  [[ -n "$pid" && -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' </proc/"$pid"/cmdline | grep -qF -- "$mark"
}

# node_names SERVER: the nodes of kafka or cassandra, each a service of its own with a dir under $run:
# SERVER itself on one node, SERVER1..SERVER3 on a cluster.
node_names() {
  if [[ $nodes -eq 1 ]]; then echo "$1"; else seq -f "$1%g" 1 "$nodes" | tr '\n' ' '; fi
}

# host NAME: the loopback address of a node (kafka2 -> 127.0.0.2; kafka -> 127.0.0.1).
host() {
  local i=${1//[!0-9]/}
  echo "127.0.0.${i:-1}"
}

# addrs PORT: every node's HOST:PORT, comma-separated.
addrs() {
  local i out=127.0.0.1:$1
  for ((i = 2; i <= nodes; i++)); do out+=",127.0.0.$i:$1"; done
  echo "$out"
}

kjournal_bin() {
  mkdir -p "$run/bin"
  (cd "$root" && go build -o "$run/bin/kjournal" ./cmd/kjournal)
  echo "$run/bin/kjournal"
}

# wait_http NAME ADDR: until GET /readyz answers 200.
wait_http() {
  local name=$1 addr=$2 deadline=$((SECONDS + 120))
  until curl -sf -o /dev/null "http://$addr/readyz"; do
    # Checked twice: right after `setsid ... &` the child may not have exec'd the binary yet, and its
    # command line does not name it (a restart in TestFaults/SidecarKilled failed on that once).
    if { ! running "$name" && sleep 0.5 && ! running "$name"; } || ((SECONDS > deadline)); then
      log "$name did not become ready; last lines of $run/$name/server.log:"
      tail -n 40 "$run/$name/server.log" >&2 || true
      stop_one "$name"
      return 1
    fi
    sleep 0.3
  done
}

start_replicator() {
  local dir="$run/replicator" bin
  if running replicator; then
    log "replicator already running (pid $(cat "$dir/pid"))"
    return
  fi
  bin=$(kjournal_bin)
  mkdir -p "$dir"
  log "starting replicator (http $replicator_http)"
  setsid "$bin" replicator --kafka-brokers "$(addrs "$kafka_port")" --cassandra-hosts "$(addrs "$cql_port")" \
    --replication "$replication" --http-addr "$replicator_http" --log-format text >"$dir/server.log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
}

start_sidecar() {
  local dir="$run/sidecar" bin
  if running sidecar; then
    log "sidecar already running (pid $(cat "$dir/pid")) on $socket"
    return
  fi
  bin=$(kjournal_bin)
  mkdir -p "$dir" "$(dirname "$socket")"
  # The sidecar runs no DDL: without a replicator (started before it) to create the schema, do it here.
  if ! running replicator; then
    "$bin" schema --cassandra-hosts "$(addrs "$cql_port")" --replication "$replication" --log-level warn >"$dir/schema.log" 2>&1 ||
      { cat "$dir/schema.log" >&2; die "kjournal schema failed"; }
  fi
  log "starting sidecar on $socket (http $sidecar_http)"
  setsid "$bin" sidecar --socket "$socket" --kafka-brokers "$(addrs "$kafka_port")" \
    --cassandra-hosts "$(addrs "$cql_port")" --http-addr "$sidecar_http" --log-format text \
    >"$dir/server.log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
}

# port_busy HOST PORT
port_busy() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# wait_ready SERVER NODE...: until every node answers (waitready: on a cluster, also sees the others).
wait_ready() {
  local server=$1 n addrs=() port=$kafka_port
  shift
  [[ $server == cassandra ]] && port=$cql_port
  for n in "$@"; do addrs+=("$(host "$n"):$port"); done
  if ! KJ_NODES=$nodes "$(waitready_bin)" "$server" "$(
    IFS=,
    echo "${addrs[*]}"
  )" "$ready_timeout"; then
    for n in "$@"; do
      log "$server did not become ready; last lines of $run/$n/server.log:"
      tail -n 20 "$run/$n/server.log" >&2 || true
      stop_one "$n"
    done
    return 1
  fi
}

start_kafka() {
  local name=$1 dir="$run/$1" h
  h=$(host "$name")
  if running "$name"; then
    log "$name already running (pid $(cat "$dir/pid")) on $h:$kafka_port"
    return
  fi
  port_busy "$h" "$kafka_port" && die "port $h:$kafka_port is taken by a process this script did not start"
  fetch kafka
  mkdir -p "$dir/data"
  local i voters=""
  for ((i = 1; i <= nodes; i++)); do voters+="${voters:+,}$i@127.0.0.$i:$kafka_ctl_port"; done
  sed -e "s#@DIR@#$dir#g" -e "s#@PORT@#$kafka_port#g" -e "s#@CONTROLLER_PORT@#$kafka_ctl_port#g" \
    -e "s#@PARTITIONS@#$kafka_partitions#g" -e "s#@HOST@#$h#g" -e "s#@NODE_ID@#${h##*.}#g" \
    -e "s#@VOTERS@#$voters#g" -e "s#@RF@#$rf#g" -e "s#@MIN_ISR@#$min_isr#g" \
    "$here/kafka/server.properties.in" >"$dir/server.properties"
  local cp="$run/cache/kafka/libs/*"
  # Kafka 4.x logs through SLF4J 1.7 (reload4j binding here); kafka-tools also drags in log4j-core, which
  # wants a log4j2 config of its own or prints "No configuration found".
  local logopts=(-Dlog4j.configuration="file:$here/kafka/log4j.properties"
    -Dlog4j2.configurationFile="$here/kafka/log4j2.properties" -Dkafka.logs.dir="$dir")
  # A restart (fault tests) keeps its formatted data and skips the formatting JVM.
  if [[ ! -f "$dir/data/meta.properties" ]]; then
    "$java" -Xmx256m "${logopts[@]}" -cp "$cp" kafka.tools.StorageTool format \
      -t "$kafka_cluster_id" -c "$dir/server.properties" --ignore-formatted >"$dir/format.log" 2>&1 ||
      { cat "$dir/format.log" >&2; die "kafka storage format failed"; }
  fi
  log "starting $name on $h:$kafka_port"
  setsid "$java" -Xms"$kafka_heap" -Xmx"$kafka_heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -Djava.awt.headless=true "${logopts[@]}" \
    -Dkjournal.run="$dir" -cp "$cp" kafka.Kafka "$dir/server.properties" >"$dir/server.log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
}

start_cassandra() {
  local name=$1 dir="$run/$1" h
  h=$(host "$name")
  if running "$name"; then
    log "$name already running (pid $(cat "$dir/pid")) on $h:$cql_port"
    return
  fi
  port_busy "$h" "$cql_port" && die "port $h:$cql_port is taken by a process this script did not start"
  fetch cassandra
  mkdir -p "$dir"/{data,commitlog,saved_caches,hints,cdc_raw,triggers,tmp}
  local auth=()
  if [[ ${CASSANDRA_AUTH:-} == 1 ]]; then
    auth=(-e "s#^authenticator: .*#authenticator: PasswordAuthenticator#"
      -e "s#^authorizer: .*#authorizer: CassandraAuthorizer#")
  fi
  # One token per node, evenly spread (Murmur3: -2^63 + k*2^64/3); a single node keeps token 0. Every node
  # is a seed, so none bootstraps and all three start at once. Hints on a cluster replay what a node
  # missed while it was down.
  local token=0 seeds="127.0.0.1:$storage_port" hints=false i
  if [[ $nodes -gt 1 ]]; then
    i=${h##*.}
    token=$(python3 -c "print(-2**63 + ($i - 1) * 2**64 // $nodes)")
    seeds=$(addrs "$storage_port") hints=true
  fi
  sed -e "s#@DIR@#$dir#g" -e "s#@CQL_PORT@#$cql_port#g" -e "s#@STORAGE_PORT@#$storage_port#g" \
    -e "s#@HOST@#$h#g" -e "s#@SEEDS@#$seeds#g" -e "s#@TOKEN@#$token#g" -e "s#@HINTS@#$hints#g" "${auth[@]}" \
    "$here/cassandra/cassandra.yaml.in" >"$dir/cassandra.yaml"
  local libs="$run/cache/cassandra/libs" jamm
  jamm=$(ls "$libs"/jamm-*.jar | head -n1)
  log "starting $name on $h:$cql_port"
  # Heap set explicitly: Cassandra would otherwise size it from the machine's RAM. ring_delay_ms: how long
  # a starting node listens to gossip before it serves; 30s by default, 1s suffices on loopback.
  setsid "$java" @"$here/cassandra/jvm17.args" \
    -Xms"$cassandra_heap" -Xmx"$cassandra_heap" -Xss256k -XX:+UseG1GC \
    -Djava.net.preferIPv4Stack=true -javaagent:"$jamm" \
    -Dcassandra-foreground=yes -Dcassandra.config="file://$dir/cassandra.yaml" \
    -Dcassandra.storagedir="$dir" -Dcassandra.logdir="$dir" -Dcassandra.triggers_dir="$dir/triggers" \
    -Djava.io.tmpdir="$dir/tmp" -Djna.tmpdir="$dir/tmp" \
    -Dlogback.configurationFile="$here/cassandra/logback.xml" \
    -Dcassandra.skip_wait_for_gossip_to_settle=0 -Dcassandra.load_ring_state=false \
    -Dcassandra.superuser_setup_delay_ms=0 -Dcassandra.system_distributed.default_rf="$rf" \
    -Dcassandra.system_traces.default_rf="$rf" -Dcassandra.system_auth.default_rf="$rf" -Dcassandra.ring_delay_ms=1000 \
    -cp "$libs/*" org.apache.cassandra.service.CassandraDaemon >"$dir/server.log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
}

# stop_one SERVICE: kafka and cassandra stop every node there is, whatever KJ_NODES says now (so `make down`
# without KJ_NODES=3 stops a cluster too).
stop_one() {
  local n
  case $1 in
  kafka | cassandra)
    # in parallel: a Cassandra node takes seconds to drain
    for n in "$1" "$1"1 "$1"2 "$1"3; do if [[ -d "$run/$n" ]]; then stop_node "$n" & fi; done
    wait
    ;;
  *) stop_node "$1" ;;
  esac
}

stop_node() {
  local name=$1 dir="$run/$1" pid
  if ! running_node "$name"; then
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
  local name=$1 dir="$run/$1" n
  if [[ $nodes -gt 1 && ($name == kafka || $name == cassandra) ]]; then
    for n in $(node_names "$name"); do kill_one "$n"; done
    return
  fi
  running_node "$name" || die "$name is not running"
  kill -KILL "$(cat "$dir/pid")"
  while running_node "$name"; do sleep 0.1; done
  rm -f "$dir/pid"
}

which_services() { if [[ $# -gt 0 ]]; then echo "$@"; else echo "$all_services"; fi; }

cmd=${1:-}
shift || true
mkdir -p "$run"
case "$cmd" in
fetch)
  for s in ${1:-kafka cassandra}; do fetch "$s"; done
  ;;
start)
  services=$(which_services "$@")
  # The JVMs (every node of a cluster too) start in parallel; kjournal's services need them ready, so they
  # start after.
  kafka_nodes=() cassandra_nodes=()
  for s in $services; do
    case $s in
    kafka | cassandra) read -ra ns <<<"$(node_names "$s")" ;;
    kafka[1-9] | cassandra[1-9])
      [[ $nodes -gt 1 && ${s//[!0-9]/} -le $nodes ]] || die "$s: no such node with KJ_NODES=$nodes"
      ns=("$s")
      ;;
    *) continue ;;
    esac
    for n in "${ns[@]}"; do
      "start_${s%%[0-9]*}" "$n"
      if [[ $s == kafka* ]]; then kafka_nodes+=("$n"); else cassandra_nodes+=("$n"); fi
    done
  done
  # A restarted node of a running cluster must see the others too: wait on all that run.
  if [[ ${#kafka_nodes[@]} -gt 0 ]]; then
    wait_ready kafka "${kafka_nodes[@]}" && log "${kafka_nodes[*]} ready"
  fi
  if [[ ${#cassandra_nodes[@]} -gt 0 ]]; then
    wait_ready cassandra "${cassandra_nodes[@]}" && log "${cassandra_nodes[*]} ready"
  fi
  for s in $services; do
    case $s in
    replicator) start_replicator && wait_http replicator "$replicator_http" && log "replicator ready" ;;
    sidecar) start_sidecar && wait_http sidecar "$sidecar_http" && log "sidecar ready" ;;
    kafka* | cassandra*) ;;
    *) die "unknown service $s" ;;
    esac
  done
  ;;
stop)
  # Reverse order: clients of the servers stop first.
  for s in $(which_services "$@" | tr ' ' '\n' | tac); do stop_one "$s"; done
  ;;
kill)
  [[ $# -eq 1 ]] || die "kill needs a service name"
  kill_one "$1"
  ;;
running)
  # exit status only: is NAME running (and ours)?
  [[ $# -eq 1 ]] || die "running needs a service name"
  running "$1"
  ;;
status)
  for s in $(node_names kafka) $(node_names cassandra) replicator sidecar; do
    if running "$s"; then echo "$s: running (pid $(cat "$run/$s/pid"))"; else echo "$s: stopped"; fi
  done
  ;;
env)
  echo "KAFKA_BROKERS=$(addrs "$kafka_port")"
  echo "CASSANDRA_HOSTS=$(addrs "$cql_port")"
  echo "KJOURNAL_SOCKET=$socket"
  echo "SIDECAR_HTTP_ADDR=$sidecar_http"
  echo "REPLICATOR_HTTP_ADDR=$replicator_http"
  ;;
*)
  sed -n '2,28p' "$0" >&2
  exit 2
  ;;
esac
