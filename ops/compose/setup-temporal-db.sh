#!/bin/sh
# One-shot (temporalio/admin-tools): create Temporal's persistence and visibility databases on
# postgres-temporal and bring their schemas up to date. Runs again on every `up`: `create` and
# `setup-schema -v 0.0` (the version table) fail harmlessly when done before, and update-schema applies
# only what is missing (and fails loudly if anything is really wrong).
set -eu
# The password comes from SQL_PASSWORD in the environment.
ARGS="--plugin postgres12 --ep ${POSTGRES_SEEDS} -u ${POSTGRES_USER} -p ${DB_PORT}"
SCHEMA=/etc/temporal/schema/postgresql/v12
for db in temporal temporal_visibility; do
  temporal-sql-tool $ARGS --db "$db" create || echo "database $db exists"
  temporal-sql-tool $ARGS --db "$db" setup-schema -v 0.0 || echo "database $db has its version table"
done
temporal-sql-tool $ARGS --db temporal update-schema -d "$SCHEMA/temporal/versioned"
temporal-sql-tool $ARGS --db temporal_visibility update-schema -d "$SCHEMA/visibility/versioned"
echo 'Temporal schemas are up to date'
