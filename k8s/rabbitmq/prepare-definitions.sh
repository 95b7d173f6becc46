#!/bin/sh
# Writes the definitions RabbitMQ imports at every boot into directory $1: the topology and the
# services' users with their permissions, generated from the services' code ($2,
# k8s/rabbitmq/definitions.json), with each service user's password filled in from the
# variable its placeholder names (`@ORDER_RABBITMQ_PASSWORD@` from ORDER_RABBITMQ_PASSWORD: the
# Secret's key of that name), and the operator user from RABBITMQ_USER / RABBITMQ_PASSWORD (the
# only administrator; the services never use it). Every password lives in one place.
set -eu
out="${1:?usage: prepare-definitions.sh <output-dir> <topology.json>}"
topology="${2:?usage: prepare-definitions.sh <output-dir> <topology.json>}"
: "${RABBITMQ_USER:?RABBITMQ_USER is required}" "${RABBITMQ_PASSWORD:?RABBITMQ_PASSWORD is required}"
# Values go into AMQP URLs and into JSON (and a sed replacement) below, unescaped.
url_safe() {
  case "$2" in
    "" ) echo "$1 is required" >&2; exit 1 ;;
    *[!A-Za-z0-9._~-]*) echo "$1 must be URL-safe ([A-Za-z0-9._~-])" >&2; exit 1 ;;
  esac
}
url_safe RABBITMQ_USER "$RABBITMQ_USER"
url_safe RABBITMQ_PASSWORD "$RABBITMQ_PASSWORD"
mkdir -p "$out"
umask 077
# Passwords are written into these files: readable by the broker only.
cp "$topology" "$out/10-topology.json"
for key in $(grep -o '@[A-Z][A-Z0-9_]*_RABBITMQ_PASSWORD@' "$topology" | tr -d @ | sort -u); do
  eval "value=\${$key:-}"
  url_safe "$key" "$value"
  sed -i "s/@$key@/$value/g" "$out/10-topology.json"
done
# The vhost is declared here too, so the permissions do not depend on the import order.
cat > "$out/20-users.json" <<JSON
{
  "vhosts": [{ "name": "/" }],
  "users": [{ "name": "$RABBITMQ_USER", "password": "$RABBITMQ_PASSWORD", "tags": "administrator" }],
  "permissions": [{ "user": "$RABBITMQ_USER", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*" }]
}
JSON
if [ "$(id -u)" = 0 ] && id rabbitmq >/dev/null 2>&1; then chown rabbitmq:rabbitmq "$out/10-topology.json" "$out/20-users.json"; fi
echo "definitions written to $out"
