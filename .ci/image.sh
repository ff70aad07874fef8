#!/usr/bin/env bash
# `make image`: the portal as an OCI image, assembled here without pulling a base image, from the
# release build and files of Debian's own packages (glibc, libgcc, the CA bundle), then
# smoke-tested: the image is unpacked and its entry point run as its non-root user, on a
# read-only root, against PostgreSQL; /readyz must answer 200.
#   target/image/oci             the OCI layout (tag `leasegate:<version>`)
#   target/image/leasegate.tar   the same as one archive: `skopeo copy oci-archive:...`,
#                                `podman load -i ...`
source "$(dirname "$0")/common.sh"
source "$REPO/.ci/postgres.sh"

command -v umoci >/dev/null || apt_install umoci
VERSION="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)"
BIN="$CARGO_TARGET_DIR/release/leasegate"
SITE="$REPO/target/site"
if [ "${SKIP_BUILD:-}" != 1 ]; then
  log "release build (cargo leptos build --release --split)"
  PATH="$REPO/end2end/node_modules/.bin:$PATH" cargo leptos build --release --split
fi
[ -x "$BIN" ] && [ -d "$SITE/pkg" ] || die "no release build at $BIN and $SITE"

OUT="$REPO/target/image"
WORK="$(mktemp -d)"
PORTAL_PID=""
cleanup() {
  if [ -n "$PORTAL_PID" ]; then
    kill "$PORTAL_PID" 2>/dev/null || true
    wait "$PORTAL_PID" 2>/dev/null || true
  fi
  umount "$WORK/run/rootfs/tmp" 2>/dev/null || true
  umount "$WORK/run/rootfs" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
rm -rf "$OUT" && mkdir -p "$OUT"

log "assembling the root file system"
ROOT="$WORK/rootfs"
mkdir -p "$ROOT"/{usr/local/bin,usr/share/leasegate,etc/ssl/certs,tmp}
install -m 0755 "$BIN" "$ROOT/usr/local/bin/leasegate"
cp -r "$SITE" "$ROOT/usr/share/leasegate/site"
# The shared libraries the binary loads, from Debian's packages on this machine, and the loader.
for lib in $(ldd "$BIN" | awk '/=>/ { print $3 } /^\s*\/lib/ { print $1 }'); do
  mkdir -p "$ROOT$(dirname "$lib")"
  cp -L "$lib" "$ROOT$lib"
done
# Mail's TLS reads the system's CA bundle (Debian's ca-certificates).
cp -L /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nleasegate:x:65532:65532:Leasegate:/nonexistent:/sbin/nologin\n' >"$ROOT/etc/passwd"
printf 'root:x:0:\nleasegate:x:65532:\n' >"$ROOT/etc/group"
chmod 1777 "$ROOT/tmp"

log "the OCI image (umoci)"
umoci init --layout "$OUT/oci"
umoci new --image "$OUT/oci:$VERSION"
umoci unpack --rootless --image "$OUT/oci:$VERSION" "$WORK/bundle" >/dev/null
cp -a "$ROOT/." "$WORK/bundle/rootfs/"
umoci repack --image "$OUT/oci:$VERSION" "$WORK/bundle"
umoci config --image "$OUT/oci:$VERSION" \
  --config.user 65532:65532 \
  --config.entrypoint /usr/local/bin/leasegate --config.cmd serve \
  --config.workingdir / \
  --config.exposedports 3000/tcp \
  --config.env LEPTOS_OUTPUT_NAME=leasegate \
  --config.env LEPTOS_SITE_ROOT=/usr/share/leasegate/site \
  --config.env LEPTOS_SITE_PKG_DIR=pkg \
  --config.env LEPTOS_ENV=PROD \
  --config.env LEASEGATE_LISTEN=0.0.0.0:3000 \
  --config.env LEASEGATE_LOG_FORMAT=json \
  --config.label org.opencontainers.image.title=leasegate \
  --config.label "org.opencontainers.image.version=$VERSION" \
  --config.label org.opencontainers.image.licenses=Apache-2.0 \
  --tag "$VERSION"
umoci gc --layout "$OUT/oci"
tar -C "$OUT/oci" -cf "$OUT/leasegate.tar" .
log "image leasegate:$VERSION: $(du -sh "$OUT/leasegate.tar" | cut -f1) in $OUT"

log "smoke test: the image's entry point as its user, on a read-only root"
umoci unpack --image "$OUT/oci:$VERSION" "$WORK/run" >/dev/null
config="$WORK/run/config.json"
user="$(python3 -c 'import json,sys; u=json.load(open(sys.argv[1]))["process"]["user"]; print("%s:%s" % (u["uid"], u["gid"]))' "$config")"
[ "$user" = "65532:65532" ] || die "the image runs as $user, not the non-root 65532"
mapfile -t image_env < <(python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["process"]["env"]))' "$config")
ensure_postgres leasegate_image_smoke
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
# The root file system read-only, as the manifests run it; /tmp its own writable mount.
mount --bind "$WORK/run/rootfs" "$WORK/run/rootfs"
mount -o remount,bind,ro "$WORK/run/rootfs"
mount -t tmpfs tmpfs "$WORK/run/rootfs/tmp"
env -i "${image_env[@]}" DATABASE_URL="$DATABASE_URL" LEASEGATE_LISTEN="127.0.0.1:$port" \
  LEASEGATE_OIDC_ISSUER=http://127.0.0.1:9 LEASEGATE_OIDC_CLIENT_ID=smoke \
  LEASEGATE_OIDC_CLIENT_SECRET=smoke-secret \
  chroot --userspec=65532:65532 "$WORK/run/rootfs" /usr/local/bin/leasegate serve \
  >"$WORK/portal.log" 2>&1 &
PORTAL_PID=$!
for _ in $(seq 1 60); do
  if curl -fsS "http://127.0.0.1:$port/readyz" >"$WORK/readyz" 2>/dev/null; then break; fi
  kill -0 "$PORTAL_PID" 2>/dev/null || { cat "$WORK/portal.log" >&2; die "the image's portal exited"; }
  sleep 1
done
grep -q '"status":"ready"' "$WORK/readyz" || { cat "$WORK/portal.log" >&2; die "/readyz did not answer ready"; }
curl -fsS "http://127.0.0.1:$port/pkg/leasegate.css" >/dev/null || die "the site's files are not served"
touch "$WORK/run/rootfs/usr/local/bin/x" 2>/dev/null && die "the root file system is writable"
log "smoke test passed: /readyz answers ready, the site is served, the root is read-only, uid 65532"
