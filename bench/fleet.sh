#!/usr/bin/env bash
# Benchmark, not a test: "`check` over 16 targets takes at most 2x the wall time of one
# target, with peak memory under 64 MiB" (issue 14).
#
# Builds --release, creates CLUSTERS throwaway clusters (socket only, in temp dirs) with
# DBS_PER_CLUSTER databases each, then for N = 1, 4 and 16 targets (databases spread
# round-robin over the clusters) times, side by side in the same run and interleaved:
#   - fleet:      pgcache-tune check --targets INVENTORY(N) --only-connected ...   (one process)
#   - sequential: N runs of pgcache-tune check -h SOCK -p PORT -d DB --only-connected ...
#   - floor:      N psql -X -c 'select 1' to the same databases, all at once (what N
#                 connections cost the servers and the machine, whatever the client)
# each RUNS times, and prints a markdown table of median wall time, CPU time (user + sys,
# children included) and peak RSS per N, with the verdict for the goal. Wall and CPU time
# come from bash's `time`, peak RSS from GNU time's %M; for the sequential loop, %M is the
# largest single process, which is what "peak" means for it. As root it also prints the
# servers' CPU for each fleet run (from a cgroup holding the clusters) and the floor that
# puts on the wall time: the fleet's client and server CPU divided by the machine's CPUs.
#
# Environment: PGCACHE_TUNE_PG_BIN (default /usr/lib/postgresql/15/bin), CLUSTERS (default 4),
# DBS_PER_CLUSTER (default 4), RUNS (default 7), GOAL_RATIO (default 2), GOAL_RSS_MIB
# (default 64), FLEET_JOBS (--jobs for the fleet runs; default: the tool's own, min(8, N)).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CLUSTERS="${CLUSTERS:-4}"
DBS_PER_CLUSTER="${DBS_PER_CLUSTER:-4}"
RUNS="${RUNS:-7}"
GOAL_RATIO="${GOAL_RATIO:-2}"
GOAL_RSS_MIB="${GOAL_RSS_MIB:-64}"
PG_BIN="${PGCACHE_TUNE_PG_BIN:-/usr/lib/postgresql/15/bin}"

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=bench/lib.sh
source bench/lib.sh # the script runs from the repository root (cd above)

[ -x "$PG_BIN/postgres" ] || die "no PostgreSQL server binaries in $PG_BIN (set PGCACHE_TUNE_PG_BIN, or run scripts/install-test-deps.sh)"
[ -x /usr/bin/time ] || die "/usr/bin/time (GNU time) is needed: apt-get install time"
psql_bin="$PG_BIN/psql"
[ -x "$psql_bin" ] || psql_bin=$(command -v psql) || die "no psql"
total=$((CLUSTERS * DBS_PER_CLUSTER))
[ "$total" -ge 16 ] || die "CLUSTERS x DBS_PER_CLUSTER must give at least 16 databases"

log "cargo build --release --locked"
cargo build --release --locked >&2
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin="$target_dir/release/pgcache-tune"
[ -x "$bin" ] || die "no binary at $bin"

# --- throwaway clusters ------------------------------------------------------------------
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
work=$(mktemp -d)
dirs=()
cleanup() {
    for d in "${dirs[@]}"; do
        as_pg "$PG_BIN/pg_ctl" -D "$d/data" -m immediate -w stop >/dev/null 2>&1 || true
        rm -rf "$d"
    done
    rm -rf "$work"
    [ -z "${cgroup:-}" ] || rmdir "$cgroup" 2>/dev/null || true
}
trap cleanup EXIT
port=5432 # Unix sockets in our own directories only: no clash with any other server
for c in $(seq 1 "$CLUSTERS"); do
    d=$(mktemp -d /tmp/pgcache-fleet-bench.XXXXXX)
    dirs+=("$d")
    chmod 755 "$d"
    [ "$(id -u)" -eq 0 ] && chown postgres "$d"
    log "cluster $c: initdb in $d"
    as_pg "$PG_BIN/initdb" -D "$d/data" -A trust -U postgres -E UTF8 --locale=C --no-sync >/dev/null
    as_pg "$PG_BIN/pg_ctl" -D "$d/data" -l "$d/log" -w \
        -o "-p $port -k $d -c listen_addresses= -c shared_buffers=16MB" start >/dev/null
    for i in $(seq 1 "$DBS_PER_CLUSTER"); do
        "$psql_bin" -X -q -h "$d" -p "$port" -U postgres -d postgres -c "create database bench_$i" >/dev/null
    done
done
unset PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE || true

# The servers' CPU, exactly, as root: every postmaster goes into one cgroup of its own, which
# the backends they fork from then on join, and the group's counter (ns in v1's
# cpuacct.usage, µs in v2's cpu.stat) is read around each run once the backends are reaped.
# Without root the column says "-".
postmasters=()
for d in "${dirs[@]}"; do postmasters+=("$(head -n 1 "$d/data/postmaster.pid")"); done
sleep 0.5 # the helpers (checkpointer, walwriter, launchers) are started
helpers=0
for pm in "${postmasters[@]}"; do helpers=$((helpers + $(pgrep -c -P "$pm"))); done
cgroup=$(cpu_cgroup_create "pgct-fleet-bench-$$")
for pm in "${postmasters[@]}"; do
    [ -z "$cgroup" ] || echo "$pm" >"$cgroup/cgroup.procs" || die "cannot move postmaster $pm into $cgroup"
done
server_cpu_ms() { if [ -n "$cgroup" ]; then cpu_cgroup_ms "$cgroup"; else echo 0; fi; }
# Waits until the postmasters have reaped every backend (only their helpers are left).
settle() {
    local i n pm
    for i in $(seq 100); do
        n=0
        for pm in "${postmasters[@]}"; do n=$((n + $(pgrep -c -P "$pm"))); done
        [ "$n" -le "$helpers" ] && return 0
        sleep 0.01
    done
}

# Target k (1-based): cluster ((k-1) % CLUSTERS), database bench_(((k-1) / CLUSTERS) + 1).
target_dir_of() { echo "${dirs[$(( ($1 - 1) % CLUSTERS ))]}"; }
target_db_of() { echo "bench_$(( ($1 - 1) / CLUSTERS + 1 ))"; }
for n in 1 4 16; do
    {
        echo "# bench/fleet.sh: $n targets"
        for k in $(seq 1 "$n"); do
            printf '[[target]]\nname = "t%d"\nconnection = "host=%s port=%d user=postgres dbname=%s"\n\n' \
                "$k" "$(target_dir_of "$k")" "$port" "$(target_db_of "$k")"
        done
    } >"$work/fleet-$n.toml"
    {
        echo 'set -u'
        for k in $(seq 1 "$n"); do
            echo "'$bin' check -h '$(target_dir_of "$k")' -p $port -U postgres -d $(target_db_of "$k") --only-connected --min-hit-ratio 0 --format json >/dev/null || true"
        done
    } >"$work/seq-$n.sh"
    # The floor: what N connections that each ask one question cost the servers and the
    # machine, all at once (psql -c 'select 1', in parallel).
    {
        echo 'set -u'
        for k in $(seq 1 "$n"); do
            echo "'$psql_bin' -X -q -h '$(target_dir_of "$k")' -p $port -U postgres -d $(target_db_of "$k") -c 'select 1' >/dev/null &"
        done
        echo 'wait'
    } >"$work/floor-$n.sh"
done
check_args=(--only-connected --min-hit-ratio 0 --format json)
fleet_args=()
[ -z "${FLEET_JOBS:-}" ] || fleet_args=(--jobs "$FLEET_JOBS")
# Sanity: every target up.
"$bin" check --targets "$work/fleet-16.toml" "${check_args[@]}" >"$work/sanity.json" || true
grep -q '"up": false' "$work/sanity.json" && die "a target is down: $(cat "$work/sanity.json")"

# --- measurements ------------------------------------------------------------------------
# One sample: "wall_s cpu_s maxrss_kb server_cpu_s" of a command. Wall and CPU (user + sys,
# children included) from bash's `time` at millisecond resolution; peak RSS from GNU time's
# %M (its own %e/%U/%S have only 10 ms resolution). GNU time's own fork is in both columns
# alike. The servers' CPU from the cgroup (0 without root).
sample() {
    local rss="$work/rss.out" t="$work/time.out" s0 s1
    settle
    s0=$(server_cpu_ms)
    {
        TIMEFORMAT='%3R %3U %3S'
        time /usr/bin/time -o "$rss" -f '%M' "$@" >/dev/null 2>&1 || true
    } 2>"$t"
    settle
    s1=$(server_cpu_ms)
    awk -v rss="$(tail -1 "$rss")" -v srv="$(awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%.3f", (b - a) / 1000 }')" \
        '{ printf "%s %.3f %s %s\n", $1, $2 + $3, rss, srv }' "$t"
}
for n in 1 4 16; do : >"$work/fleet-$n.samples"; : >"$work/seq-$n.samples"; : >"$work/floor-$n.samples"; done
log "timing: $RUNS rounds of fleet and sequential runs for N = 1, 4, 16 (interleaved)"
for r in $(seq 1 "$RUNS"); do
    for n in 1 4 16; do
        sample "$bin" check --targets "$work/fleet-$n.toml" "${check_args[@]}" "${fleet_args[@]}" >>"$work/fleet-$n.samples"
        sample bash "$work/seq-$n.sh" >>"$work/seq-$n.samples"
        sample bash "$work/floor-$n.sh" >>"$work/floor-$n.samples"
    done
done

# Median of column $2 (1-based) of file $1.
median() { cut -d' ' -f"$2" "$1" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
maxcol() { cut -d' ' -f"$2" "$1" | sort -g | tail -1; }
ms() { awk -v s="$1" 'BEGIN { printf "%.0f", s * 1000 }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

echo
echo "check over N local targets (--jobs ${FLEET_JOBS:-default}; $CLUSTERS clusters x $DBS_PER_CLUSTER databases, PostgreSQL $("$PG_BIN/postgres" --version | awk '{ print $3 }'), $RUNS runs each, medians; $(nproc) CPUs)"
echo
echo "| N | fleet wall ms | sequential wall ms | N parallel psql 'select 1' wall ms | fleet CPU ms | sequential CPU ms | fleet server CPU ms | fleet CPU floor ms | fleet peak RSS MiB | sequential peak RSS MiB |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
cpus=$(nproc)
for n in 1 4 16; do
    f="$work/fleet-$n.samples"; s="$work/seq-$n.samples"; p="$work/floor-$n.samples"
    if [ -n "$cgroup" ]; then
        srv=$(ms "$(median "$f" 4)")
        # The least wall time this machine can give the fleet run: its client's and the
        # servers' CPU spread over every CPU.
        floor=$(awk -v c="$(median "$f" 2)" -v s="$(median "$f" 4)" -v n="$cpus" 'BEGIN { printf "%.0f", (c + s) * 1000 / n }')
    else
        srv=- floor=-
    fi
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$n" \
        "$(ms "$(median "$f" 1)")" "$(ms "$(median "$s" 1)")" "$(ms "$(median "$p" 1)")" \
        "$(ms "$(median "$f" 2)")" "$(ms "$(median "$s" 2)")" "$srv" "$floor" \
        "$(mib "$(maxcol "$f" 3)")" "$(mib "$(maxcol "$s" 3)")"
done
one=$(median "$work/fleet-1.samples" 1)
sixteen=$(median "$work/fleet-16.samples" 1)
peak=$(maxcol "$work/fleet-16.samples" 3)
ratio=$(awk -v a="$sixteen" -v b="$one" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')
echo
verdict=met
awk -v r="$ratio" -v g="$GOAL_RATIO" 'BEGIN { exit !(r <= g) }' || verdict=missed
awk -v k="$peak" -v g="$GOAL_RSS_MIB" 'BEGIN { exit !(k / 1024 < g) }' || verdict=missed
echo "goal: 16 targets <= ${GOAL_RATIO}x one target (${ratio}x) and peak RSS < ${GOAL_RSS_MIB} MiB ($(mib "$peak") MiB): $verdict"
