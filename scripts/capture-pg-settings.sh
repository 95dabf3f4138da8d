#!/usr/bin/env bash
# Captures name, unit, type, min, max and enum values of every setting from a throwaway
# cluster of the server binaries in BIN_DIR, as JSON on stdout. The property tests read the
# result (fixtures/pg-settings/pgNN.json) to check that every recommended value lies inside
# the server's bounds without starting a server.
#   usage: scripts/capture-pg-settings.sh [BIN_DIR] > fixtures/pg-settings/pgNN.json
#          scripts/capture-pg-settings.sh "$(scripts/pg-bin.sh 17)" > fixtures/pg-settings/pg17.json
set -euo pipefail
bin=${1:-${PGCACHE_TUNE_PG_BIN:-/usr/lib/postgresql/15/bin}}
[ -x "$bin/postgres" ] || { echo "capture-pg-settings: no postgres in $bin" >&2; exit 1; }
dir=$(mktemp -d)
trap 'as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
chmod 755 "$dir"
[ "$(id -u)" = 0 ] && chown postgres "$dir"
as_pg "$bin/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
as_pg "$bin/pg_ctl" -D "$dir/data" -w -o "-k $dir -c listen_addresses=''" -l "$dir/log" start >/dev/null
# The npm server builds (scripts/pg-bin.sh) ship no psql: use the one on PATH then.
psql=$bin/psql
[ -x "$psql" ] || psql=$(command -v psql) || { echo "capture-pg-settings: no psql in $bin or on PATH" >&2; exit 1; }
as_pg "$psql" -X -A -t -h "$dir" -U postgres -d postgres -c "
  select json_build_object(
    'server_version_num', current_setting('server_version_num')::int,
    'settings', json_agg(json_build_object(
      'name', name, 'setting', setting, 'unit', unit, 'vartype', vartype, 'context', context,
      'min_val', min_val, 'max_val', max_val, 'enumvals', enumvals) order by name))
  from pg_settings" | python3 -m json.tool --indent 1
