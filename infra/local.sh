#!/usr/bin/env bash
# Starts or stops a private RabbitMQ node and Redis server for HourNas on loopback, with their own ports and
# folders, so they never touch a system-wide broker or cache. Debian packages: rabbitmq-server, redis-server.
#
#   infra/local.sh start [DIR]   start both (default DIR: .local/infra); prints the connection settings
#   infra/local.sh stop  [DIR]   stop what start started
#   infra/local.sh env   [DIR]   print the connection settings again (eval-able)
#   infra/local.sh secrets [DIR] print (and make, the first time) the broker's and Redis's passwords
#   infra/local.sh stop-rabbitmq|stop-redis [DIR]   stop only one of them (an outage; start brings it back)
#   infra/local.sh rabbitmq-foreground [DIR]   run only the RabbitMQ node, in the foreground (for the AppHost)
#   infra/local.sh redis-foreground    [DIR]   run only Redis, in the foreground (for the AppHost)
#
# Ports: HOURNAS_RABBITMQ_PORT (default 25672), HOURNAS_REDIS_PORT (default 26379); the Erlang distribution port
# and a private epmd port are derived from the AMQP port. RabbitMQ runs as the rabbitmq user, as Debian intends.
set -euo pipefail

cmd=${1:-}
dir=$(realpath -m "${2:-.local/infra}")
amqp_port=${HOURNAS_RABBITMQ_PORT:-25672}
redis_port=${HOURNAS_REDIS_PORT:-26379}
# Fixed ports beside the AMQP one, below the ephemeral range (an outgoing connection could hold a port there when the
# node starts; RabbitMQ's own AMQP+20000 default lands in it).
dist_port=$((amqp_port + 2))
epmd_port=$((amqp_port + 1))
node="hournas-${amqp_port}@localhost"

log() { printf '[infra] %s\n' "$*" >&2; }

# Runs a RabbitMQ program (server or CLI) for this node: every path and port is its own, nothing under
# /var/lib/rabbitmq is used. Debian's /usr/sbin wrappers reset HOME (and so the Erlang cookie), so call the real
# scripts, as the rabbitmq user when we are root.
rabbit() {
  local program=$1
  shift
  local run=() dist=()
  # Only the server takes the fixed distribution port (on loopback only); the CLI tools must pick free ones.
  [ "$program" = rabbitmq-server ] && dist=(RABBITMQ_DIST_PORT="$dist_port" RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}")
  if [ "$(id -u)" -eq 0 ] && id rabbitmq >/dev/null 2>&1; then run=(runuser -u rabbitmq --); fi
  ${RABBIT_EXEC:-} "${run[@]}" env HOME="$dir/rabbitmq" RABBITMQ_NODENAME="$node" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$amqp_port" \
    "${dist[@]}" ERL_EPMD_PORT="$epmd_port" ERL_EPMD_ADDRESS=127.0.0.1 \
    RABBITMQ_BASE="$dir/rabbitmq" RABBITMQ_MNESIA_BASE="$dir/rabbitmq/mnesia" RABBITMQ_LOG_BASE="$dir/rabbitmq/log" \
    RABBITMQ_PID_FILE="$dir/rabbitmq/rabbitmq.pid" RABBITMQ_CONFIG_FILE="$dir/rabbitmq/rabbitmq.conf" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$dir/rabbitmq/enabled_plugins" "/usr/lib/rabbitmq/bin/$program" "$@"
}

# Credentials made once per DIR (mode 600): the broker's only user is hournas (no guest), Redis needs a password.
# A DIR whose broker data predates its credentials starts the broker afresh, so the user exists.
secrets() {
  mkdir -p "$dir"
  if [ ! -s "$dir/secrets" ]; then
    password() { head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9'; }
    (umask 077; printf 'rabbitmq_password=%s\nredis_password=%s\n' "$(password)" "$(password)" >"$dir/secrets")
    rm -rf "$dir/rabbitmq/mnesia"
  fi
  # shellcheck disable=SC1091
  . "$dir/secrets"
}

print_env() {
  echo "export ConnectionStrings__rabbitmq=amqp://hournas:${rabbitmq_password}@127.0.0.1:${amqp_port}/"
  echo "export ConnectionStrings__redis=127.0.0.1:${redis_port},password=${redis_password}"
}

redis() { REDISCLI_AUTH="${redis_password:-}" redis-cli -p "$redis_port" "$@"; }

# Each service prepares only its own folder: the AppHost starts rabbitmq-foreground and redis-foreground at the same
# time on one DIR, and the Redis side (which does not know the AMQP port) must not rewrite the broker's config.
prepare_rabbitmq() {
  mkdir -p "$dir/rabbitmq/log" "$dir/rabbitmq/mnesia"
  chmod 755 "$dir"
  # Stages run for minutes to hours and acknowledge only when done: allow 24 h before the broker gives up on a consumer.
  cat >"$dir/rabbitmq/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:${amqp_port}
default_user = hournas
default_pass = ${rabbitmq_password}
consumer_timeout = 86400000
log.console = false
log.file.level = warning
CONF
  chmod 600 "$dir/rabbitmq/rabbitmq.conf"
  echo "[]." >"$dir/rabbitmq/enabled_plugins"
  if id rabbitmq >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then chown -R rabbitmq:rabbitmq "$dir/rabbitmq"; fi
}

prepare_redis() {
  mkdir -p "$dir/redis"
  # The password in a file only this user reads, not on the command line where ps shows it.
  (umask 077; echo "requirepass $redis_password" >"$dir/redis/redis.conf")
}

redis_args() {
  echo "$dir/redis/redis.conf" --port "$redis_port" --bind 127.0.0.1 --dir "$dir/redis" \
    --pidfile "$dir/redis/redis.pid" --appendonly yes --save ""
}

start() {
  command -v rabbitmq-server >/dev/null || { log "rabbitmq-server is not installed (apt-get install rabbitmq-server)"; exit 1; }
  command -v redis-server >/dev/null || { log "redis-server is not installed (apt-get install redis-server)"; exit 1; }
  prepare_rabbitmq
  prepare_redis

  if ! redis ping 2>/dev/null | grep -q PONG; then
    log "starting redis on 127.0.0.1:$redis_port"
    # shellcheck disable=SC2046
    redis-server $(redis_args) --daemonize yes --logfile "$dir/redis/redis.log" >/dev/null
  fi

  if ! rabbit rabbitmqctl -q status >/dev/null 2>&1; then
    log "starting rabbitmq node $node on 127.0.0.1:$amqp_port"
    # setsid: the node outlives this script (runuser would take it down on exit).
    setsid nohup bash -c "$(declare -f rabbit); dir='$dir' node='$node' amqp_port=$amqp_port dist_port=$dist_port epmd_port=$epmd_port; \
      rabbit rabbitmq-server" >"$dir/rabbitmq/log/console.log" 2>&1 </dev/null &
    rabbit rabbitmqctl -q wait --timeout 120 "$dir/rabbitmq/rabbitmq.pid" >/dev/null \
      || { log "rabbitmq did not start; see $dir/rabbitmq/log"; exit 1; }
  fi
  for _ in $(seq 50); do redis ping 2>/dev/null | grep -q PONG && break; sleep 0.2; done
  redis ping 2>/dev/null | grep -q PONG || { log "redis did not start; see $dir/redis/redis.log"; exit 1; }
  print_env
}

# Stops the node's private epmd, which refuses while a node is still registered: waits up to 10 s for the node to go.
stop_epmd() {
  for _ in $(seq 20); do
    ERL_EPMD_PORT="$epmd_port" epmd -kill >/dev/null 2>&1 && return 0
    ERL_EPMD_PORT="$epmd_port" epmd -names >/dev/null 2>&1 || return 0  # none is running
    sleep 0.5
  done
}

# The broker in the foreground, for the AppHost. A private epmd left by an earlier node that was killed is stopped
# first. A SIGTERM (how the AppHost stops this) stops the broker, then its private epmd, which would outlive it.
rabbitmq_foreground() {
  prepare_rabbitmq
  ERL_EPMD_PORT="$epmd_port" epmd -kill >/dev/null 2>&1 || true
  # exec: $! is then the broker's own process (runuser), not a subshell whose death would leave the broker running.
  RABBIT_EXEC=exec rabbit rabbitmq-server &
  local server=$!
  # (|| true: a broker stopped by a signal exits non-zero, and set -e would end this script before stop_epmd.)
  trap 'kill -TERM "$server" 2>/dev/null; wait "$server" || true; stop_epmd; exit 0' TERM INT
  wait "$server" || true
  stop_epmd
}

stop_rabbitmq() {
  if [ -f "$dir/rabbitmq/rabbitmq.pid" ]; then
    log "stopping rabbitmq node $node"
    rabbit rabbitmqctl -q stop "$dir/rabbitmq/rabbitmq.pid" >/dev/null 2>&1 || true
    stop_epmd
  fi
}

# SHUTDOWN flushes the append-only file (nosave only skips the unused snapshot), so nothing written is lost.
stop_redis() {
  if [ -f "$dir/redis/redis.pid" ]; then
    log "stopping redis on $redis_port"
    redis shutdown nosave >/dev/null 2>&1 || kill "$(cat "$dir/redis/redis.pid")" 2>/dev/null || true
  fi
}

stop() {
  stop_rabbitmq
  stop_redis
}

if [[ "$cmd" = stop* ]]; then
  # shellcheck disable=SC1091
  if [ -s "$dir/secrets" ]; then . "$dir/secrets"; fi
else
  secrets
fi
case "$cmd" in
  start) start ;;
  stop) stop ;;
  stop-rabbitmq) stop_rabbitmq ;;
  stop-redis) stop_redis ;;
  env) print_env ;;
  rabbitmq-foreground) rabbitmq_foreground ;;
  # shellcheck disable=SC2046
  redis-foreground) prepare_redis; exec redis-server $(redis_args) ;;
  secrets) cat "$dir/secrets" ;;
  *) echo "usage: $0 start|stop|stop-rabbitmq|stop-redis|env|secrets|rabbitmq-foreground|redis-foreground [DIR]" >&2
     exit 2 ;;
esac
