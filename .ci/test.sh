#!/usr/bin/env bash
# `make test`: every test, against real parts. Leaves nothing running.
#   1. Rust unit tests, database tests (#[sqlx::test], one database per test) and the HTTP
#      tests against the real OpenID Connect provider (tests/api).
#   2. cargo-leptos builds the portal (server + WebAssembly); browser tests in end2end/ drive
#      Debian's Chromium through it, with axe-core on every page.
source "$(dirname "$0")/common.sh"
source "$REPO/.ci/postgres.sh"

bash "$REPO/.ci/setup.sh" --browser
trap stop_private_postgres EXIT

ensure_postgres leasegate_test
log "database server: ${DATABASE_URL%/*}"

log "the Graph simulator's own tests"
cargo test -p graph-sim

log "unit, database, OIDC, session and HTTP tests"
cargo test --features ssr --no-run
# `cargo test` has no per-test timeout: a test that hangs (one did, once, in a local run) would
# hold the run until CI's limit. These tests take about 5 minutes; libtest names any test that
# runs for over 60 seconds, and the whole stage ends after 30 minutes.
timeout --kill-after=30s 30m cargo test --features ssr || {
  status=$?
  [ "$status" -ne 124 ] || log "the Rust tests did not finish in 30 minutes: see the tests named as running for over 60 seconds above"
  exit "$status"
}

log "building the portal with cargo-leptos, and the Graph simulator"
cargo leptos build --split
cargo build -p graph-sim

log "browser tests (Chromium, axe-core)"
# Each browser test file starts the portal and the simulator anew. Pin the builds made above: a
# link made now keeps this build's files even if a cargo command elsewhere rebuilds the shared
# target directory meanwhile (cargo replaces a binary by linking a new file in its place).
pinned="$REPO/target/e2e-bin"
mkdir -p "$pinned"
for bin in leasegate graph-sim; do
  ln -f "$CARGO_TARGET_DIR/debug/$bin" "$pinned/$bin" 2>/dev/null \
    || cp -f "$CARGO_TARGET_DIR/debug/$bin" "$pinned/$bin"
done
server=${DATABASE_URL%/*}
# A database of this run's own: a portal left over from an interrupted run (it reconnects to a
# database of the same name) must not work on this run's grants.
for old in $(psql "$server/postgres" -Atqc "select datname from pg_database where datname like 'leasegate\_e2e%'"); do
  psql "$server/postgres" -qc "drop database if exists \"$old\" with (force)" >/dev/null
done
e2e_db="leasegate_e2e_$$"
psql "$server/postgres" -qc "create database $e2e_db" >/dev/null
# Each browser stack makes a database of its own beside it (leasegate_e2e_<pid>_<pid>_<n>).
drop_e2e_databases() {
  for old in $(psql "$server/postgres" -Atqc "select datname from pg_database where datname like '$e2e_db%'"); do
    psql "$server/postgres" -qc "drop database if exists \"$old\" with (force)" >/dev/null 2>&1
  done
}
trap 'drop_e2e_databases; stop_private_postgres' EXIT
# The portal runs as a role that may only append to the audit trail; the owner migrates.
DATABASE_URL="$server/$e2e_db"
use_portal_role
# A hang (a stack that never comes up, a child that never exits) fails the run after 45 minutes
# instead of eating CI's whole budget.
PORTAL_BIN="$pinned/leasegate" \
  SIM_BIN="$pinned/graph-sim" \
  LEPTOS_SITE_ROOT="$REPO/target/site" \
  E2E_PORTAL_LOG="$REPO/target/e2e-portal.log" \
  timeout --kill-after=30s 45m node --test --test-concurrency=1 end2end/tests/
