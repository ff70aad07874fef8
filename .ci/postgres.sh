# Sourced: makes sure a PostgreSQL server answers and exports DATABASE_URL for database $1.
# Uses DATABASE_URL's server when it answers, else the server on 127.0.0.1:5432, else starts a
# private cluster under .data/postgres (stopped again by `stop_private_postgres`).
# shellcheck shell=bash
PRIVATE_PG_DIR="$REPO/.data/postgres"
PRIVATE_PG_PORT=55432

pg_answers() { psql "$1" -Atqc 'select 1' >/dev/null 2>&1; }

pg_bin() {
  local bin
  bin=$(command -v "$1" 2>/dev/null || ls /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -n1)
  [ -n "$bin" ] || die "PostgreSQL's $1 is not installed (run: make setup)"
  echo "$bin"
}

as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

start_private_postgres() {
  mkdir -p "$PRIVATE_PG_DIR"
  [ "$(id -u)" = 0 ] && chown postgres: "$PRIVATE_PG_DIR"
  if [ ! -f "$PRIVATE_PG_DIR/data/PG_VERSION" ]; then
    log "creating a private PostgreSQL cluster in .data/postgres"
    as_postgres "$(pg_bin initdb)" -D "$PRIVATE_PG_DIR/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
  fi
  log "starting the private PostgreSQL cluster on 127.0.0.1:$PRIVATE_PG_PORT"
  as_postgres "$(pg_bin pg_ctl)" -D "$PRIVATE_PG_DIR/data" -l "$PRIVATE_PG_DIR/server.log" -w \
    -o "-h 127.0.0.1 -p $PRIVATE_PG_PORT -k $PRIVATE_PG_DIR -c fsync=off" start >/dev/null
  PRIVATE_PG_STARTED=1
}

stop_private_postgres() {
  if [ -n "${PRIVATE_PG_STARTED:-}" ]; then
    log "stopping the private PostgreSQL cluster"
    as_postgres "$(pg_bin pg_ctl)" -D "$PRIVATE_PG_DIR/data" -m fast -w stop >/dev/null || true
    PRIVATE_PG_STARTED=
  fi
}

ensure_postgres() {
  local db=$1 server
  if [ -n "${DATABASE_URL:-}" ] && pg_answers "$DATABASE_URL"; then
    server=${DATABASE_URL%/*}
  elif pg_answers "postgres://postgres@127.0.0.1:5432/postgres"; then
    server="postgres://postgres@127.0.0.1:5432"
  else
    [ -n "${DATABASE_URL:-}" ] && log "DATABASE_URL does not answer; using a private cluster instead"
    if ! pg_answers "postgres://postgres@127.0.0.1:$PRIVATE_PG_PORT/postgres"; then
      start_private_postgres
    fi
    server="postgres://postgres@127.0.0.1:$PRIVATE_PG_PORT"
  fi
  if [ "$(psql "$server/postgres" -Atqc "select 1 from pg_database where datname = '$db'")" != 1 ]; then
    psql "$server/postgres" -qc "create database \"$db\"" >/dev/null
  fi
  export DATABASE_URL="$server/$db"
}

# Splits the connection in two: LEASEGATE_MIGRATE_DATABASE_URL keeps DATABASE_URL's role (the
# owner, which migrates), and DATABASE_URL becomes the role leasegate_portal, which may only
# append to the audit trail. Falls back to one role when the server's user may not create roles.
use_portal_role() {
  local owner_url=$DATABASE_URL server=${DATABASE_URL%/*} db=${DATABASE_URL##*/} host
  host=${server#*://}
  host=${host#*@}
  if [ "$(psql "$owner_url" -Atqc "select 1 from pg_roles where rolname = 'leasegate_portal'")" = 1 ] \
    || psql "$owner_url" -qc "create role leasegate_portal login password 'leasegate-portal'" >/dev/null 2>&1; then
    export LEASEGATE_MIGRATE_DATABASE_URL=$owner_url
    export DATABASE_URL="postgres://leasegate_portal:leasegate-portal@$host/$db"
  else
    log "cannot create the role leasegate_portal on this server: the portal will own its tables"
  fi
}
