#!/usr/bin/env bash
# Benchmark, not a test: "`check` on the default database scope finishes in under 50 ms wall
# against a local server" (check_postgres's hitratio action takes about 160 ms).
#
# Builds --release, creates a throwaway cluster (socket only, in a temp dir; shared_buffers
# 16MB; a pgbench -i database so the counters are not empty), then times, interleaved:
#   - pgcache-tune check -h SOCKDIR -p PORT -U postgres bench --min-hit-ratio 0
#   - check_postgres --action hitratio (same socket, database and user), when installed
#     (Debian package check-postgres; installed with apt-get when missing and we are root)
#   - psql -X -c 'select 1' (the cost of any libpq client connecting and asking once)
# and prints a markdown table of mean/median/min/max in ms and a verdict.
#
# With hyperfine (installed from Debian's packages when missing and possible), the runs are
# split into ROUNDS rounds that each time every command, so a change in machine load
# affects all of them alike; otherwise a bash loop timed with `date +%s%N` alternates the
# commands run by run (and includes the cost of forking `date`).
#
# Environment: PGCACHE_TUNE_PG_BIN (default /usr/lib/postgresql/15/bin), WARMUP (default 5),
# RUNS (default 60, per command), ROUNDS (default 6), GOAL_MS (default 50),
# BENCH_NO_HYPERFINE=1 forces the bash loop, BENCH_NO_CHECK_POSTGRES=1 skips that comparison.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

WARMUP="${WARMUP:-5}"
RUNS="${RUNS:-60}"
ROUNDS="${ROUNDS:-6}"
GOAL_MS="${GOAL_MS:-50}"
PG_BIN="${PGCACHE_TUNE_PG_BIN:-/usr/lib/postgresql/15/bin}"

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ -x "$PG_BIN/postgres" ] || die "no PostgreSQL server binaries in $PG_BIN (set PGCACHE_TUNE_PG_BIN, or run scripts/install-test-deps.sh)"
psql_bin="$PG_BIN/psql"
[ -x "$psql_bin" ] || psql_bin=$(command -v psql) || die "no psql"

log "cargo build --release --locked"
cargo build --release --locked >&2
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin="$target_dir/release/pgcache-tune"
[ -x "$bin" ] || die "no binary at $bin"

# --- throwaway cluster -------------------------------------------------------------------
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
dir=$(mktemp -d /tmp/pgcache-bench.XXXXXX)
work=$(mktemp -d)
cleanup() {
    as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir" "$work"
}
trap cleanup EXIT
chmod 755 "$dir"
[ "$(id -u)" -eq 0 ] && chown postgres "$dir"
port=5432 # only a Unix socket in our own directory: no clash with any other server
log "initdb in $dir"
as_pg "$PG_BIN/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C --no-sync >/dev/null
as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-p $port -k $dir -c listen_addresses= -c shared_buffers=16MB" start >/dev/null
export PGHOST="$dir" PGPORT="$port" PGUSER=postgres
unset PGDATABASE PGPASSWORD PGSERVICE || true
"$psql_bin" -X -q -d postgres -c "create database bench"
if command -v pgbench >/dev/null 2>&1 || [ -x "$PG_BIN/pgbench" ]; then
    pgbench_bin="$PG_BIN/pgbench"
    [ -x "$pgbench_bin" ] || pgbench_bin=$(command -v pgbench)
    "$pgbench_bin" -i -q -s 5 bench >/dev/null 2>&1
    "$pgbench_bin" -S -T 3 bench >/dev/null 2>&1
else
    "$psql_bin" -X -q -d bench -c "create table t as select g from generate_series(1, 500000) g; select count(*) from t" >/dev/null
fi
server_version=$("$psql_bin" -X -A -t -d bench -c "show server_version")

# --- candidates ----------------------------------------------------------------------------
find_check_postgres() {
    [ -z "${BENCH_NO_CHECK_POSTGRES:-}" ] || return 1
    local c
    for c in check_postgres check_postgres.pl; do
        command -v "$c" >/dev/null 2>&1 && { command -v "$c"; return 0; }
    done
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        log "check_postgres missing: apt-get install -y check-postgres"
        if DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends check-postgres >&2 \
            || { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends check-postgres >&2; }; then
            command -v check_postgres && return 0
        fi
        log "could not install check-postgres"
    fi
    return 1
}

# name|command line (words split on spaces; no quoting needed here)
candidates=(
    "pgcache-tune check|$bin check -h $dir -p $port -U postgres bench --min-hit-ratio 0"
    "psql select 1|$psql_bin -X -q -h $dir -p $port -U postgres -d bench -c select\ 1"
)
cp_note=""
if cp_bin=$(find_check_postgres); then
    # It runs the psql on PATH (Debian's build refuses --PGBINDIR and --PSQL).
    candidates+=("check_postgres hitratio|$cp_bin --action hitratio --host $dir --port $port --dbuser postgres --dbname bench --critical 0%")
elif [ -n "${BENCH_NO_CHECK_POSTGRES:-}" ]; then
    cp_note="check_postgres: not measured (BENCH_NO_CHECK_POSTGRES is set)"
else
    cp_note="check_postgres: not measured (not installed and could not be installed here; \`apt-get install -y check-postgres\` provides it)"
fi

names=()
cmds=()
for c in "${candidates[@]}"; do
    name=${c%%|*}
    cmd=${c#*|}
    # A command that fails would make the numbers meaningless (and stops hyperfine). On
    # this fresh cluster check's verdict is UNKNOWN (exit 3: young statistics), which is
    # an answer, not a failure; hyperfine runs with -i for it.
    status=0
    # shellcheck disable=SC2086
    (cd "$work" && eval $cmd) >/dev/null 2>&1 || status=$?
    if [ "$status" -eq 0 ] || { [ "$name" = "pgcache-tune check" ] && [ "$status" -le 3 ]; }; then
        names+=("$name")
        cmds+=("$cmd")
    else
        log "skipping $name: \`$cmd\` exits non-zero"
        [ "$name" = "pgcache-tune check" ] && die "pgcache-tune check itself fails"
    fi
done

# shellcheck source=bench/lib.sh
source bench/lib.sh   # the script runs from the repository root (cd above)

# One file of wall times in ms per command, then the statistics from them.
times_dir="$work/times"
mkdir -p "$times_dir"
file_of() { printf '%s/%s' "$times_dir" "$(printf '%s' "$1" | tr -c 'A-Za-z0-9' _)"; }

if have_hyperfine; then
    per_round=$(( (RUNS + ROUNDS - 1) / ROUNDS ))
    log "hyperfine $(hyperfine --version | awk '{print $2}'): $ROUNDS rounds of $per_round runs per command, warmup $WARMUP"
    args=()
    for i in "${!cmds[@]}"; do
        args+=(--command-name "${names[$i]}" "${cmds[$i]}")
    done
    for ((round = 1; round <= ROUNDS; round++)); do
        # -N: no intermediate shell between hyperfine and the command.
        (cd "$work" && hyperfine -N -i --style none --warmup "$WARMUP" --runs "$per_round" \
            --export-json "$work/round.json" "${args[@]}") >/dev/null
        # Pretty JSON: "command" then a "times" array with one number (seconds) per line.
        awk -v dir="$times_dir" '
            /"command":/ { name = $0; sub(/.*"command": "/, "", name); sub(/",?$/, "", name)
                           gsub(/[^A-Za-z0-9]/, "_", name); file = dir "/" name }
            /"times": \[/ { in_times = 1; next }
            in_times && /\]/ { in_times = 0; next }
            in_times { v = $1; gsub(/,/, "", v); printf "%.4f\n", v * 1e3 >> file }
        ' "$work/round.json"
    done
    tool="hyperfine -N, $ROUNDS interleaved rounds"
else
    log "timing with a bash loop (date +%s%N), commands alternating run by run"
    for ((w = 0; w < WARMUP; w++)); do
        for cmd in "${cmds[@]}"; do
            # shellcheck disable=SC2086
            (cd "$work" && eval $cmd) >/dev/null 2>&1 || true
        done
    done
    for ((r = 0; r < RUNS; r++)); do
        for i in "${!cmds[@]}"; do
            start=$(date +%s%N)
            # shellcheck disable=SC2086
            (cd "$work" && eval ${cmds[$i]}) >/dev/null 2>&1 || true
            end=$(date +%s%N)
            awk -v ns=$((end - start)) 'BEGIN { printf "%.4f\n", ns / 1e6 }' >> "$(file_of "${names[$i]}")"
        done
    done
    tool="a bash loop, commands alternating (date, subshell and fork overhead included)"
fi

stats() { # file -> "n mean median min max"
    sort -g "$1" | awk '{ v[NR] = $1; sum += $1 }
        END { n = NR; med = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
              printf "%d %.2f %.2f %.2f %.2f\n", n, sum / n, med, v[1], v[n] }'
}

echo "Timing with $tool; $RUNS runs per command after $WARMUP warm-up runs; $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); PostgreSQL $server_version on a Unix socket; goal: < $GOAL_MS ms mean for pgcache-tune check."
echo
echo "| command | runs | mean ms | median ms | min ms | max ms |"
echo "|:---|---:|---:|---:|---:|---:|"
declare -A mean_of
for name in "${names[@]}"; do
    read -r n mean median min max < <(stats "$(file_of "$name")")
    mean_of[$name]=$mean
    echo "| $name | $n | $mean | $median | $min | $max |"
done
echo
m=${mean_of["pgcache-tune check"]}
awk -v m="$m" -v goal="$GOAL_MS" 'BEGIN { printf "pgcache-tune check: %.2f ms mean, %s\n", m, (m < goal ? "under the goal" : "OVER the goal") }'
if [ -n "${mean_of["check_postgres hitratio"]:-}" ]; then
    awk -v m="$m" -v c="${mean_of["check_postgres hitratio"]}" 'BEGIN { printf "check_postgres hitratio: %.2f ms mean (%.1f× the time of pgcache-tune check)\n", c, c / m }'
fi
[ -z "$cp_note" ] || echo "$cp_note"
echo
echo "Commands:"
for i in "${!cmds[@]}"; do
    echo "  ${names[$i]}: ${cmds[$i]//\\/}"
done
