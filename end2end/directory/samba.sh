#!/usr/bin/env bash
# Runs a Samba AD domain controller (realm CONTOSO.TEST) in the foreground for tests and the
# demo, provisioning it in DIR on first use. Needs root; listens on the standard ports of
# 127.0.0.1 (LDAP 389, LDAPS 636, ...), so one runs per machine. Administrator's password is
# $SAMBA_ADMIN_PASSWORD (default Passw0rd!Test). LDAPS uses the lab CA from tls.sh.
# Usage: samba.sh DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$1
PATH=$PATH:/usr/sbin
command -v samba >/dev/null || { echo "Samba AD DC is not installed (apt-get install samba-ad-dc samba-ad-provision)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "Samba AD DC needs root" >&2; exit 1; }
bash "$here/tls.sh" "$dir/tls"
if [ ! -f "$dir/etc/smb.conf" ]; then
  samba-tool domain provision --targetdir="$dir" --realm=CONTOSO.TEST --domain=CONTOSO \
    --server-role=dc --dns-backend=NONE --adminpass="${SAMBA_ADMIN_PASSWORD:-Passw0rd!Test}" \
    --host-name=dc1 --host-ip=127.0.0.1 --use-rfc2307 \
    --option="interfaces=lo" --option="bind interfaces only=yes" \
    --option="tls enabled=yes" --option="tls keyfile=$dir/tls/server.key" \
    --option="tls certfile=$dir/tls/server.pem" --option="tls cafile=$dir/tls/ca.pem" \
    --option="dsdb:schema update allowed=true" >"$dir/provision.log" 2>&1 \
    || { cat "$dir/provision.log" >&2; exit 1; }
  # Lab domain: no password expiry or complexity surprises for seeded accounts.
  samba-tool domain passwordsettings set --complexity=off --max-pwd-age=0 --min-pwd-length=1 \
    -s "$dir/etc/smb.conf" >/dev/null
fi
exec samba -i -M single --no-process-group -s "$dir/etc/smb.conf"
