#!/bin/bash
# Runs once, when the postgres image initialises an empty data directory
# (/docker-entrypoint-initdb.d): one login role and one database per service, the role
# owning its database, nobody else allowed to connect to it — no service reads another's
# database. Passwords come from the environment (the Secret in Kubernetes, compose's
# variables on a laptop). Changing them later needs ALTER ROLE (see docs/operations.md, "Kubernetes").
set -euo pipefail

create_database() {
  local name="$1" password="$2"
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v name="$name" -v password="$password" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
}

create_database orderflow_order "$ORDER_DB_PASSWORD"
create_database orderflow_inventory "$INVENTORY_DB_PASSWORD"
create_database orderflow_payment "$PAYMENT_DB_PASSWORD"
create_database orderflow_notification "$NOTIFICATION_DB_PASSWORD"
create_database orderflow_import "$IMPORT_DB_PASSWORD"
# The payment gateway simulator's ledger (apps/payment-gateway): not a service's, same isolation.
create_database orderflow_payment_gateway "$PAYMENT_GATEWAY_DB_PASSWORD"
