#!/usr/bin/env bash
# Regenerates .sqlx/ (the query data that lets the build check SQL without a database).
source "$(dirname "$0")/common.sh"
source "$REPO/.ci/postgres.sh"
trap stop_private_postgres EXIT
ensure_postgres leasegate_sqlx_prepare
psql "$DATABASE_URL" -qc 'drop schema public cascade; create schema public' >/dev/null
for f in migrations/*.sql; do psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -qf "$f" >/dev/null; done
rm -rf .sqlx && mkdir .sqlx
touch src/lib.rs
SQLX_OFFLINE=false SQLX_OFFLINE_DIR="$REPO/.sqlx" cargo check --features ssr --all-targets
log "wrote $(ls .sqlx | wc -l) query files to .sqlx/"
