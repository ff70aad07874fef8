#!/usr/bin/env bash
# Formatting and clippy for both builds: the server (ssr) and the browser (hydrate, wasm32).
source "$(dirname "$0")/common.sh"
log "cargo fmt --check"
cargo fmt --all -- --check
log "no import circle between files (portal and simulator)"
python3 "$REPO/.ci/import-circles.py" "$REPO/src" "$REPO/crates/graph-sim/src"
log "layers: domain names nothing above it, text only the domain, server functions no SQL"
layer_breach() {  # dir-or-file, forbidden modules: code lines (not comments) that name them
  grep -rnE "\bcrate::($2)\b" "$1" --include=*.rs | grep -vE '^[^:]+:[0-9]+:\s*//' || true
}
breach="$(layer_breach "$REPO/src/domain" 'text|ui|api|server')$(layer_breach "$REPO/src/text.rs" 'ui|api|server')$(layer_breach "$REPO/src/text" 'ui|api|server')$(layer_breach "$REPO/src/api" 'server::db')"
[ -z "$breach" ] || die "a layer imports one above it:
$breach"
log "parse at the edge: the server names only the shared types of api, never its functions"
edge="$(grep -rnE '\bcrate::api\b' "$REPO/src/server" --include=*.rs | grep -vE 'crate::api::types\b' | grep -vE '^[^:]+:[0-9]+:\s*//' || true)"
[ -z "$edge" ] || die "the server reaches into api (parse in api/forms.rs and pass the parsed value):
$edge"
log "words at the edge: no pick() outside text and ui"
words="$(grep -rnE '\bpick(_in)?\(' "$REPO/src" --include=*.rs | grep -vE "^$REPO/src/(text|ui)(/|\.rs:)" | grep -vE '^[^:]+:[0-9]+:\s*//' || true)"
[ -z "$words" ] || die "words outside text and ui (name the case in domain::problem and word it in text):
$words"
log "alert rules: promtool check and unit tests (deploy/prometheus)"
(cd "$REPO/deploy/prometheus" && promtool check rules alerts.yml && promtool test rules alerts.test.yml)
python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$REPO/deploy/grafana/leasegate.json"
log "Kubernetes manifests (deploy/kubernetes) against Kubernetes' schemas"
bash "$REPO/.ci/manifests.sh"
log "clippy: server build"
cargo clippy --features ssr --all-targets -- -D warnings
log "clippy: the Graph simulator (crates/graph-sim)"
cargo clippy -p graph-sim --all-targets -- -D warnings
log "no simulator code in the portal's build"
if cargo tree -e normal -p leasegate --features ssr --prefix none | grep -q '^graph-sim '; then
  die "the portal's build depends on graph-sim: it may only be a dev-dependency"
fi
log "clippy: browser build (wasm32)"
cargo clippy --lib --target wasm32-unknown-unknown --no-default-features --features hydrate -- -D warnings
log "no server code in the browser build"
cargo check --lib --target wasm32-unknown-unknown --no-default-features --features hydrate
