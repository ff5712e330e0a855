#!/bin/sh
# Synapse's own database, created once when the postgres volume is first initialised
# (the image runs /docker-entrypoint-initdb.d/* only then). Synapse refuses a database
# whose collation is not C; template0 lets us choose it. The password comes from the
# environment (SYNAPSE_POSTGRES_PASSWORD, see deploy/README.md), never from this file.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v pw="$SYNAPSE_POSTGRES_PASSWORD" <<'SQL'
CREATE ROLE synapse LOGIN PASSWORD :'pw';
CREATE DATABASE synapse OWNER synapse ENCODING 'UTF8'
  LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
SQL
