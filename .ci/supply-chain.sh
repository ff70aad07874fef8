#!/usr/bin/env bash
# The supply chain (docs/security.md, "Supply chain"): cargo deny over licences, bans, sources
# and RustSec's advisories, and a CycloneDX SBOM of the portal's build.
source "$(dirname "$0")/common.sh"

command -v cargo-deny >/dev/null || die "cargo-deny is missing: run .ci/setup.sh"
command -v cargo-cyclonedx >/dev/null || die "cargo-cyclonedx is missing: run .ci/setup.sh"

log "cargo deny: licences, bans, sources"
cargo deny --all-features check licenses bans sources

# RustSec's database cannot be fetched from this network (GitHub is out of reach). A copy of
# it (a git checkout of github.com/rustsec/advisory-db) is read where one is given; without one
# the check says plainly that it did not run.
ADVISORY_DB="${ADVISORY_DB:-$HOME/.cache/leasegate/advisory-db}"
if [ -d "$ADVISORY_DB/crates" ]; then
  log "cargo deny: advisories, from the copy of RustSec's database in $ADVISORY_DB (its newest advisory commit: $(git -C "$ADVISORY_DB" log -1 --format=%cs))"
  db_root="$(mktemp -d)"
  trap 'rm -rf "$db_root"' EXIT
  # Where cargo-deny keeps the database of github.com/rustsec/advisory-db (the name is its
  # hash of that address), pointing at the copy; read offline, however old the copy is: the
  # date above says how old.
  ln -s "$ADVISORY_DB" "$db_root/advisory-db-3157b0e258782691"
  sed "s|^\[advisories\]|[advisories]\ndb-path = \"$db_root\"\nmaximum-db-staleness = \"P3650D\"|" \
    deny.toml >"$db_root/deny.toml"
  cargo deny --offline --all-features --config "$db_root/deny.toml" check advisories
else
  log "cargo deny: advisories NOT checked: no copy of RustSec's database at $ADVISORY_DB (set ADVISORY_DB to a checkout of github.com/rustsec/advisory-db)"
fi

log "SBOM: CycloneDX JSON of the portal's server build"
out="$CARGO_TARGET_DIR/sbom"
mkdir -p "$out"
cargo cyclonedx --format json --features ssr --spec-version 1.5 --override-filename leasegate.cdx >/dev/null
mv leasegate.cdx.json "$out/leasegate.cdx.json"
rm -f crates/graph-sim/leasegate.cdx.json crates/graph-sim/graph-sim.cdx.json
python3 - "$out/leasegate.cdx.json" <<'PY'
import json, sys
bom = json.load(open(sys.argv[1]))
assert bom["bomFormat"] == "CycloneDX", "not a CycloneDX document"
names = {c["name"] for c in bom.get("components", [])}
for needed in ("tokio", "sqlx-core", "openidconnect", "rustls"):
    assert needed in names, f"the SBOM lacks {needed}"
print(f"{sys.argv[1]}: CycloneDX {bom['specVersion']}, {len(bom['components'])} components")
PY
