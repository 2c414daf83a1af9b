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
