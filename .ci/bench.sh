#!/usr/bin/env bash
# `make bench`: the engine's removal lag and burst clearing against a real directory and
# PostgreSQL (docs/benchmarks.md). BENCH_DIRECTORY=samba uses a Samba AD DC (needs root).
# `make bench-load` (argument `load`): 200 signed-in people over HTTP.
source "$(dirname "$0")/common.sh"
source "$REPO/.ci/postgres.sh"
bash "$REPO/.ci/setup.sh"
trap stop_private_postgres EXIT
ensure_postgres leasegate_bench_admin
bench=${1:-engine}
log "benchmark $bench: release build, then a few minutes of measuring"
cargo bench --features ssr --bench "$bench"
