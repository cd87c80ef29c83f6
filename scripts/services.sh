#!/usr/bin/env bash
# Local services for development and tests: PostgreSQL, RabbitMQ and Kafka.
#
#   scripts/services.sh [up]              start what is not answering yet, then probe all three
#   scripts/services.sh down              stop all three (data is kept)
#   scripts/services.sh status            one line per service (exit 0 if all up, 3 otherwise)
#   scripts/services.sh start <svc>       start one service, return once it answers
#   scripts/services.sh stop <svc>        stop one service, return once it is down
#   scripts/services.sh restart <svc>     stop, then start
#   <svc> is pg (postgres), rabbitmq or kafka.
#
# Contract (what the application and tests use; these are the defaults):
#   DATABASE_URL=postgres://postgres:postgres@127.0.0.1:5432/actors
#   AMQP_URL=amqp://guest:guest@127.0.0.1:5672      (management HTTP API on 127.0.0.1:15672)
#   KAFKA_BROKERS=127.0.0.1:9092
# Everything listens on 127.0.0.1 only.
#
# How services are started:
#   - a service that already answers on its port is left as it is;
#   - with a working Docker engine (`docker info` succeeds), the missing ones are
#     started with `docker compose up -d --wait` from docker-compose.yml, except
#     a service that already has native data under .data (it is restarted natively);
#   - otherwise they run natively from Debian's packages (postgresql,
#     rabbitmq-server; installed with apt-get when missing) and, for Kafka, from
#     the broker jars fetched once with Maven (scripts/kafka/pom.xml).
#   SERVICES_MODE=native|docker forces one way (default: auto).
#
# All data and logs live under .data/ at the repo root (git-ignored):
#   .data/pg/            PostgreSQL cluster (data/), socket dir (run/), postgres.log
#   .data/rabbitmq/      mnesia/, log/, rabbitmq.conf, enabled_plugins
#   .data/kafka/         data/ (log.dirs), logs/ (server.log, kafka.out), server.properties, kafka.pid
#   .data/kafka-libs/    the broker's jars (+ .complete marker), reused when complete
# The native PostgreSQL and RabbitMQ run as their packages' system users
# (postgres, rabbitmq), so starting them needs root.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
DATA="$ROOT/.data"
SCRIPTS="$ROOT/scripts"

# ---------------------------------------------------------------- settings ---
: "${DATABASE_URL:=postgres://postgres:postgres@127.0.0.1:5432/actors}"
: "${AMQP_URL:=amqp://guest:guest@127.0.0.1:5672}"
: "${KAFKA_BROKERS:=127.0.0.1:9092}"
export DATABASE_URL AMQP_URL KAFKA_BROKERS
export KAFKAJS_NO_PARTITIONER_WARNING=1
SERVICES_MODE="${SERVICES_MODE:-auto}"

HOST=127.0.0.1
PG_PORT=5432
AMQP_PORT=5672
RABBIT_MGMT_PORT=15672
KAFKA_PORT=9092
KAFKA_CONTROLLER_PORT=9093

PG_DIR="$DATA/pg"
PGDATA_DIR="$PG_DIR/data"
PG_RUN="$PG_DIR/run"
PG_LOG="$PG_DIR/postgres.log"
PG_PASSWORD=postgres

R_DIR="$DATA/rabbitmq"
R_MNESIA="$R_DIR/mnesia"
R_LOGDIR="$R_DIR/log"
R_LOG="$R_LOGDIR/rabbit@localhost.log"
R_STARTUP_LOG="$R_LOGDIR/startup.log"
R_PIDFILE="$R_MNESIA/rabbit@localhost.pid"
R_CONF="$R_DIR/rabbitmq.conf"
R_PLUGINS="$R_DIR/enabled_plugins"

K_DIR="$DATA/kafka"
K_DATA="$K_DIR/data"
K_LOGS="$K_DIR/logs"
K_LOG="$K_LOGS/server.log"
K_OUT="$K_LOGS/kafka.out"
K_PIDFILE="$K_DIR/kafka.pid"
K_PROPS="$K_DIR/server.properties"
K_LIBS="$DATA/kafka-libs"
K_POM="$SCRIPTS/kafka/pom.xml"
K_LOG4J="$SCRIPTS/kafka/log4j.properties"
K_PROPS_TEMPLATE="$SCRIPTS/kafka/server.properties"
# Used only to format a fresh, empty data dir (any 16-byte base64url id works).
K_CLUSTER_ID="iWRmy4inRoivr8ie3V-21g"
K_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"

COMPOSE_MARKER="$DATA/compose-used"

# RabbitMQ: every rabbitmq-server / rabbitmqctl / rabbitmq-plugins call sees the
# same node name and directories. Only the Erlang cookie stays outside .data: the
# packaged tools run as the rabbitmq user with HOME=/var/lib/rabbitmq.
export RABBITMQ_NODENAME=rabbit@localhost
export RABBITMQ_NODE_IP_ADDRESS="$HOST"
export RABBITMQ_NODE_PORT="$AMQP_PORT"
export RABBITMQ_MNESIA_BASE="$R_MNESIA"
export RABBITMQ_LOG_BASE="$R_LOGDIR"
export RABBITMQ_PID_FILE="$R_PIDFILE"
export RABBITMQ_CONFIG_FILE="$R_CONF"
export RABBITMQ_ADVANCED_CONFIG_FILE="$R_DIR/advanced.config"
export RABBITMQ_ENABLED_PLUGINS_FILE="$R_PLUGINS"
export RABBITMQ_PLUGINS_EXPAND_DIR="$R_MNESIA/plugins-expand"
export ERL_CRASH_DUMP="$R_LOGDIR/erl_crash.dump"
# epmd and the Erlang distribution port bind to loopback only.
export ERL_EPMD_ADDRESS="$HOST"
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"

# ----------------------------------------------------------------- helpers ---
say() { printf '%s\n' "$*"; }
warn() { printf '%s\n' "$*" >&2; }
die() { warn "error: $*"; exit 1; }
rel() { printf '%s' "${1#"$ROOT"/}"; }

# fail SERVICE MESSAGE LOGFILE: report a service that did not come up, show the
# end of its log, exit 1.
fail() {
  local label=$1 msg=$2 log=${3:-}
  warn "$label: FAILED: $msg"
  if [ -n "$log" ]; then
    if [ -s "$log" ]; then
      warn "---- last lines of $(rel "$log") ----"
      tail -n 25 "$log" >&2 || true
      warn "----"
    fi
    warn "$label: log: $(rel "$log")"
  fi
  exit 1
}

usage() {
  local code=${1:-2}
  if [ "$code" -eq 0 ]; then
    sed -n '4,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  else
    sed -n '4,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  fi
  exit "$code"
}

port_open() { timeout 3 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null; }

# wait_port_closed PORT SECONDS
wait_port_closed() {
  local port=$1 until=$((SECONDS + $2))
  while port_open "$port"; do
    [ "$SECONDS" -lt "$until" ] || return 1
    sleep 0.3
  done
}

# pid_matching PID PATTERN: print PID if it is alive and its command line contains PATTERN.
pid_matching() {
  local pid=$1 pattern=$2
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  local cmdline
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *"$pattern"* ]] || return 1
  printf '%s' "$pid"
}

# wait_pid_gone PID SECONDS
wait_pid_gone() {
  local pid=$1 until=$((SECONDS + $2))
  while kill -0 "$pid" 2>/dev/null; do
    [ "$SECONDS" -lt "$until" ] || return 1
    sleep 0.3
  done
}

label_of() { case $1 in pg) echo postgres ;; *) echo "$1" ;; esac; }
port_of() { case $1 in pg) echo $PG_PORT ;; rabbitmq) echo $AMQP_PORT ;; kafka) echo $KAFKA_PORT ;; esac; }
log_of() { case $1 in pg) echo "$PG_LOG" ;; rabbitmq) echo "$R_LOG" ;; kafka) echo "$K_LOG" ;; esac; }
compose_name_of() { case $1 in pg) echo postgres ;; *) echo "$1" ;; esac; }

canonical() {
  case ${1:-} in
    pg | postgres | postgresql) echo pg ;;
    rabbitmq | rabbit | amqp) echo rabbitmq ;;
    kafka) echo kafka ;;
    *) warn "unknown service '${1:-}' (expected pg, rabbitmq or kafka)"; return 1 ;;
  esac
}

need_root() {
  [ "$(id -u)" -eq 0 ] ||
    die "starting $1 natively needs root (it runs as the '$2' system user): re-run with sudo, or use a Docker engine (docker compose up -d --wait)"
}

# The postgres and rabbitmq system users must be able to reach .data. When the
# repository sits under a directory they cannot traverse (e.g. a home directory
# with mode 700), give "others" search permission (x only: no listing, no reading)
# on each directory on the way that lacks it, and say so.
ensure_reachable() {
  local user=$1 target=$2 p="" part
  runuser -u "$user" -- test -x "$target" 2>/dev/null && return 0
  local IFS=/
  for part in ${target#/}; do
    p="$p/$part"
    if ! runuser -u "$user" -- test -x "$p" 2>/dev/null; then
      chmod o+x "$p"
      say "setup: added o+x (search only) on $p so the $user user can reach .data"
    fi
  done
}

# ----------------------------------------------------- docker compose mode ---
compose() { docker compose -f "$ROOT/docker-compose.yml" --project-directory "$ROOT" "$@"; }

DOCKER_OK=""
docker_engine() {
  if [ -z "$DOCKER_OK" ]; then
    DOCKER_OK=no
    if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
      if docker compose version >/dev/null 2>&1; then
        DOCKER_OK=yes
      else
        warn "note: a Docker engine answers but 'docker compose' is missing; running the services natively"
      fi
    fi
  fi
  [ "$DOCKER_OK" = yes ]
}

use_docker() {
  case $SERVICES_MODE in
    native) return 1 ;;
    docker) docker_engine || die "SERVICES_MODE=docker but no Docker engine with 'docker compose' answers"; return 0 ;;
    auto) docker_engine ;;
    *) die "SERVICES_MODE must be auto, native or docker (got '$SERVICES_MODE')" ;;
  esac
}

compose_managed() { [ -f "$COMPOSE_MARKER" ] && docker_engine; }

compose_start() {
  local names=() s
  for s in "$@"; do names+=("$(compose_name_of "$s")"); done
  say "docker: starting ${names[*]} with docker compose…"
  touch "$COMPOSE_MARKER"
  compose up -d --wait "${names[@]}" ||
    die "docker compose could not start ${names[*]}: see 'docker compose logs ${names[*]}'"
  for s in "$@"; do say "$(label_of "$s"): ready (docker compose)"; done
}

# ------------------------------------------------------------ installation ---
pg_bindir() {
  local v d
  if [ -s "$PGDATA_DIR/PG_VERSION" ]; then
    v=$(cat "$PGDATA_DIR/PG_VERSION")
    [ -x "/usr/lib/postgresql/$v/bin/postgres" ] || return 1
    echo "/usr/lib/postgresql/$v/bin"
    return 0
  fi
  for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -rV); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
  done
  return 1
}

kafka_libs_complete() {
  local want
  want=$(sha256sum "$K_POM" | cut -d' ' -f1)
  [ -f "$K_LIBS/.complete" ] && [ "$(cat "$K_LIBS/.complete")" = "$want" ] &&
    compgen -G "$K_LIBS/kafka_2.13-*.jar" >/dev/null
}

# Install the Debian packages the native services need, only those missing.
ensure_packages() {
  local pkgs=() s
  for s in "$@"; do
    case $s in
      pg)
        if ! pg_bindir >/dev/null; then
          if [ -s "$PGDATA_DIR/PG_VERSION" ]; then
            pkgs+=("postgresql-$(cat "$PGDATA_DIR/PG_VERSION")")
          else
            pkgs+=(postgresql)
          fi
        fi
        ;;
      rabbitmq) [ -x /usr/sbin/rabbitmq-server ] || pkgs+=(rabbitmq-server) ;;
      kafka)
        command -v java >/dev/null 2>&1 || pkgs+=(openjdk-17-jre-headless)
        kafka_libs_complete || command -v mvn >/dev/null 2>&1 || pkgs+=(maven)
        ;;
    esac
  done
  [ "${#pkgs[@]}" -gt 0 ] || return 0

  [ "$(id -u)" -eq 0 ] || die "missing packages: ${pkgs[*]}; install them (sudo apt-get install -y ${pkgs[*]}) and re-run"
  local log="$DATA/apt-install.log"
  say "setup: installing ${pkgs[*]} with apt-get (log: $(rel "$log"))…"
  if ! {
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update &&
      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${pkgs[@]}"
  } >"$log" 2>&1; then
    tail -n 15 "$log" >&2 || true
    die "apt-get could not install ${pkgs[*]} (full log: $(rel "$log")).
  Fix: install them by hand (apt-get update && apt-get install -y ${pkgs[*]}) and re-run,
  or run the services in Docker instead: docker compose up -d --wait postgres rabbitmq kafka"
  fi
  say "setup: installed ${pkgs[*]}"

  # On a machine with an init system the packages start their own default
  # instances, which would take our ports with other credentials: stop those.
  local p
  for p in "${pkgs[@]}"; do
    case $p in
      postgresql*)
        if command -v pg_lsclusters >/dev/null 2>&1; then
          pg_lsclusters --no-header 2>/dev/null | while read -r ver name port status _; do
            if [ "$status" = online ] && [ "$port" = "$PG_PORT" ]; then
              say "setup: stopping the packaged PostgreSQL cluster $ver/$name that the install started"
              pg_ctlcluster "$ver" "$name" stop || true
            fi
          done
        fi
        ;;
      rabbitmq-server)
        if port_open "$AMQP_PORT"; then
          say "setup: stopping the packaged RabbitMQ service that the install started"
          service rabbitmq-server stop >/dev/null 2>&1 || true
          wait_port_closed "$AMQP_PORT" 30 || warn "note: something still answers on $AMQP_PORT"
        fi
        ;;
    esac
  done
}

# -------------------------------------------------------------- PostgreSQL ---
# Data-dir permissions: initdb and postgres refuse to run as root, so the cluster
# belongs to the `postgres` system user: .data/pg is chowned to postgres with
# mode 700 (postgres insists on 700/750 for its data dir), inside the root-owned
# .data. The repo itself stays root-owned; only search permission is added on the
# way to .data when postgres cannot reach it (ensure_reachable). The unix socket
# lives in .data/pg/run (mode 700: only postgres and root can use it); clients
# use TCP on 127.0.0.1 with the password.
pg_pid() {
  local f="$PGDATA_DIR/postmaster.pid"
  [ -f "$f" ] || return 1
  pid_matching "$(head -n 1 "$f")" "$PGDATA_DIR"
}

as_postgres() { (cd "$PG_DIR" && runuser -u postgres -- "$@"); }

pg_dbname() {
  local name=${DATABASE_URL##*/}
  name=${name%%\?*}
  [[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || name=actors
  printf '%s' "$name"
}

pg_start() {
  need_root PostgreSQL postgres
  local bin
  bin=$(pg_bindir) || die "no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install -y postgresql)"
  mkdir -p "$PG_DIR"
  chown postgres:postgres "$PG_DIR"
  chmod 700 "$PG_DIR"
  ensure_reachable postgres "$PG_DIR"
  as_postgres mkdir -p "$PG_RUN"
  as_postgres chmod 700 "$PG_RUN"

  if [ ! -s "$PGDATA_DIR/PG_VERSION" ]; then
    say "postgres: creating a new cluster in $(rel "$PGDATA_DIR")…"
    rm -rf "$PGDATA_DIR" # an interrupted initdb leaves a partial dir behind
    local pwfile="$PG_DIR/.initdb-password"
    printf '%s\n' "$PG_PASSWORD" >"$pwfile"
    chown postgres:postgres "$pwfile"
    chmod 600 "$pwfile"
    if ! as_postgres "$bin/initdb" -D "$PGDATA_DIR" -U postgres --pwfile="$pwfile" \
      --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 \
      >"$PG_DIR/initdb.log" 2>&1; then
      rm -f "$pwfile"
      fail postgres "initdb failed" "$PG_DIR/initdb.log"
    fi
    rm -f "$pwfile"
    printf "\n# Settings managed by scripts/services.sh (rewritten on every start)\ninclude_if_exists = 'services.conf'\n" |
      as_postgres tee -a "$PGDATA_DIR/postgresql.conf" >/dev/null
  fi

  # Unix socket paths are limited to 107 bytes; with a very deep repo path use TCP only.
  local sockdir="$PG_RUN"
  if [ "${#PG_RUN}" -gt 90 ]; then sockdir=""; fi
  as_postgres tee "$PGDATA_DIR/services.conf" >/dev/null <<EOF
# Written by scripts/services.sh on every start: edit the script, not this file.
listen_addresses = '$HOST'
port = $PG_PORT
unix_socket_directories = '${sockdir//\'/\'\'}'
max_connections = 200
shared_buffers = 128MB
# fsync, synchronous_commit and full_page_writes stay at their durable defaults.
EOF

  say "postgres: starting…"
  local out
  if ! out=$(as_postgres "$bin/pg_ctl" -D "$PGDATA_DIR" -l "$PG_LOG" -w -t 60 start 2>&1); then
    fail postgres "pg_ctl start failed: $out" "$PG_LOG"
  fi

  local db exists
  db=$(pg_dbname)
  exists=$(PGPASSWORD=$PG_PASSWORD PGCONNECT_TIMEOUT=5 "$bin/psql" -X -q -h "$HOST" -p "$PG_PORT" -U postgres -d postgres \
    -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" 2>&1) ||
    fail postgres "cannot connect as postgres over TCP: $exists" "$PG_LOG"
  if [ "$exists" != 1 ]; then
    say "postgres: creating database $db"
    PGPASSWORD=$PG_PASSWORD "$bin/createdb" -h "$HOST" -p "$PG_PORT" -U postgres "$db" ||
      fail postgres "createdb $db failed" "$PG_LOG"
  fi
  say "postgres: ready (pid $(pg_pid || echo '?'))"
}

pg_stop() {
  local pid bin
  pid=$(pg_pid) || return 0
  bin=$(pg_bindir) || die "PostgreSQL binaries are missing: cannot stop pid $pid cleanly"
  say "postgres: stopping (pid $pid)…"
  as_postgres "$bin/pg_ctl" -D "$PGDATA_DIR" -m fast -w -t 60 stop >/dev/null ||
    fail postgres "pg_ctl stop failed" "$PG_LOG"
  wait_pid_gone "$pid" 30 || die "postgres: pid $pid still alive"
  wait_port_closed "$PG_PORT" 15 || die "postgres: port $PG_PORT still answering"
  say "postgres: stopped"
}

# ---------------------------------------------------------------- RabbitMQ ---
rabbit_pid() {
  [ -f "$R_PIDFILE" ] || return 1
  pid_matching "$(tr -d '[:space:]' <"$R_PIDFILE")" beam
}

rabbit_launch() {
  need_root RabbitMQ rabbitmq
  [ -x /usr/sbin/rabbitmq-server ] || die "rabbitmq-server is not installed (apt-get install -y rabbitmq-server)"
  mkdir -p "$R_MNESIA" "$R_LOGDIR"
  cat >"$R_CONF" <<EOF
# Written by scripts/services.sh on every start: edit the script, not this file.
# AMQP listener: RABBITMQ_NODE_IP_ADDRESS/RABBITMQ_NODE_PORT (127.0.0.1:$AMQP_PORT).
management.tcp.ip = $HOST
management.tcp.port = $RABBIT_MGMT_PORT
# guest/guest is accepted from loopback only (the default, stated here).
loopback_users.guest = true
EOF
  if ! grep -qs rabbitmq_management "$R_PLUGINS"; then
    say "rabbitmq: enabling the management plugin (offline)…"
    rabbitmq-plugins enable --offline rabbitmq_management >>"$R_STARTUP_LOG" 2>&1 ||
      fail rabbitmq "rabbitmq-plugins enable --offline rabbitmq_management failed" "$R_STARTUP_LOG"
  fi
  chown -R rabbitmq:rabbitmq "$R_DIR"
  ensure_reachable rabbitmq "$R_DIR"
  if [ -f "$R_PIDFILE" ] && ! rabbit_pid >/dev/null; then rm -f "$R_PIDFILE"; fi

  say "rabbitmq: starting…"
  printf -- '---- %s: rabbitmq-server -detached\n' "$(date '+%F %T')" >>"$R_STARTUP_LOG"
  rabbitmq-server -detached >>"$R_STARTUP_LOG" 2>&1 </dev/null ||
    fail rabbitmq "rabbitmq-server -detached failed" "$R_STARTUP_LOG"
}

rabbit_wait() {
  # `wait` needs the pid file; `await_startup` alone returns at once before the node exists.
  rabbitmqctl wait --timeout 120 "$R_PIDFILE" >>"$R_STARTUP_LOG" 2>&1 ||
    fail rabbitmq "the node did not start (rabbitmqctl wait)" "$R_LOG"
  rabbitmqctl await_startup --timeout 60 >>"$R_STARTUP_LOG" 2>&1 ||
    fail rabbitmq "the node did not finish booting (rabbitmqctl await_startup)" "$R_LOG"
  say "rabbitmq: ready (pid $(rabbit_pid || echo '?'))"
}

rabbit_stop() {
  local pid
  pid=$(rabbit_pid) || return 0
  say "rabbitmq: stopping (pid $pid)…"
  if ! rabbitmqctl shutdown >>"$R_STARTUP_LOG" 2>&1; then
    warn "rabbitmq: rabbitmqctl shutdown failed; sending SIGTERM to $pid"
    kill -TERM "$pid" 2>/dev/null || true
  fi
  if ! wait_pid_gone "$pid" 60; then
    warn "rabbitmq: pid $pid still alive after 60 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    wait_pid_gone "$pid" 10 || die "rabbitmq: cannot stop pid $pid"
  fi
  wait_port_closed "$AMQP_PORT" 15 || die "rabbitmq: port $AMQP_PORT still answering"
  rm -f "$R_PIDFILE"
  say "rabbitmq: stopped"
}

epmd_stop() {
  command -v epmd >/dev/null 2>&1 || return 0
  local names
  names=$(epmd -names 2>/dev/null) || return 0 # not running
  if grep -q '^name ' <<<"$names"; then
    say "epmd: other Erlang nodes are registered; leaving it running"
  else
    epmd -kill >/dev/null 2>&1 || true
    say "epmd: stopped"
  fi
}

# ------------------------------------------------------------------- Kafka ---
kafka_pid() {
  [ -f "$K_PIDFILE" ] || return 1
  pid_matching "$(tr -d '[:space:]' <"$K_PIDFILE")" "kafka.Kafka $K_PROPS"
}

kafka_jvm_opts() {
  local heap
  read -r -a heap <<<"$K_HEAP_OPTS"
  printf '%s\n' "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true -XX:-UsePerfData "-XX:ErrorFile=$K_LOGS/hs_err_pid%p.log" \
    "-Dkafka.logs.dir=$K_LOGS" "-Dlog4j.configuration=file:$K_LOG4J"
}

kafka_fetch_libs() {
  kafka_libs_complete && return 0
  command -v mvn >/dev/null 2>&1 || die "Maven (mvn) is needed once to fetch the Kafka jars (apt-get install -y maven)"
  mkdir -p "$K_DIR"
  local tmp="$DATA/kafka-libs.partial" log="$K_DIR/mvn.log" t0=$SECONDS
  say "kafka: fetching the broker jars with Maven (once; log: $(rel "$log"))…"
  rm -rf "$tmp"
  if ! mvn -B -q -f "$K_POM" \
    org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
    -DoutputDirectory="$tmp" -DincludeScope=runtime >"$log" 2>&1; then
    fail kafka "Maven could not fetch the broker jars (is the Maven repository reachable?)" "$log"
  fi
  compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null || fail kafka "Maven ran but the broker jar is missing" "$log"
  sha256sum "$K_POM" | cut -d' ' -f1 >"$tmp/.complete"
  rm -rf "$K_LIBS"
  mv "$tmp" "$K_LIBS"
  say "kafka: $(find "$K_LIBS" -name '*.jar' | wc -l) jars in $(rel "$K_LIBS") ($((SECONDS - t0)) s)"
}

kafka_prepare() {
  command -v java >/dev/null 2>&1 || die "java is not installed (apt-get install -y openjdk-17-jre-headless)"
  kafka_fetch_libs
  mkdir -p "$K_DATA" "$K_LOGS"
  local template
  template=$(<"$K_PROPS_TEMPLATE")
  printf '%s\n' "${template//@KAFKA_DATA_DIR@/$K_DATA}" >"$K_PROPS"
  if [ ! -f "$K_DATA/meta.properties" ]; then
    say "kafka: formatting storage in $(rel "$K_DATA")…"
    local opts
    mapfile -t opts < <(kafka_jvm_opts)
    java "${opts[@]}" -cp "$K_LIBS/*" kafka.tools.StorageTool format -t "$K_CLUSTER_ID" -c "$K_PROPS" \
      >>"$K_LOGS/format.log" 2>&1 || fail kafka "storage format failed" "$K_LOGS/format.log"
  fi
}

KAFKA_LOG_OFFSET=0
kafka_launch() {
  local opts pid
  mapfile -t opts < <(kafka_jvm_opts)
  rm -f "$K_PIDFILE"
  KAFKA_LOG_OFFSET=$(stat -c %s "$K_LOG" 2>/dev/null || echo 0)
  say "kafka: starting…"
  # setsid: the broker gets its own session, so it outlives this shell and its
  # process group. Not a process-group leader here, so setsid does not fork and
  # $! is the JVM's pid.
  (cd "$K_DIR" && exec setsid nohup java "${opts[@]}" -cp "$K_LIBS/*" kafka.Kafka "$K_PROPS" \
    >"$K_OUT" 2>&1 </dev/null) &
  pid=$!
  echo "$pid" >"$K_PIDFILE"
}

kafka_wait() {
  local until=$((SECONDS + 90)) pid size
  pid=$(cat "$K_PIDFILE")
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$K_PIDFILE"
      [ -s "$K_OUT" ] && { warn "---- $(rel "$K_OUT") ----"; tail -n 15 "$K_OUT" >&2; }
      fail kafka "the broker exited during startup" "$K_LOG"
    fi
    size=$(stat -c %s "$K_LOG" 2>/dev/null || echo 0)
    [ "$size" -ge "$KAFKA_LOG_OFFSET" ] || KAFKA_LOG_OFFSET=0 # rolled over meanwhile
    # (grep reads a process substitution: with pipefail, `tail | grep -q` can
    # report tail's SIGPIPE as a failure.)
    if [ "$size" -gt 0 ] && grep -q 'Kafka Server started' < <(tail -c +"$((KAFKA_LOG_OFFSET + 1))" "$K_LOG"); then
      break
    fi
    if [ "$SECONDS" -ge "$until" ]; then
      fail kafka "no 'Kafka Server started' in the log after 90 s (pid $pid still running)" "$K_LOG"
    fi
    sleep 0.5
  done
  pid_matching "$pid" kafka.Kafka >/dev/null || warn "kafka: note: pid $pid does not look like the broker"
  say "kafka: ready (pid $pid)"
}

kafka_stop() {
  local pid
  pid=$(kafka_pid) || { rm -f "$K_PIDFILE"; return 0; }
  say "kafka: stopping (pid $pid)…"
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_pid_gone "$pid" 60; then
    warn "kafka: pid $pid still alive after 60 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    wait_pid_gone "$pid" 10 || die "kafka: cannot stop pid $pid"
  fi
  wait_port_closed "$KAFKA_PORT" 15 || die "kafka: port $KAFKA_PORT still answering"
  wait_port_closed "$KAFKA_CONTROLLER_PORT" 15 || die "kafka: port $KAFKA_CONTROLLER_PORT still answering"
  rm -f "$K_PIDFILE"
  say "kafka: stopped"
}

# ---------------------------------------------------------------- dispatch ---
svc_pid() {
  case $1 in
    pg) pg_pid ;;
    rabbitmq) rabbit_pid ;;
    kafka) kafka_pid ;;
  esac
}

native_start() {
  local want=" $* "
  ensure_packages "$@"
  # Launch the slow starters first so their boot overlaps.
  if [[ $want == *" kafka "* ]]; then kafka_prepare; kafka_launch; fi
  if [[ $want == *" rabbitmq "* ]]; then rabbit_launch; fi
  if [[ $want == *" pg "* ]]; then pg_start; fi
  if [[ $want == *" rabbitmq "* ]]; then rabbit_wait; fi
  if [[ $want == *" kafka "* ]]; then kafka_wait; fi
}

native_stop() {
  case $1 in
    pg) pg_stop ;;
    rabbitmq) rabbit_stop ;;
    kafka) kafka_stop ;;
  esac
}

run_probe() {
  local tsx="$ROOT/node_modules/.bin/tsx"
  [ -x "$tsx" ] || die "node_modules is missing: run 'make install' first (the readiness probe uses pg, amqplib and kafkajs)"
  (cd "$ROOT" && "$tsx" scripts/wait-for-services.ts "$@")
}

describe_running() { # SERVICE: why it is answering
  local pid
  if pid=$(svc_pid "$1"); then
    echo "pid $pid"
  elif [ -f "$COMPOSE_MARKER" ]; then
    echo "docker compose"
  else
    echo "not started by this script"
  fi
}

has_native_data() {
  case $1 in
    pg) [ -s "$PGDATA_DIR/PG_VERSION" ] ;;
    rabbitmq) [ -d "$R_MNESIA/rabbit@localhost" ] ;;
    kafka) [ -f "$K_DATA/meta.properties" ] ;;
  esac
}

# start_services SERVICE...: start services that do not answer yet.
start_services() {
  local native=() docker=() s
  for s in "$@"; do
    if [ "$SERVICES_MODE" = auto ] && has_native_data "$s"; then
      native+=("$s")
    elif use_docker; then
      docker+=("$s")
    else
      native+=("$s")
    fi
  done
  [ "${#docker[@]}" -eq 0 ] || compose_start "${docker[@]}"
  [ "${#native[@]}" -eq 0 ] || native_start "${native[@]}"
}

cmd_up() {
  local t0=$SECONDS todo=() s
  for s in pg rabbitmq kafka; do
    if port_open "$(port_of "$s")"; then
      say "$(label_of "$s"): already answering on $HOST:$(port_of "$s") ($(describe_running "$s")); left as is"
    else
      todo+=("$s")
    fi
  done
  [ "${#todo[@]}" -eq 0 ] || start_services "${todo[@]}"
  say "probe: checking postgres, rabbitmq, kafka…"
  run_probe || { warn "services: not ready (see above)"; exit 1; }
  say "services: up ($((SECONDS - t0)) s)"
}

cmd_start() {
  local s=$1
  if port_open "$(port_of "$s")"; then
    say "$(label_of "$s"): already answering on $HOST:$(port_of "$s") ($(describe_running "$s"))"
  else
    start_services "$s"
  fi
  run_probe "$s" || { warn "$(label_of "$s"): not ready (see above)"; exit 1; }
}

cmd_stop() {
  local s=$1 label
  label=$(label_of "$s")
  if svc_pid "$s" >/dev/null; then
    native_stop "$s"
  elif compose_managed; then
    say "$label: stopping (docker compose)…"
    compose stop "$(compose_name_of "$s")"
    wait_port_closed "$(port_of "$s")" 30 || die "$label: port $(port_of "$s") still answering"
    say "$label: stopped"
  elif port_open "$(port_of "$s")"; then
    die "$label: something not started by this script answers on $HOST:$(port_of "$s"); not stopping it"
  else
    say "$label: already stopped"
  fi
}

cmd_down() {
  local s
  for s in kafka rabbitmq pg; do
    if svc_pid "$s" >/dev/null; then native_stop "$s"; fi
  done
  if compose_managed; then
    say "docker: docker compose down (volumes kept)…"
    compose down
    rm -f "$COMPOSE_MARKER"
  fi
  epmd_stop
  for s in pg rabbitmq kafka; do
    if port_open "$(port_of "$s")"; then
      say "$(label_of "$s"): still answering on $HOST:$(port_of "$s") (not started by this script; left alone)"
    else
      say "$(label_of "$s"): down"
    fi
  done
}

cmd_status() {
  local s state pid addr log all_up=0
  for s in pg rabbitmq kafka; do
    addr="$HOST:$(port_of "$s")"
    [ "$s" = rabbitmq ] && addr="$addr (http $RABBIT_MGMT_PORT)"
    [ "$s" = kafka ] && addr="$addr (controller $KAFKA_CONTROLLER_PORT)"
    if port_open "$(port_of "$s")"; then state=up; else state=down; all_up=3; fi
    if pid=$(svc_pid "$s"); then
      pid="pid $pid"
      log=$(rel "$(log_of "$s")")
    elif [ -f "$COMPOSE_MARKER" ]; then
      if [ "$state" = up ]; then pid="docker"; else pid="-"; fi
      log="docker compose logs $(compose_name_of "$s")"
    elif [ "$state" = up ]; then
      pid="foreign"
      log="(not started by this script)"
    else
      pid="-"
      log=$(rel "$(log_of "$s")")
    fi
    printf '%-9s %-5s %-11s %-34s log %s\n' "$(label_of "$s")" "$state" "$pid" "$addr" "$log"
  done
  return "$all_up"
}

main() {
  local cmd=${1:-up}
  [ $# -eq 0 ] || shift
  case $cmd in
    -h | --help | help) usage 0 ;;
    status) [ $# -eq 0 ] || usage 2; cmd_status; return ;;
  esac

  mkdir -p "$DATA"
  # One run at a time (status excepted). flock -o: the daemons started below do
  # not inherit the lock.
  if [ -z "${SERVICES_SH_LOCKED:-}" ] && command -v flock >/dev/null 2>&1; then
    export SERVICES_SH_LOCKED=1
    exec flock -o -w 600 "$DATA/.services.lock" bash "${BASH_SOURCE[0]}" "$cmd" "$@"
  fi

  case $cmd in
    up) [ $# -eq 0 ] || usage 2; cmd_up ;;
    down) [ $# -eq 0 ] || usage 2; cmd_down ;;
    start | stop | restart)
      [ $# -eq 1 ] || usage 2
      local svc
      svc=$(canonical "$1") || exit 2
      case $cmd in
        start) cmd_start "$svc" ;;
        stop) cmd_stop "$svc" ;;
        restart) cmd_stop "$svc"; cmd_start "$svc" ;;
      esac
      ;;
    *) warn "unknown command '$cmd'"; usage 2 ;;
  esac
}

main "$@"
