#!/usr/bin/env bash
# `make bench`: the engine's removal lag and burst clearing against a real directory and
# PostgreSQL (docs/benchmarks.md). BENCH_DIRECTORY=samba uses a Samba AD DC (needs root).
# `make bench-load` (argument `load`): 200 signed-in people over HTTP.
# `make bench-pages` (argument `pages`): page weight and time to hydrated in Chromium.
# `make bench-replicas` (argument `replicas`): three replicas behind HAProxy under fire.
source "$(dirname "$0")/common.sh"
source "$REPO/.ci/postgres.sh"
bash "$REPO/.ci/setup.sh"
trap stop_private_postgres EXIT
ensure_postgres leasegate_bench_admin
bench=${1:-engine}
if [ "$bench" = pages ]; then
  bash "$REPO/.ci/setup.sh" --browser
  log "benchmark pages: release build (server and split WebAssembly), then Chromium"
  PATH="$REPO/end2end/node_modules/.bin:$PATH" cargo leptos build --release --split
  use_portal_role
  PORTAL_BIN="$CARGO_TARGET_DIR/release/leasegate" LEPTOS_SITE_ROOT="$REPO/target/site" \
    node "$REPO/end2end/bench/pages.mjs"
  exit
fi
if [ "$bench" = replicas ]; then
  # Three replicas behind HAProxy, one killed every 30 s, PostgreSQL restarted once: the
  # benchmark restarts a cluster of its own, never the one the tests and the demo use.
  if ! command -v haproxy >/dev/null; then
    apt_install haproxy
    as_root invoke-rc.d haproxy stop >/dev/null 2>&1 || true
  fi
  dir="$REPO/.data/bench-postgres"
  port=55433
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_postgres "$(pg_bin initdb)" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
  fi
  pg_ctl_cmd="$(pg_bin pg_ctl) -D $dir/data -l $dir/server.log -w -o '-h 127.0.0.1 -p $port -k $dir -c max_connections=300'"
  if [ "$(id -u)" = 0 ]; then pg_ctl_cmd="runuser -u postgres -- $pg_ctl_cmd"; fi
  sh -c "$pg_ctl_cmd start" >/dev/null
  trap 'sh -c "$pg_ctl_cmd -m fast stop" >/dev/null 2>&1 || true; stop_private_postgres' EXIT
  log "benchmark replicas: release build, then about 5 minutes under fire"
  DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres" \
    BENCH_PG_RESTART="$pg_ctl_cmd -m fast restart >/dev/null" \
    cargo bench --features ssr --bench replicas
  exit
fi
log "benchmark $bench: release build, then a few minutes of measuring"
cargo bench --features ssr --bench "$bench"
