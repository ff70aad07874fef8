#!/usr/bin/env bash
# Runs OpenLDAP slapd in the foreground for tests and the demo: suffix dc=contoso,dc=test,
# admin cn=admin,dc=contoso,dc=test with password $LDAP_ADMIN_PASSWORD (default "secret"),
# memberOf and referential integrity overlays, LDAPS with the lab CA from tls.sh.
# Usage: openldap.sh DIR LDAP_PORT LDAPS_PORT
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$1 ldap_port=$2 ldaps_port=$3
command -v slapd >/dev/null || PATH=$PATH:/usr/sbin
command -v slapd >/dev/null || { echo "slapd is not installed (apt-get install slapd ldap-utils)" >&2; exit 1; }
bash "$here/tls.sh" "$dir/tls"
mkdir -p "$dir/db"
cat > "$dir/slapd.conf" <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
pidfile $dir/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
moduleload refint
sizelimit unlimited
TLSCACertificateFile $dir/tls/ca.pem
TLSCertificateFile $dir/tls/server.pem
TLSCertificateKeyFile $dir/tls/server.key
database mdb
maxsize 1073741824
suffix "dc=contoso,dc=test"
rootdn "cn=admin,dc=contoso,dc=test"
rootpw ${LDAP_ADMIN_PASSWORD:-secret}
directory $dir/db
index objectClass eq
index member eq
index mail eq
index uid eq
overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint TRUE
overlay refint
refint_attributes member
CONF
exec slapd -d 0 -f "$dir/slapd.conf" -h "ldap://127.0.0.1:$ldap_port/ ldaps://127.0.0.1:$ldaps_port/"
