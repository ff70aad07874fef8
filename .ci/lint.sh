#!/usr/bin/env bash
# Formatting and clippy for both builds: the server (ssr) and the browser (hydrate, wasm32).
source "$(dirname "$0")/common.sh"
log "cargo fmt --check"
cargo fmt --all -- --check
log "clippy: server build"
cargo clippy --features ssr --all-targets -- -D warnings
log "clippy: browser build (wasm32)"
cargo clippy --lib --target wasm32-unknown-unknown --no-default-features --features hydrate -- -D warnings
log "no server code in the browser build"
cargo check --lib --target wasm32-unknown-unknown --no-default-features --features hydrate
