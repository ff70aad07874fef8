#!/usr/bin/env bash
# `make run`: the portal with its demo identity provider and a local PostgreSQL.
# Ctrl-C stops everything this script started.
source "$(dirname "$0")/common.sh"
source "$REPO/.ci/postgres.sh"

bash "$REPO/.ci/setup.sh"

PIDS=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  stop_private_postgres
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ensure_postgres leasegate
log "database: ${DATABASE_URL}"

IDP_PORT="${IDP_PORT:-5556}"
log "starting the demo identity provider on http://127.0.0.1:$IDP_PORT"
IDP_PORT=$IDP_PORT IDP_MODE=demo node end2end/idp/server.mjs 2> >(grep -v 'oidc-provider WARNING' >&2) &
PIDS+=($!)

export LEASEGATE_OIDC_ISSUER="http://127.0.0.1:$IDP_PORT"
export LEASEGATE_OIDC_CLIENT_ID=leasegate-demo
export LEASEGATE_OIDC_CLIENT_SECRET=leasegate-demo-secret
export LEASEGATE_PUBLIC_URL=http://127.0.0.1:3000
export LEASEGATE_LISTEN=127.0.0.1:3000
export LEASEGATE_LOG="${LEASEGATE_LOG:-info,leasegate=debug}"

log "building and starting the portal; open http://127.0.0.1:3000 when it says it is serving"
cargo leptos serve &
PIDS+=($!)
wait "${PIDS[-1]}"
