#!/bin/sh
# Runs NGINX in the foreground on 127.0.0.1:8080 guarding the example API in
# demo/, with the jwtguard module built from this tree. Stop it with Ctrl-C.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
prefix="$root/target/demo"

mkdir -p "$prefix"
sed -e "s|%%MODULE%%|$root/target/nginx/ngx_http_jwtguard_module.so|" \
    -e "s|%%PREFIX%%|$prefix|g" \
    -e "s|%%DEMO%%|$root/demo|g" \
    demo/nginx.conf > "$prefix/nginx.conf"
if [ "$(id -u)" = 0 ]; then
    # Workers must be able to read this tree; as root nginx would run them
    # as "nobody".
    sed -i "1i user root;" "$prefix/nginx.conf"
fi

valid=$(cat demo/tokens/valid.jwt)
expired=$(cat demo/tokens/expired.jwt)
cat <<USAGE
jwtguard demo: NGINX on http://127.0.0.1:8080 guards /api/ (Ctrl-C stops it).
Try, from another terminal:

  # no token: 401
  curl -i http://127.0.0.1:8080/api/orders

  # expired token: 403
  curl -i -H "Authorization: Bearer $expired" http://127.0.0.1:8080/api/orders

  # valid token: 200, and the upstream receives the token's subject
  curl -i -H "Authorization: Bearer $valid" http://127.0.0.1:8080/api/orders

USAGE
exec /usr/sbin/nginx -p "$prefix" -c "$prefix/nginx.conf"
