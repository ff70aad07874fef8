#!/usr/bin/env bash
# Makes a throwaway CA and a server certificate for localhost / 127.0.0.1 in DIR (once).
# Usage: tls.sh DIR    ->  DIR/ca.pem, DIR/server.pem, DIR/server.key
set -euo pipefail
dir=$1
mkdir -p "$dir"
[ -s "$dir/server.pem" ] && exit 0
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=Leasegate Lab CA" \
  -keyout "$dir/ca.key" -out "$dir/ca.pem" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
  -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' > "$dir/server.ext"
openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
  -days 30 -out "$dir/server.pem" -extfile "$dir/server.ext" 2>/dev/null
chmod 600 "$dir/server.key" "$dir/ca.key"
