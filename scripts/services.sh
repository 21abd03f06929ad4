#!/usr/bin/env bash
# Starts a throwaway PostgreSQL on loopback for the test suite and exports its DSN.
#
#   source scripts/services.sh      # then: SUANLI_TEST_POSTGRES_URL=postgresql://...
#
# Installs Debian's postgresql package only if no server binaries are present. Reuses a server
# already running on the port. Data lives in $SUANLI_PG_DIR (default /tmp/suanli-pg).
set -euo pipefail

SUANLI_PG_PORT="${SUANLI_PG_PORT:-54329}"
SUANLI_PG_DIR="${SUANLI_PG_DIR:-/tmp/suanli-pg}"

_suanli_pg_bin() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

if [ -z "$(_suanli_pg_bin)" ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    else
        echo "services.sh: PostgreSQL is not installed and this is not root" >&2
        return 1 2>/dev/null || exit 1
    fi
fi
_SUANLI_PG_BIN="$(_suanli_pg_bin)"

# run as the postgres user when we are root (the server refuses to run as root)
_suanli_as_pg() {
    if [ "$(id -u)" = 0 ]; then
        su postgres -s /bin/bash -c "$*"
    else
        bash -c "$*"
    fi
}

if ! "$_SUANLI_PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$SUANLI_PG_PORT"; then
    if [ ! -f "$SUANLI_PG_DIR/PG_VERSION" ]; then
        mkdir -p "$SUANLI_PG_DIR"
        [ "$(id -u)" = 0 ] && chown postgres: "$SUANLI_PG_DIR"
        _suanli_as_pg "'$_SUANLI_PG_BIN/initdb' -D '$SUANLI_PG_DIR' -A trust -U suanli \
            -E UTF8 --locale=C.UTF-8 >/dev/null"
    fi
    _suanli_as_pg "'$_SUANLI_PG_BIN/pg_ctl' -D '$SUANLI_PG_DIR' -l '$SUANLI_PG_DIR/server.log' \
        -w -o \"-p $SUANLI_PG_PORT -k '$SUANLI_PG_DIR' -c listen_addresses=127.0.0.1 \
        -c max_connections=300\" start >/dev/null"
fi

"$_SUANLI_PG_BIN/psql" -q -h 127.0.0.1 -p "$SUANLI_PG_PORT" -U suanli -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'suanli_test'" | grep -q 1 \
    || "$_SUANLI_PG_BIN/createdb" -h 127.0.0.1 -p "$SUANLI_PG_PORT" -U suanli suanli_test

export SUANLI_TEST_POSTGRES_URL="postgresql://suanli@127.0.0.1:${SUANLI_PG_PORT}/suanli_test"
echo "services.sh: PostgreSQL ready at $SUANLI_TEST_POSTGRES_URL" >&2
