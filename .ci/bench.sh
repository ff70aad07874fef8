#!/usr/bin/env bash
# `make bench`: the engine's removal lag and burst clearing against a real directory and
# PostgreSQL (docs/benchmarks.md). BENCH_DIRECTORY=samba uses a Samba AD DC (needs root).
# `make bench-load` (argument `load`): 200 signed-in people over HTTP.
# `make bench-pages` (argument `pages`): page weight and time to hydrated in Chromium.
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
log "benchmark $bench: release build, then a few minutes of measuring"
cargo bench --features ssr --bench "$bench"
