#!/usr/bin/env bash
# `bun run test:full`: every test, nothing skipped. Gets what the suite needs first (the Debian
# packages below when run as root with apt; Mosquitto, Redis, PostgreSQL and a Docker engine started
# if they are not running), installs the locked dependencies, type-checks, and runs `bun test` in
# strict mode: a missing tool fails its tests instead of skipping them. CI (.ci/run) is this script
# after installing Bun. The last line is `N passed, N failed`; the exit status is non-zero if
# anything failed or was skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

# Tools are looked up on the PATH; daemons and iproute2 live in sbin, which a plain user's PATH lacks.
for dir in /usr/local/sbin /usr/sbin /sbin; do
  case ":$PATH:" in *":$dir:"*) ;; *) PATH="$PATH:$dir" ;; esac
done
export PATH

# Bun keeps its own CA list; where this machine's bundle exists, trust it too (registries behind a
# TLS-inspecting proxy), as npm does through its cafile.
if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
fi

# What the tests use beyond Bun, the command that shows it is there, and its Debian package:
#   ip             iproute2       protected-mode and slow-consumer tests run a peer in a network namespace (and root)
#   curl           curl           the README's examples run as written
#   python3        python3        a WebSocket client with a tiny receive buffer (slow-consumer test)
#   openssl        openssl        a self-signed certificate for the TLS test
#   promtool       prometheus     checks the /metrics exposition
#   chromium       chromium       the dashboard, /docs and the printable report in a real (headless) browser
#   pdftoppm       poppler-utils  turns the printed report into an image the test checks
#   dockerd        docker.io      the container is built and run for real
#   docker-compose docker-compose the compose file is checked by Debian's docker-compose
#   mosquitto      mosquitto      the MQTT bridge against the machine's broker and one the test starts
#   nginx          nginx-light    the compose profile's balancer configuration in front of three instances
#   redis-server   redis-server   the scale-out tests' Redis, and the outage test's own
needs=(
  "ip iproute2" "curl curl" "python3 python3" "openssl openssl" "promtool prometheus" "chromium chromium"
  "pdftoppm poppler-utils" "dockerd docker.io" "docker-compose docker-compose" "mosquitto mosquitto"
  "nginx nginx-light" "redis-server redis-server"
)
missing=()
for need in "${needs[@]}"; do
  read -r cmd package <<<"$need"
  command -v "$cmd" >/dev/null || { [ "$cmd" = chromium ] && command -v chromium-browser >/dev/null; } || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing: ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "missing: ${missing[*]} (install them as root with apt-get; their tests fail below, saying what is missing)" >&2
  fi
fi
[ "$(id -u)" = 0 ] || echo "not root: the network-namespace tests fail below (they need root)" >&2

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_up() { for _ in $(seq 1 "$2"); do up "$1" && return 0; sleep 0.1; done; echo "nothing answers on 127.0.0.1:$1" >&2; }

# The machine's MQTT broker on 127.0.0.1:1883, started the way the machine starts it if it is down.
if ! up 1883 && command -v mosquitto >/dev/null; then
  mosquitto -d -c /etc/mosquitto/mosquitto.conf
  wait_up 1883 50
fi

# Redis and PostgreSQL for the scale-out tests (several instances share them), started the way the
# machine starts them if they are down.
if ! up 6379 && command -v redis-server >/dev/null; then
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_up 6379 50
fi
if ! up 5432 && command -v pg_ctlcluster >/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  wait_up 5432 100
fi

# A Docker engine for the container test: any docker client on the PATH that reaches one will do.
# Started if none answers, and left running like the other services (stopping it at the end would
# pull it from under another test run on the same machine).
docker_answers() {
  local client
  while read -r client; do
    [ -n "$client" ] && "$client" info >/dev/null 2>&1 && return 0
  done < <(type -ap docker)
  return 1
}
if ! docker_answers && command -v dockerd >/dev/null && [ "$(id -u)" = 0 ]; then
  log=/var/log/sensorflow-dockerd.log
  setsid nohup dockerd >"$log" 2>&1 < /dev/null &
  for _ in $(seq 1 120); do docker_answers && break; sleep 0.5; done
  docker_answers || echo "dockerd did not answer within 60 s (see $log)" >&2
fi

bun install --frozen-lockfile
bun run typecheck

# Strict: nothing is skipped, a missing tool fails its tests. The soak runs its CI length.
export SENSORFLOW_TEST_STRICT=1
export SOAK_SECONDS="${SOAK_SECONDS:-120}"
log=$(mktemp)
started=$(date +%s)
set +e
bun test 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
count() { grep -Eo "^ *[0-9]+ $1\$" "$log" | tail -1 | grep -Eo '[0-9]+' || echo 0; }
passed=$(count pass)
failed=$(count fail)
skipped=$(count skip)
todo=$(count todo)
echo "bun test took $(($(date +%s) - started)) s"
if [ "$skipped" != 0 ] || [ "$todo" != 0 ]; then
  echo "$skipped skipped and $todo todo: the full suite runs every test" >&2
  [ "$status" != 0 ] || status=1
fi
echo "$passed passed, $failed failed"
exit "$status"
