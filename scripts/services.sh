# Finds or starts the services the service tests need, and exports their URLs.
# Sourced by scripts/test. Fails (never skips) when a service cannot be had.

wait_for_port() { # host port seconds
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

ensure_redis() {
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    command -v redis-server >/dev/null || { echo "Redis is not running and redis-server is not installed (apt-get install redis-server)" >&2; return 1; }
    echo "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log
    wait_for_port 127.0.0.1 6379 30 || { echo "Redis did not come up on 127.0.0.1:6379" >&2; return 1; }
  fi
  # Database 15, keys under a per-test prefix: nothing of a developer's own data is touched.
  export AURORA_TEST_REDIS_URL="redis://127.0.0.1:6379/15"
}

ensure_rabbitmq() {
  if ! wait_for_port 127.0.0.1 5672 1; then
    command -v rabbitmq-server >/dev/null || { echo "RabbitMQ is not running and rabbitmq-server is not installed (apt-get install rabbitmq-server)" >&2; return 1; }
    echo "starting RabbitMQ"
    rabbitmq-server -detached
    wait_for_port 127.0.0.1 5672 90 || { echo "RabbitMQ did not come up on 127.0.0.1:5672" >&2; return 1; }
  fi
  export AURORA_TEST_AMQP_URL="amqp://guest:guest@127.0.0.1:5672/%2f"
}

# MongoDB: a real mongod if one is installed (started as a single-node replica set), else the
# MongoDB-compatible secantusd-rs (change streams, resume tokens, transactions), installed with
# cargo on first use (about 5 minutes, then cached in ~/.cargo/bin). Either way the server runs
# on a free port with a temporary directory and is stopped when the calling script exits.
SECANTUS_VERSION="0.5.3-beta.196"

ensure_mongodb() {
  MONGO_DIR=$(mktemp -d "${TMPDIR:-/tmp}/aurora-mongo.XXXXXX")
  if command -v mongod >/dev/null && command -v mongosh >/dev/null; then
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    echo "starting mongod (replica set rs0) on port $port"
    mongod --replSet rs0 --port "$port" --bind_ip 127.0.0.1 --dbpath "$MONGO_DIR" \
      --logpath "$MONGO_DIR/mongod.log" --fork >/dev/null
    wait_for_port 127.0.0.1 "$port" 60 || { echo "mongod did not come up" >&2; return 1; }
    mongosh --quiet --port "$port" --eval "rs.initiate({_id:'rs0',members:[{_id:0,host:'127.0.0.1:$port'}]})" >/dev/null
    export AURORA_TEST_MONGODB_URI="mongodb://127.0.0.1:$port/?replicaSet=rs0"
    export AURORA_TEST_MONGODB_SERVER=mongod # the restart test starts a private server of this kind
    MONGO_PID=$(pgrep -f "mongod --replSet rs0 --port $port" | head -n 1)
  else
    if ! command -v secantusd-rs >/dev/null; then
      echo "no mongod found: installing secantusd-rs $SECANTUS_VERSION (cmake + cargo install, about 5 minutes once)"
      if ! command -v cmake >/dev/null; then
        apt-get update -qq && apt-get install -y -qq cmake >/dev/null
      fi
      cargo install secantus-mdb --version "$SECANTUS_VERSION" --ignore-rust-version --locked ||
        cargo install secantus-mdb --version "$SECANTUS_VERSION" --ignore-rust-version
    fi
    # Not --sync-on-commit for the tests: this shared server is never killed, so the fsync per
    # commit would only slow the suite; the restart test runs its own server with it (see
    # tests/tests/restarts.rs). The benchmarks ask for it (MONGODB_SYNC_ON_COMMIT=1): an
    # acknowledged write is then on disk, as with `j: true` on a real replica set.
    local sync=()
    [ "${MONGODB_SYNC_ON_COMMIT:-0}" = 1 ] && sync=(--sync-on-commit)
    secantusd-rs --port 0 --storage-path "$MONGO_DIR/data" --cache-size 512M --log-file-max 32MB "${sync[@]}" \
      >"$MONGO_DIR/server.log" 2>&1 &
    MONGO_PID=$!
    local i addr=""
    for ((i = 0; i < 300; i++)); do
      addr=$(sed -n 's/.*listening on \([0-9.]*:[0-9]*\).*/\1/p' "$MONGO_DIR/server.log" | head -n 1)
      [ -n "$addr" ] && break
      kill -0 "$MONGO_PID" 2>/dev/null || break
      sleep 0.1
    done
    [ -n "$addr" ] || { echo "secantusd-rs did not start:" >&2; cat "$MONGO_DIR/server.log" >&2; return 1; }
    echo "started secantusd-rs on $addr"
    export AURORA_TEST_MONGODB_URI="mongodb://$addr"
    export AURORA_TEST_MONGODB_SERVER=secantusd-rs
  fi
  trap 'stop_mongodb' EXIT
}

stop_mongodb() {
  [ -n "${MONGO_PID:-}" ] && kill "$MONGO_PID" 2>/dev/null
  [ -n "${MONGO_DIR:-}" ] && rm -rf "$MONGO_DIR"
  return 0
}

# A virtual environment under target/ with pinned requirements, made once with pip from PyPI and
# remade when the requirements change. Prints nothing; sets VENV_PYTHON.
ensure_venv() { # dir requirements
  local venv=$1 requirements=$2
  if [ ! -x "$venv/bin/python" ] || ! cmp -s "$requirements" "$venv/requirements.txt"; then
    echo "installing $requirements into $venv (pip, once)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$venv/requirements.txt"
  fi
  VENV_PYTHON="$PWD/$venv/bin/python"
}

# Celery, the benchmarks' peer (bench/peers/).
ensure_celery() {
  ensure_venv target/bench-venv bench/peers/requirements.txt
  export AURORA_BENCH_PYTHON="$VENV_PYTHON"
}

# Restate, the benchmarks' second peer (bench/peers/restate: restate-server and its TypeScript SDK
# from npm, pinned by package-lock.json). Its driver runs in a network namespace of its own, which
# needs root (or CAP_SYS_ADMIN) and unshare.
ensure_restate() {
  command -v unshare >/dev/null || { echo "unshare (util-linux) is needed for the Restate peer" >&2; return 1; }
  bench/peers/restate/install.sh >/dev/null
}

# The third-party clients the end-to-end tests drive Aurora with (tests/clients/: graphql-core, and
# opentelemetry-proto for the OTLP receiver of the trace-export test).
ensure_test_clients() {
  ensure_venv target/test-venv tests/clients/requirements.txt
  export AURORA_TEST_PYTHON="$VENV_PYTHON"
}

# Debian's Chromium, for the web UI's browser tests (web/tests).
ensure_chromium() {
  if ! command -v chromium >/dev/null; then
    echo "installing Debian's chromium (the web UI's browser tests drive it)"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null ||
      { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
  fi
  CHROMIUM_BIN="$(command -v chromium)" || { echo "chromium could not be installed (apt-get install chromium)" >&2; return 1; }
  export CHROMIUM_BIN
}

# The web UI's npm packages, exactly as web/package-lock.json pins them (again when it changed).
ensure_web_packages() {
  local stamp="web/node_modules/.aurora-lock" want
  want="$(sha256sum web/package-lock.json | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "installing the web UI's npm packages (npm ci)"
    (cd web && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$stamp"
  fi
}
