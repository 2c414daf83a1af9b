#!/bin/sh
# Runs driver.mjs (and so restate-server and services.mjs, which it starts) with no network but
# loopback: in a new network namespace that has only `lo`, brought up. Nothing in it can reach
# another host, whatever it tries. Same arguments and stdin/stdout protocol as driver.mjs:
#   printf 'go\nstop\n' | bench/peers/restate/run.sh --workload W3 --n 200
#
# A new mount namespace too, private (unshare's default), only to give it its own /etc/hosts
# with one more line, `127.0.0.1 api.github.com`: restate-server looks up its latest release on
# GitHub at every start, and no option turns that off. With the name on 127.0.0.1 the lookup fails
# at once (connection refused on the namespace's own loopback) instead of retrying DNS every 2.5 s
# in the background, and not even a DNS query is addressed to another host. The machine's
# /etc/hosts is not changed.
#
# unshare and sh exec in place, so the harness's child is the driver itself (same pid, same
# process group) and the group kill still reaches the driver and its children. Needs root (or
# CAP_SYS_ADMIN) for the namespaces; without it, unshare fails and nothing starts.
set -eu
driver="$(cd "$(dirname "$0")" && pwd)/driver.mjs"
exec unshare --net --mount -- sh -eu -c '
  ip link set lo up
  hosts=$(mktemp)
  { cat /etc/hosts; echo "127.0.0.1 api.github.com"; } > "$hosts"
  chmod 644 "$hosts"
  mount --bind "$hosts" /etc/hosts
  rm -f "$hosts"
  exec node "$0" "$@"' "$driver" "$@"
