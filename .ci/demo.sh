#!/usr/bin/env bash
# `make run`: the portal with its demo identity provider, its demo directory (a Samba AD domain
# controller when run as root, OpenLDAP otherwise) and a local PostgreSQL.
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

# The demo's database belongs to its directory: a new directory (a second clone, or .data/
# removed) gets a database of its own, so the people of one demo are never read against the
# directory of another.
mkdir -p "$REPO/.data"
demo_id_file="$REPO/.data/demo-id"
if [ ! -s "$demo_id_file" ] || [ ! -d "$REPO/.data/directory" ]; then
  head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$demo_id_file"
fi
ensure_postgres "leasegate_demo_$(cat "$demo_id_file")"
use_portal_role
log "database: ${DATABASE_URL} (migrated by ${LEASEGATE_MIGRATE_DATABASE_URL:-the same role})"

IDP_PORT="${IDP_PORT:-5556}"
log "starting the demo identity provider on http://127.0.0.1:$IDP_PORT"
IDP_PORT=$IDP_PORT IDP_MODE=demo node end2end/idp/server.mjs 2> >(grep -v 'oidc-provider WARNING' >&2) &
PIDS+=($!)

log "starting the demo directory (Samba AD DC as root, else OpenLDAP); data in .data/directory"
mkdir -p "$REPO/.data"
bash end2end/directory/demo.sh "$REPO/.data/directory" >"$REPO/.data/directory.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 360); do
  grep -q '^ready' "$REPO/.data/directory.log" 2>/dev/null && break
  kill -0 "${PIDS[-1]}" 2>/dev/null || { cat "$REPO/.data/directory.log" >&2; die "the demo directory did not start"; }
  sleep 0.5
done
grep '^ready' "$REPO/.data/directory.log" >&2 || die "the demo directory did not become ready"
export LEASEGATE_CATALOG="$REPO/.data/directory/catalog.toml"
export LEASEGATE_SECRETS_DIR="$REPO/.data/directory/secrets"
# The key that signs the audit trail's checkpoints: made once, kept with the demo's data, in
# its own file outside the secrets directory (no catalog can read it).
key_file="$REPO/.data/audit-signing-key"
[ -s "$key_file" ] || { head -c 32 /dev/urandom | base64 >"$key_file"; chmod 600 "$key_file"; }
export LEASEGATE_AUDIT_KEY_FILE="$key_file"

export LEASEGATE_OIDC_ISSUER="http://127.0.0.1:$IDP_PORT"
export LEASEGATE_OIDC_CLIENT_ID=leasegate-demo
export LEASEGATE_OIDC_CLIENT_SECRET=leasegate-demo-secret
export LEASEGATE_PUBLIC_URL=http://127.0.0.1:3000
export LEASEGATE_LISTEN=127.0.0.1:3000
export LEASEGATE_LOG="${LEASEGATE_LOG:-info,leasegate=debug}"

log "building the portal and the Microsoft Graph simulator"
cargo leptos build --split
cargo build --quiet -p graph-sim

# Microsoft 365: the Graph simulator (written from Microsoft's documentation, not Microsoft's
# service) with the demo tenant's people and two Entra groups, and a Graph connector for it.
SIM_PORT="${SIM_PORT:-8950}"
SIM_SECRET=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
# Its control plane (seed, state, clock, faults) takes a token of its own.
SIM_TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
log "starting the Microsoft Graph simulator: its page is http://127.0.0.1:$SIM_PORT/__sim__/?token=$SIM_TOKEN"
LEASEGATE_SIM_LISTEN="127.0.0.1:$SIM_PORT" LEASEGATE_SIM_CLIENT_SECRET="$SIM_SECRET" \
  LEASEGATE_SIM_CONTROL_TOKEN="$SIM_TOKEN" "$CARGO_TARGET_DIR/debug/graph-sim" &
PIDS+=($!)
for _ in $(seq 1 100); do
  curl -fsS -H "x-sim-control-token: $SIM_TOKEN" "http://127.0.0.1:$SIM_PORT/__sim__/config" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS -X POST -H 'content-type: application/json' -H "x-sim-control-token: $SIM_TOKEN" \
  --data @end2end/demo/microsoft.json \
  "http://127.0.0.1:$SIM_PORT/__sim__/seed" >/dev/null || die "could not seed the Graph simulator"
printf '%s' "$SIM_SECRET" >"$LEASEGATE_SECRETS_DIR/graph-client-secret"
# Contractors' AD accounts go where the demo directory keeps its people; a disabled
# contractor is deleted after 30 days, as in production.
contractors_base=$(sed -n 's/^user_base = "\(.*\)"$/\1/p' "$LEASEGATE_CATALOG" | head -1)
people_sources='"contoso-ad", "contoso-cloud"'
grep -q '^ready: openldap' "$REPO/.data/directory.log" && people_sources='"contoso-cloud"'
sed -e "s/@SIM_PORT@/$SIM_PORT/g" -e "s|@CONTRACTORS_BASE@|$contractors_base|" \
  -e "s/@CONTRACTOR_RETENTION@/P30D/" -e "s/@PEOPLE_SOURCES@/$people_sources/" \
  end2end/demo/microsoft.toml.in >>"$LEASEGATE_CATALOG"
# The simulator speaks plain http on loopback, which only a lab allows.
export LEASEGATE_LAB_MODE=true

MAIL_PORT="${MAIL_PORT:-1025}"
MAIL_WEB_PORT="${MAIL_WEB_PORT:-1080}"
log "starting the demo mailbox (maildev): the portal's mail is read at http://127.0.0.1:$MAIL_WEB_PORT"
mkdir -p "$REPO/.data/mail"
end2end/node_modules/.bin/maildev --ip 127.0.0.1 --web-ip 127.0.0.1 -s "$MAIL_PORT" -w "$MAIL_WEB_PORT" \
  --mail-directory "$REPO/.data/mail" --silent >/dev/null &
PIDS+=($!)
export LEASEGATE_SMTP_HOST=127.0.0.1 LEASEGATE_SMTP_PORT="$MAIL_PORT" LEASEGATE_SMTP_TLS=none
export LEASEGATE_MAIL_FROM="Leasegate demo <leasegate@contoso.test>"
export LEASEGATE_SECURITY_MAIL="security@contoso.test"

# /metrics for Prometheus (docs/operations.md); a demo token, printed here, not a secret.
export LEASEGATE_METRICS_TOKEN=demo-metrics-token-not-secret
log "starting the portal; open http://127.0.0.1:3000 when it says it is serving"
cargo leptos serve --split &
PIDS+=($!)
wait "${PIDS[-1]}"
