#!/bin/sh
# Writes the definitions RabbitMQ imports at every boot into directory $1: the topology
# generated from the services' code ($2, k8s/rabbitmq/definitions.json) and the operator
# user from RABBITMQ_USER / RABBITMQ_PASSWORD (the Secret), so the password lives in one place.
set -eu
out="${1:?usage: prepare-definitions.sh <output-dir> <topology.json>}"
topology="${2:?usage: prepare-definitions.sh <output-dir> <topology.json>}"
: "${RABBITMQ_USER:?RABBITMQ_USER is required}" "${RABBITMQ_PASSWORD:?RABBITMQ_PASSWORD is required}"
# They are also embedded in AMQP URLs and written into JSON below, unescaped.
case "$RABBITMQ_USER$RABBITMQ_PASSWORD" in
  *[!A-Za-z0-9._~-]*) echo "RABBITMQ_USER and RABBITMQ_PASSWORD must be URL-safe ([A-Za-z0-9._~-])" >&2; exit 1 ;;
esac
mkdir -p "$out"
cp "$topology" "$out/10-topology.json"
umask 077
# The vhost is declared here too, so the permissions do not depend on the import order.
cat > "$out/20-users.json" <<JSON
{
  "vhosts": [{ "name": "/" }],
  "users": [{ "name": "$RABBITMQ_USER", "password": "$RABBITMQ_PASSWORD", "tags": "administrator" }],
  "permissions": [{ "user": "$RABBITMQ_USER", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*" }]
}
JSON
if [ "$(id -u)" = 0 ] && id rabbitmq >/dev/null 2>&1; then chown rabbitmq:rabbitmq "$out/20-users.json"; fi
echo "definitions written to $out"
