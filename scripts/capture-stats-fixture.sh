#!/usr/bin/env bash
# Captures fixtures/stats/pgNN.json, the StatsSnapshot that offline tests read through
# --stats-from, from a throwaway cluster of the server binaries in BIN_DIR after a small
# generated workload (tables with and without indexes and TOAST, a database with no I/O).
# The capture is collect() itself: the test stats_fixture_matches_a_fresh_capture in
# tests/collect_live.rs, which writes the file when PGCACHE_TUNE_WRITE_FIXTURE is set.
#   usage: scripts/capture-stats-fixture.sh [BIN_DIR]
#          scripts/capture-stats-fixture.sh "$(scripts/pg-bin.sh 17)"   (writes fixtures/stats/pg17.json)
# scripts/capture-fixtures.sh does this and the pg_settings capture for every tested major.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=${1:-${PGCACHE_TUNE_PG_BIN:-/usr/lib/postgresql/15/bin}}
[ -x "$bin/postgres" ] || { echo "capture-stats-fixture: no postgres in $bin" >&2; exit 1; }
# Writing a fixture is not a test run; tests refuse to write under CI=true.
CI=false PGCACHE_TUNE_PG_BIN=$bin PGCACHE_TUNE_WRITE_FIXTURE=1 exec cargo test --test collect_live stats_fixture_matches_a_fresh_capture -- --exact --nocapture
