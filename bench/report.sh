#!/usr/bin/env bash
# Benchmark, not a test: "On a database with 20,000 tables (each with a primary key and a few
# rows), `report` must finish in at most 0.3x the wall time of `psql` running the
# straightforward query set for the same facts (issue 12 tightened the old 0.5), measured side
# by side in one run. Peak memory under 64 MiB. Cost grows linearly with the number of
# tables." The time is judged on CPU time of client and server (below) and wall time is shown
# beside it: on a shared machine the wall time also holds other processes' load.
#
# Builds --release, makes a throwaway cluster (initdb in a temp dir, socket in it, a free
# loopback port; the server runs as `postgres` through runuser when we are root), creates
# TABLES/4, then TABLES/2, then TABLES tables in one database (each `(id int primary key,
# v text)` with 3 rows, every one read once so the statistics views have counts), and at
# each size alternates RUNS times (after one warm-up each, A B A B ...):
#   A: psql -X -f <the straightforward queries> > /dev/null (the four of the statistics views
#      and settings, plus one each for report's newer sections: pg_buffercache per relation,
#      materialized views with sizes, pg_stat_statements)
#   B: pgcache-tune report --format json > /dev/null
# It prints a markdown table of medians with the min-max spread: CPU time of client and
# server together (the client's from bash's time, the server's from a cgroup of its own as
# root, else from the postmaster's reaped-children times), wall time, the ratios B/A of both, peak RSS (GNU time's %M), the
# load average before and after, and a verdict per goal. The time verdict is on CPU time:
# on a shared machine wall time also counts the waits for a CPU that other processes cause.
#
# Then the queries case: STATEMENTS (default 5000) distinct statements in pg_stat_statements,
# `queries --format json` against psql reading the whole view with its texts.
#
# Environment: TABLES (default 20000), RUNS (default 5), STATEMENTS (default 5000),
# ONLY=queries (only the queries case, on just enough tables for STATEMENTS pairs), PG_BIN
# (default /usr/lib/postgresql/15/bin), KEEP=1 keeps the cluster's temp dir, BIN=path
# measures that pgcache-tune binary instead of building one.
# Needs GNU time (/usr/bin/time; `apt-get install -y time` is tried when missing, as root).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ONLY="${ONLY:-}"
STATEMENTS="${STATEMENTS:-5000}"
# ONLY=queries needs only enough tables for STATEMENTS distinct pairs.
if [ "$ONLY" = queries ]; then
    TABLES="${TABLES:-$(awk -v s="$STATEMENTS" 'BEGIN { n = 2; while (n * (n - 1) < s) n++; print n }')}"
else
    TABLES="${TABLES:-20000}"
fi
RUNS="${RUNS:-5}"
case "$ONLY" in "" | queries) ;; *) echo "bench: error: ONLY=$ONLY: only ONLY=queries is known" >&2; exit 64 ;; esac
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
GOAL_RATIO="0.3"
GOAL_RSS_KB=$((64 * 1024))

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=bench/lib.sh
source bench/lib.sh # the script runs from the repository root (cd above)

[ -x "$PG_BIN/postgres" ] || die "no PostgreSQL server binaries in $PG_BIN (set PG_BIN)"
PSQL="$PG_BIN/psql"
[ -x "$PSQL" ] || PSQL=$(type -P psql) || die "no psql"

if [ ! -x /usr/bin/time ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        log "GNU time missing: apt-get install -y time"
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends time >&2 \
            || { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends time >&2; }
    fi
    [ -x /usr/bin/time ] || die "GNU time (/usr/bin/time) is needed for peak memory"
fi

if [ -n "${BIN:-}" ]; then
    # A binary built elsewhere, e.g. of another commit to compare with.
    bin="$BIN"
else
    log "cargo build --release --locked"
    cargo build --release --locked >&2
    target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
    bin="$target_dir/release/pgcache-tune"
fi
[ -x "$bin" ] || die "no binary at $bin"

# --- a throwaway cluster -------------------------------------------------------------------
as_server=()
if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || die "running as root needs an OS user 'postgres' to run the server"
    as_server=(runuser -u postgres --)
fi
base=$(mktemp -d /tmp/pgct-bench.XXXXXX)
chmod 755 "$base"
[ "${#as_server[@]}" -eq 0 ] || chown postgres: "$base"
data="$base/data"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() {
    "${as_server[@]}" "$PG_BIN/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
    [ -z "${cgroup:-}" ] || rmdir "$cgroup" 2>/dev/null || true
    if [ -z "${KEEP:-}" ]; then rm -rf "$base"; else log "kept $base"; fi
}
trap cleanup EXIT

log "initdb in $base"
"${as_server[@]}" "$PG_BIN/initdb" -D "$data" -A trust -E UTF8 --locale=C -U postgres --no-sync >/dev/null
cat >>"$data/postgresql.conf" <<EOF
# Building 20,000 tables is not what is measured: make it quick.
fsync = off
synchronous_commit = off
full_page_writes = off
# Nothing should read the tables behind the benchmark's back.
autovacuum = off
# report reads pg_stat_statements too; the queries case below fills it.
shared_preload_libraries = 'pg_stat_statements'
EOF
"${as_server[@]}" "$PG_BIN/pg_ctl" -D "$data" -l "$base/server.log" -w \
    -o "-p $port -k $base -c listen_addresses=127.0.0.1" start >/dev/null
for v in $(env | sed -n 's/^\(PG[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
conn=(-h "$base" -p "$port" -U postgres)
sql() { "$PSQL" -X -q -v ON_ERROR_STOP=1 "${conn[@]}" -d "$1" -c "$2" >/dev/null; }
sql postgres "create database bench"
sql bench "create extension pg_stat_statements"
# report's buffers section reads pg_buffercache where it exists: make it exist.
sql bench "create extension pg_buffercache"
# The postmaster's own helpers (checkpointer, writers, launchers): what `settle` waits for.
sleep 1
helpers=$(pgrep -c -P "$(head -n 1 "$data/postmaster.pid")")

# Tables FROM..TO with a primary key and 3 rows, then every one read in full and by key;
# both loops commit every 500 tables (one transaction would run out of lock slots).
make_tables() {
    sql bench "do \$\$ begin
        for i in $1..$2 loop
            execute format('create table t%s (id int primary key, v text)', i);
            execute format('insert into t%s select g, md5(g::text) from generate_series(1, 3) g', i);
            if i % 500 = 0 then commit; end if;
        end loop;
    end \$\$"
    sql bench "do \$\$ declare n int; begin
        for i in $1..$2 loop
            execute format('select count(*) from t%s', i) into n;
            execute format('select count(*) from t%s where id = 2', i) into n;
            if i % 500 = 0 then commit; end if;
        end loop;
    end \$\$"
}

queries="$base/straightforward.sql"
cat >"$queries" <<'EOF'
select datname, blks_hit, blks_read, pg_database_size(datid) from pg_stat_database;
select relid, schemaname, relname, heap_blks_read, heap_blks_hit, idx_blks_read, idx_blks_hit,
       toast_blks_read, toast_blks_hit, tidx_blks_read, tidx_blks_hit, pg_table_size(relid)
  from pg_statio_user_tables;
select indexrelid, schemaname, relname, indexrelname, idx_blks_read, idx_blks_hit,
       pg_relation_size(indexrelid)
  from pg_statio_user_indexes;
select * from pg_settings;
select c.oid, c.relname, count(*) from pg_buffercache b
  join pg_class c on c.relfilenode = b.relfilenode
 where b.reldatabase = (select oid from pg_database where datname = current_database())
 group by c.oid, c.relname;
select schemaname, matviewname, pg_relation_size(format('%I.%I', schemaname, matviewname))
  from pg_matviews;
select * from pg_stat_statements;
EOF

# CPU time (ms) the server has used so far. As root the postmaster goes into a cgroup of its
# own, which every backend it forks from then on joins: the group's CPU counter (ns in v1's
# cpuacct.usage, µs in v2's cpu.stat) covers the backends and the postmaster's own work for
# each connection (the fork, the reaping), exactly; the helpers started before (checkpointer,
# walwriter; autovacuum is off) stay outside. Otherwise the postmaster's reaped-children times
# (cutime + cstime, fields 16 and 17 of /proc/PID/stat), which count in clock ticks of 10 ms:
# too coarse for one run of a few tens of ms, so the output says which was used.
postmaster_pid() { head -n 1 "$data/postmaster.pid"; }
ticks=$(getconf CLK_TCK)
cgroup=$(cpu_cgroup_create "pgct-bench-$$")
if [ -n "$cgroup" ] && echo "$(postmaster_pid)" >"$cgroup/cgroup.procs" 2>/dev/null; then
    server_cpu_source="the server's cgroup (exact)"
else
    [ -z "$cgroup" ] || rmdir "$cgroup" 2>/dev/null || true
    cgroup=""
    server_cpu_source="the postmaster's reaped-children times (10 ms ticks: coarse per run)"
fi
server_cpu_ms() {
    if [ -n "$cgroup" ]; then
        printf '%.0f' "$(cpu_cgroup_ms "$cgroup")"
    else
        sed 's/.*) //' "/proc/$(postmaster_pid)/stat" | awk -v hz="$ticks" '{ printf "%.0f", ($14 + $15) * 1000 / hz }'
    fi
}
# Waits until the postmaster has reaped every backend but its own helpers: the CPU of the
# run just finished is counted only then.
settle() {
    local i
    for i in $(seq 50); do
        [ "$(pgrep -c -P "$(postmaster_pid)")" -le "$helpers" ] && return 0
        sleep 0.02
    done
}
# Runs a command with stdout to /dev/null; prints "wall_ms peak_rss_kb client_cpu_ms
# server_cpu_ms": the client's user+system CPU from bash's `time` around the command alone
# (exact to the ms, and none of a wrapper's own cost: GNU time around it adds 1-2 ms of its
# own, and its %U %S count in 10 ms steps), the server's from server_cpu_ms, and the peak
# RSS from a second, untimed run of the same command under GNU time (%M). CPU of client and
# server together is the work a run costs whatever else the machine is doing; wall time
# also holds the waits for a CPU that the other processes cause.
measure() {
    local tm="$base/time" t0 t1 s0 s1
    settle
    s0=$(server_cpu_ms)
    t0=$(date +%s%N)
    {
        TIMEFORMAT='%3U %3S'
        time "$@" >/dev/null 2>"$base/stderr" || die "failed: $* ($(head -c 300 "$base/stderr"))"
    } 2>"$tm"
    t1=$(date +%s%N)
    settle
    s1=$(server_cpu_ms)
    /usr/bin/time -f '%M' -o "$base/rss" "$@" >/dev/null 2>&1 || die "failed: $*"
    settle
    echo "$(((t1 - t0) / 1000000)) $(tail -n 1 "$base/rss") $(awk '{ printf "%.0f", ($1 + $2) * 1000 }' "$tm") $((s1 - s0))"
}
# "min–max" of the numbers on stdin: the spread of the runs behind a median.
spread() { sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s–%s", lo, hi }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
run_psql() { measure "$PSQL" -X -q -v ON_ERROR_STOP=1 "${conn[@]}" -d bench -f "$queries"; }
run_report() { measure "$bin" report "${conn[@]}" -d bench --format json; }

load() { cut -d' ' -f1-3 /proc/loadavg; }
load_before=$(load)
sizes=("$((TABLES / 4))" "$((TABLES / 2))" "$TABLES")
made=0
rows=()
declare -A report_ms
if [ "$ONLY" != queries ]; then
for n in "${sizes[@]}"; do
    log "creating tables $((made + 1))..$n"
    t0=$(date +%s)
    make_tables "$((made + 1))" "$n"
    made=$n
    log "  took $(($(date +%s) - t0)) s; checkpoint, then $RUNS interleaved runs each"
    sql postgres "checkpoint"
    run_psql >/dev/null
    run_report >/dev/null
    p_ms=() r_ms=() r_rss=() p_rss=() p_cpu=() r_cpu=() p_tot=() r_tot=()
    for _ in $(seq "$RUNS"); do
        out=$(run_psql)
        read -r ms kb cpu srv <<<"$out"
        p_ms+=("$ms") p_rss+=("$kb") p_cpu+=("$cpu") p_tot+=("$((cpu + srv))")
        out=$(run_report)
        read -r ms kb cpu srv <<<"$out"
        r_ms+=("$ms") r_rss+=("$kb") r_cpu+=("$cpu") r_tot+=("$((cpu + srv))")
    done
    pm=$(printf '%s\n' "${p_ms[@]}" | median)
    rm_=$(printf '%s\n' "${r_ms[@]}" | median)
    rk=$(printf '%s\n' "${r_rss[@]}" | sort -n | tail -n 1)
    pk=$(printf '%s\n' "${p_rss[@]}" | sort -n | tail -n 1)
    report_ms[$n]=$rm_
    ratio=$(awk -v r="$rm_" -v p="$pm" 'BEGIN { printf "%.2f", r / p }')
    pt=$(printf '%s\n' "${p_tot[@]}" | median)
    rt=$(printf '%s\n' "${r_tot[@]}" | median)
    cpu_ratio=$(awk -v r="$rt" -v p="$pt" 'BEGIN { printf "%.2f", r / p }')
    log "  psql ${p_ms[*]} ms (client cpu ${p_cpu[*]}; all cpu ${p_tot[*]}); report ${r_ms[*]} ms (client cpu ${r_cpu[*]}; all cpu ${r_tot[*]})"
    per=$(awk -v r="$rm_" -v n="$n" 'BEGIN { printf "%.0f", r * 1000 / n }')
    rows+=("| $n | $pt ($(printf '%s\n' "${p_tot[@]}" | spread)) | $rt ($(printf '%s\n' "${r_tot[@]}" | spread)) | **$cpu_ratio** | $pm ($(printf '%s\n' "${p_ms[@]}" | spread)) | $rm_ ($(printf '%s\n' "${r_ms[@]}" | spread)) | $ratio | $per | $(printf '%s\n' "${p_cpu[@]}" | median) | $(printf '%s\n' "${r_cpu[@]}" | median) | $(awk -v k="$rk" 'BEGIN { printf "%.1f", k / 1024 }') | $(awk -v k="$pk" 'BEGIN { printf "%.1f", k / 1024 }') |")
    last_ratio=$ratio last_rss=$rk last_cpu_ratio=$cpu_ratio
done
# Where the time goes at the full size: each query once under psql's \timing, the queries of
# the straightforward set and the size-free counter queries that report sends instead (its
# own SQL files, comments left out).
labels=(
    "pg_stat_database + pg_database_size"
    "pg_statio_user_tables + pg_table_size"
    "pg_statio_user_indexes + pg_relation_size"
    "pg_settings"
    "pg_buffercache per relation"
    "pg_matviews + pg_relation_size"
    "pg_stat_statements, all columns"
    "table counters, no sizes (report's tables.sql)"
    "index counters, no sizes (report's indexes.sql)"
)
timed="$base/timed.sql"
{
    printf '%s\n' '\timing on' '\o /dev/null'
    cat "$queries"
    for f in tables indexes; do
        grep -v '^ *--' "src/sql/$f.sql"
        echo ';'
    done
} >"$timed"
mapfile -t query_ms < <("$PSQL" -X -q -v ON_ERROR_STOP=1 "${conn[@]}" -d bench -f "$timed" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
[ "${#query_ms[@]}" -eq "${#labels[@]}" ] || die "expected ${#labels[@]} timings, got ${#query_ms[@]}"
else
    log "ONLY=queries: creating tables 1..$TABLES for the statements"
    make_tables 1 "$TABLES"
fi

# The queries case: STATEMENTS distinct statements in pg_stat_statements (joins of two of
# the tables in every order, one call each), then `queries --format json` against psql
# reading the whole view with its texts, the straightforward way.
pairs=$(awk -v n="$TABLES" -v want="$STATEMENTS" 'BEGIN {
    k = 0
    for (a = 1; a <= n && k < want; a++)
        for (b = 1; b <= n && k < want; b++)
            if (a != b) { printf "select 1 from t%d, t%d;\n", a, b; k++ }
}')
log "filling pg_stat_statements with $STATEMENTS statements"
printf '%s\n' "$pairs" >"$base/statements.sql"
"$PSQL" -X -q -v ON_ERROR_STOP=1 "${conn[@]}" -d bench -f "$base/statements.sql" >/dev/null
entries=$("$PSQL" -X -q -At "${conn[@]}" -d bench -c "select count(*) from pg_stat_statements")
pgss_sql="$base/pgss.sql"
echo 'select * from pg_stat_statements;' >"$pgss_sql"
run_pgss_psql() { measure "$PSQL" -X -q -v ON_ERROR_STOP=1 "${conn[@]}" -d bench -f "$pgss_sql"; }
run_queries() { measure "$bin" queries "${conn[@]}" -d bench --format json; }
run_pgss_psql >/dev/null
run_queries >/dev/null
qp_ms=() qq_ms=() qq_rss=() qp_cpu=() qq_cpu=() qp_tot=() qq_tot=()
for _ in $(seq "$RUNS"); do
    read -r ms _kb cpu srv <<<"$(run_pgss_psql)"
    qp_ms+=("$ms") qp_cpu+=("$cpu") qp_tot+=("$((cpu + srv))")
    read -r ms kb cpu srv <<<"$(run_queries)"
    qq_ms+=("$ms") qq_rss+=("$kb") qq_cpu+=("$cpu") qq_tot+=("$((cpu + srv))")
done
log "  psql ${qp_ms[*]} ms (client cpu ${qp_cpu[*]}; all cpu ${qp_tot[*]}); queries ${qq_ms[*]} ms (client cpu ${qq_cpu[*]}; all cpu ${qq_tot[*]})"
qpm=$(printf '%s\n' "${qp_ms[@]}" | median)
qqm=$(printf '%s\n' "${qq_ms[@]}" | median)
qqk=$(printf '%s\n' "${qq_rss[@]}" | sort -n | tail -n 1)
load_after=$(load)

if [ "$ONLY" != queries ]; then
echo "pgcache-tune report vs psql, $RUNS interleaved runs each (medians), PostgreSQL $("$PG_BIN/postgres" --version | sed 's/.*) //'), $(nproc) CPUs"
echo "load average before: $load_before; after: $load_after; server CPU from $server_cpu_source, client CPU from bash's time"
echo
echo "| tables | psql -f CPU (ms, min–max) | report CPU (ms, min–max) | CPU report / psql | psql -f wall (ms, min–max) | report wall (ms, min–max) | wall report / psql | report wall ms per 1,000 tables | psql client CPU (ms) | report client CPU (ms) | report peak RSS (MiB) | psql peak RSS (MiB) |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
echo
q=${sizes[0]} h=${sizes[1]}
growth=$(awk -v a="${report_ms[$q]}" -v b="${report_ms[$TABLES]}" 'BEGIN { printf "%.2f", b / a }')
half=$(awk -v a="${report_ms[$h]}" -v b="${report_ms[$TABLES]}" 'BEGIN { printf "%.2f", b / a }')
verdict() { if [ "$1" = 1 ]; then echo "met"; else echo "MISSED"; fi; }
echo "- time: report / psql at $TABLES tables = $last_cpu_ratio in CPU time, client and server (goal ≤ $GOAL_RATIO): $(verdict "$(awk -v r="$last_cpu_ratio" -v g="$GOAL_RATIO" 'BEGIN { print (r <= g) }')"); in wall time $last_ratio: $(verdict "$(awk -v r="$last_ratio" -v g="$GOAL_RATIO" 'BEGIN { print (r <= g) }')")"
echo "- memory: report peak RSS $(awk -v k="$last_rss" 'BEGIN { printf "%.1f", k / 1024 }') MiB (goal < 64 MiB): $(verdict "$((last_rss < GOAL_RSS_KB))")"
echo "- growth: ${q} → ${TABLES} tables (×4) costs ×$growth, ${h} → ${TABLES} (×2) ×$half (linear means at most ×4 and ×2, less with fixed costs; 10% allowed for noise): $(verdict "$(awk -v g="$growth" -v h="$half" 'BEGIN { print (g <= 4.4 && h <= 2.2) }')")"
echo
else
echo "queries case only (ONLY=queries), $RUNS interleaved runs each (medians), PostgreSQL $("$PG_BIN/postgres" --version | sed 's/.*) //'), $(nproc) CPUs; load average before: $load_before; after: $load_after; server CPU from $server_cpu_source, client CPU from bash's time"
echo
fi
qpt=$(printf '%s\n' "${qp_tot[@]}" | median)
qqt=$(printf '%s\n' "${qq_tot[@]}" | median)
echo "queries over $entries pg_stat_statements entries: psql 'select * from pg_stat_statements' CPU $qpt ms (client and server, median; $(printf '%s\n' "${qp_tot[@]}" | spread)), wall $qpm ms ($(printf '%s\n' "${qp_ms[@]}" | spread); client CPU $(printf '%s\n' "${qp_cpu[@]}" | median) ms); \`queries --format json\` CPU $qqt ms ($(printf '%s\n' "${qq_tot[@]}" | spread)), wall $qqm ms ($(printf '%s\n' "${qq_ms[@]}" | spread); client CPU $(printf '%s\n' "${qq_cpu[@]}" | median) ms); CPU ratio **$(awk -v r="$qqt" -v p="$qpt" 'BEGIN { printf "%.2f", r / p }')**, wall ratio $(awk -v r="$qqm" -v p="$qpm" 'BEGIN { printf "%.2f", r / p }'), peak RSS $(awk -v k="$qqk" 'BEGIN { printf "%.1f", k / 1024 }') MiB"
echo
[ "$ONLY" = queries ] && exit 0
printf 'One run of each query at %s tables (psql \\timing: server time plus transfer):\n' "$TABLES"
echo
echo "| query | ms |"
echo "|---|---:|"
for i in "${!labels[@]}"; do
    printf '| %s | %.0f |\n' "${labels[$i]}" "${query_ms[$i]}"
done
