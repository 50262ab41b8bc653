#!/usr/bin/env bash
# Checks the shared services named in ../shared/SERVICES.md and starts any that is down,
# with the same commands the machines use at boot, so CI and a fresh machine behave alike.
# Sourced by scripts/test.sh: `ensure_services "redis postgres"`.

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local name=$1 port=$2
  for _ in $(seq 100); do port_open "$port" && return 0; sleep 0.1; done
  echo "services: $name did not come up on 127.0.0.1:$port" >&2
  return 1
}

ensure_service() {
  local name=$1 port
  case "$name" in
    postgres) port=5432 ;;
    mariadb) port=3306 ;;
    redis) port=6379 ;;
    rabbitmq) port=5672 ;;
    mosquitto) port=1883 ;;
    nats) port=4222 ;;
    *) echo "services: unknown service $name" >&2; return 1 ;;
  esac
  if port_open "$port"; then echo "services: $name is up on 127.0.0.1:$port"; return 0; fi
  echo "services: starting $name"
  case "$name" in
    postgres) pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start ;;
    mariadb) start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd ;;
    redis) redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
             --dir /var/lib/redis --logfile /var/log/redis/ci.log ;;
    rabbitmq) rabbitmq-server -detached ;;
    mosquitto) mosquitto -d -c /etc/mosquitto/mosquitto.conf ;;
    nats) start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
            -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log ;;
  esac
  wait_port "$name" "$port"
}

# The load engine's tests start their own HTTP servers; later engines (chaos proxy,
# SLO, healing) add the services they use to this list.
ensure_services() {
  local name
  for name in $1; do ensure_service "$name"; done
  [ -n "$1" ] || echo "services: none needed by the current tests (they start their own servers on 127.0.0.1)"
}
