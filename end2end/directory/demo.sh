#!/usr/bin/env bash
# The demo directory: a Samba AD domain controller when this machine can run one (root, port
# 636 free), OpenLDAP otherwise; seeded with the demo people and groups; and the catalog that
# goes with it, written to DIR/catalog.toml. Runs in the foreground: prints "ready" once the
# directory answers and the catalog is written, and stops the directory on SIGTERM/SIGINT.
# Usage: demo.sh DIR      (DIR keeps the directory's data between runs)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mkdir -p "$1" && cd "$1" && pwd)
PATH=$PATH:/usr/sbin
export SAMBA_ADMIN_PASSWORD='Passw0rd!Demo' LDAP_ADMIN_PASSWORD='demo-secret'

port_open() { (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if [ "$(id -u)" = 0 ] && command -v samba >/dev/null && ! port_open 636; then
  kind=ad
  url=ldaps://127.0.0.1:636
  port=636
  bind_dn=Administrator@contoso.test
  password=$SAMBA_ADMIN_PASSWORD
  people="CN=Users,DC=contoso,DC=test"
  attribute=userPrincipalName
  bash "$here/samba.sh" "$dir/samba" </dev/null &
  tls=$dir/samba/tls
else
  kind=openldap
  port=${DEMO_LDAPS_PORT:-3636}
  url=ldaps://127.0.0.1:$port
  bind_dn="cn=admin,dc=contoso,dc=test"
  password=$LDAP_ADMIN_PASSWORD
  people="OU=People,DC=contoso,DC=test"
  attribute=mail
  bash "$here/openldap.sh" "$dir/openldap" "${DEMO_LDAP_PORT:-3389}" "$port" </dev/null &
  tls=$dir/openldap/tls
fi
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; exit 0' TERM INT

for _ in $(seq 1 240); do
  port_open "$port" && break
  kill -0 $server 2>/dev/null || { echo "the demo directory did not start" >&2; exit 1; }
  sleep 0.5
done
export LDAPTLS_CACERT=$tls/ca.pem
ldap() { "$@" -x -H "$url" -D "$bind_dn" -w "$password"; }
# Binds succeed a moment after the port opens.
for _ in $(seq 1 120); do
  ldap ldapsearch -b "" -s base 1.1 >/dev/null 2>&1 && break
  sleep 0.5
done

# People: name, sign-in name, department, manager (by name), and the source anchor Entra
# Connect would have written back to `mS-DS-ConsistencyGuid` (base64; fixed, so the demo
# tenant's `onPremisesImmutableId` in end2end/demo/microsoft.json names the same people in
# every new directory). A sign-in becomes an AD person only through this anchor.
PEOPLE=(
  "Alex Wilber|alex.wilber@contoso.test|IT||wKXhpwAAQACAAAAAAAAAAw=="
  "Megan Bowen|megan.bowen@contoso.test|Sales|Alex Wilber|wKXhpwAAQACAAAAAAAAAAg=="
  "Adele Vance|adele.vance@contoso.test|Finance|Megan Bowen|wKXhpwAAQACAAAAAAAAAAQ=="
  "Irvin Sayers|irvin.sayers@contoso.test|Audit||wKXhpwAAQACAAAAAAAAABA=="
  "Nestor Wilke|nestor.wilke@contoso.test|IT||wKXhpwAAQACAAAAAAAAABQ=="
  "Diego Siciliani|diego.siciliani@contoso.test|IT||wKXhpwAAQACAAAAAAAAABg=="
  "Lee Gordon|lee.gordon@contoso.test|IT||wKXhpwAAQACAAAAAAAAABw=="
)
person_dn() { echo "CN=$1,$people"; }

{
  if [ "$kind" = openldap ]; then
    printf 'dn: DC=contoso,DC=test\nobjectClass: dcObject\nobjectClass: organization\no: Contoso\ndc: contoso\n\n'
    printf 'dn: %s\nobjectClass: organizationalUnit\nou: People\n\n' "$people"
  fi
  printf 'dn: OU=Leasegate,DC=contoso,DC=test\nobjectClass: organizationalUnit\nou: Leasegate\n\n'
  for p in "${PEOPLE[@]}"; do
    IFS='|' read -r name upn department manager anchor <<<"$p"
    echo "dn: $(person_dn "$name")"
    if [ "$kind" = ad ]; then
      # 544 = a normal account that needs no password: enabled (AD disables accounts added
      # without a password, and the portal refuses disabled accounts).
      printf 'objectClass: user\nuserAccountControl: 544\nsAMAccountName: %s\nuserPrincipalName: %s\ndepartment: %s\nmS-DS-ConsistencyGuid:: %s\n' \
        "${upn%%@*}" "$upn" "$department" "$anchor"
    else
      printf 'objectClass: inetOrgPerson\nsn: %s\nuid: %s\ndepartmentNumber: %s\n' \
        "${name#* }" "${upn%%@*}" "$department"
    fi
    printf 'cn: %s\ndisplayName: %s\nmail: %s\n' "$name" "$name" "$upn"
    [ -n "$manager" ] && echo "manager: $(person_dn "$manager")"
    echo
  done
} >"$dir/seed.ldif"
# -c: carry on past entries that exist from an earlier run.
ldap ldapadd -c -f "$dir/seed.ldif" >"$dir/seed.log" 2>&1 || true

# Groups (in OU=Leasegate). groupOfNames needs a member; AD groups may be empty.
group() {
  local name=$1; shift
  local dn="CN=$name,OU=Leasegate,DC=contoso,DC=test"
  {
    echo "dn: $dn"
    if [ "$kind" = ad ]; then
      printf 'objectClass: group\nsAMAccountName: %s\n' "${name// /-}"
    else
      printf 'objectClass: groupOfNames\ncn: %s\n' "$name"
      [ $# -eq 0 ] && echo "member: $(person_dn "Nestor Wilke")"
    fi
    for m in "$@"; do echo "member: $m"; done
    echo
  } | ldap ldapadd -c >>"$dir/seed.log" 2>&1 || true
}
group "DBA Oncall" "$(person_dn "Lee Gordon")"
group "SQL Admins" "CN=DBA Oncall,OU=Leasegate,DC=contoso,DC=test"
group "Finance Reports Readers"
group "Payroll Admins"
group "Server Operators JIT"
group "VPN Emergency Access"
group "Treasury Approvers"
group "Falcon Project Files"
group "Break Glass Admins"

sed -e "s|@URL@|$url|" -e "s|@BIND_DN@|$bind_dn|" -e "s|@CA_FILE@|$tls/ca.pem|" \
  -e "s|@USER_BASE@|$people|" -e "s|@ACCOUNT_ATTRIBUTE@|$attribute|" \
  -e "s|@PASSWORD_FILE@|bind-password|" \
  "$here/../demo/catalog.toml.in" >"$dir/catalog.toml"
# Connector secrets are read only from the portal's secrets directory (LEASEGATE_SECRETS_DIR).
mkdir -p "$dir/secrets"
chmod 700 "$dir/secrets"
printf '%s' "$password" >"$dir/secrets/bind-password"
chmod 600 "$dir/secrets/bind-password"
echo "ready: $kind directory at $url; catalog $dir/catalog.toml"
wait $server
