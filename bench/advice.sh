#!/usr/bin/env bash
# bench/advice.sh: does the advice help? Runs the same pgbench workloads against a throwaway
# PostgreSQL cluster with PostgreSQL's defaults and with `pgcache-tune recommend` for this host,
# alternating the two (A B A B ...), and reports TPS, average and p95 latency and the database
# hit ratio of every run window as a markdown table (stdout) plus a CSV and a PNG plot (--out).
#
# Every measured run starts the same way, whatever the configuration:
#   restart with the configuration -> prewarm pass -> pgbench warm-up of the same workload ->
#   wait until its backends have exited -> stats snapshot -> measured pgbench run (-n) ->
#   wait until its backends have exited -> stats snapshot.
# Backends flush their statistics when they exit (before they leave pg_stat_activity), so
# waiting for the bench database to have no client backend makes both snapshots exact: the
# window holds the measured run and nothing of the warm-up.
#
# Run `bench/advice.sh --help` for the options. Progress goes to stderr; the table to stdout.
set -euo pipefail
[ -z "${ADVICE_XTRACE:-}" ] || set -x

PROG=bench/advice.sh
log() { printf '%s %s\n' "[$(date +%H:%M:%S)]" "$*" >&2; }
die() { printf '\n%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }

usage() {
    cat <<'EOF'
Usage: bench/advice.sh [OPTIONS]

Benchmarks PostgreSQL's default settings against `pgcache-tune recommend` for this host on a
throwaway cluster (pgbench select-only and TPC-B-like), alternating the configurations.

Options:
  --scale N           pgbench scale of the main case (1 unit ~ 15 MiB). Default: sized so the
                      database is ~1/4 of the recommended shared_buffers (several times the
                      default 128MB, and it fits in the tuned cache): 100 on a 24 GiB host
  --large-scale N     Second case, larger than the recommended shared_buffers (~1.5x) yet in
                      RAM. Default: sized from RAM, skipped when it does not fit; 0 skips it
  --duration S        Seconds per measured run (default 60)
  --warmup S          Seconds of pgbench warm-up (same workload) before each run (default 10)
  --no-prewarm        Skip the prewarm pass (an index-order read of the pgbench tables) so the
                      pgbench warm-up alone warms the caches
  --clients N         pgbench clients (default 2 x CPUs, at least 8, at most 64)
  --repeats N         Runs per configuration, alternated A B A B ... (default 3)
  --workloads LIST    Comma-separated: select-only,tpcb (default both)
  --protocol P        pgbench -M: simple, extended or prepared (default simple)
  --recommend-arg A   Extra argument for `pgcache-tune recommend` (repeatable), e.g.
                      --recommend-arg=--profile --recommend-arg=oltp
  --set NAME=VALUE    Override one setting of the recommended configuration (repeatable),
                      to attribute a difference to it, e.g. --set wal_compression=off
  --out DIR           Raw logs, runs.csv, table.md, advice.png (default bench/results)
  --keep-txn-logs     Keep pgbench's per-transaction logs (gzipped) under DIR/logs/txn
  --pg-bin DIR        Server binaries (default $PGCACHE_TUNE_PG_BIN or
                      /usr/lib/postgresql/15/bin)
  --dry-run           Print the plan and the time estimate, then exit
  -h, --help          This text

Environment: CARGO_TARGET_DIR (where the release binary is built), PGCACHE_TUNE_BIN (use this
pgcache-tune binary instead of building one), TMPDIR (where the cluster lives).
EOF
}

# ---------------------------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------------------------
SCALE=""
LARGE_SCALE=""
DURATION=60
WARMUP=10
PREWARM=1
CLIENTS=""
REPEATS=3
WORKLOADS="select-only,tpcb"
PROTOCOL=simple
RECOMMEND_ARGS=()
OVERRIDES=()
OUT=""
KEEP_TXN_LOGS=0
PG_BIN="${PGCACHE_TUNE_PG_BIN:-/usr/lib/postgresql/15/bin}"
DRY_RUN=0
ORIG_ARGS=("$@")

need_value() { if [ $# -lt 2 ] || [ -z "$2" ]; then die "$1 needs a value"; fi; }
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

while [ $# -gt 0 ]; do
    arg=$1
    case $arg in
        --*=*) set -- "${arg%%=*}" "${arg#*=}" "${@:2}"; continue ;;
    esac
    case $arg in
        --scale) need_value "$@"; SCALE=$2; shift 2 ;;
        --large-scale) need_value "$@"; LARGE_SCALE=$2; shift 2 ;;
        --duration) need_value "$@"; DURATION=$2; shift 2 ;;
        --warmup) need_value "$@"; WARMUP=$2; shift 2 ;;
        --no-prewarm) PREWARM=0; shift ;;
        --clients) need_value "$@"; CLIENTS=$2; shift 2 ;;
        --repeats) need_value "$@"; REPEATS=$2; shift 2 ;;
        --workloads) need_value "$@"; WORKLOADS=$2; shift 2 ;;
        --protocol) need_value "$@"; PROTOCOL=$2; shift 2 ;;
        --recommend-arg) need_value "$@"; RECOMMEND_ARGS+=("$2"); shift 2 ;;
        --set) need_value "$@"; OVERRIDES+=("$2"); shift 2 ;;
        --out) need_value "$@"; OUT=$2; shift 2 ;;
        --keep-txn-logs) KEEP_TXN_LOGS=1; shift ;;
        --pg-bin) need_value "$@"; PG_BIN=$2; shift 2 ;;
        --dry-run) DRY_RUN=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $arg" ;;
    esac
done

[ -z "$SCALE" ] || { is_uint "$SCALE" && [ "$SCALE" -ge 1 ]; } || die "--scale must be a positive integer, not '$SCALE'"
[ -z "$LARGE_SCALE" ] || is_uint "$LARGE_SCALE" || die "--large-scale must be an integer (0 skips), not '$LARGE_SCALE'"
{ is_uint "$DURATION" && [ "$DURATION" -ge 1 ]; } || die "--duration must be a positive number of seconds, not '$DURATION'"
is_uint "$WARMUP" || die "--warmup must be a number of seconds, not '$WARMUP'"
{ is_uint "$REPEATS" && [ "$REPEATS" -ge 1 ]; } || die "--repeats must be a positive integer, not '$REPEATS'"
[ -z "$CLIENTS" ] || { is_uint "$CLIENTS" && [ "$CLIENTS" -ge 1 ]; } || die "--clients must be a positive integer, not '$CLIENTS'"
case $PROTOCOL in simple|extended|prepared) ;; *) die "--protocol must be simple, extended or prepared" ;; esac
WORKLOAD_LIST=()
IFS=',' read -r -a _wl <<<"$WORKLOADS"
for w in "${_wl[@]}"; do
    case $w in
        select-only|tpcb) WORKLOAD_LIST+=("$w") ;;
        "") ;;
        *) die "unknown workload '$w' (select-only, tpcb)" ;;
    esac
done
[ ${#WORKLOAD_LIST[@]} -gt 0 ] || die "--workloads names no workload"

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$(realpath -m "${OUT:-$REPO/bench/results}")

# ---------------------------------------------------------------------------------------------
# Host and tools
# ---------------------------------------------------------------------------------------------
[ -x "$PG_BIN/postgres" ] || die "no PostgreSQL server binaries in $PG_BIN (scripts/install-test-deps.sh installs them, or pass --pg-bin)"
for b in initdb pg_ctl pgbench psql; do
    [ -x "$PG_BIN/$b" ] || die "$PG_BIN/$b is missing (pgbench and psql ship with the server package)"
done
PG_VERSION_TEXT=$("$PG_BIN/postgres" --version)
PG_MAJOR=$(sed -E 's/.*\(PostgreSQL\) *([0-9]+).*/\1/' <<<"$PG_VERSION_TEXT")
is_uint "$PG_MAJOR" || die "cannot read the major version from '$PG_VERSION_TEXT'"

CPUS=$(nproc)
MEM_TOTAL_KB=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
MEM_AVAIL_KB=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
CPU_MODEL=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
CPU_MODEL=${CPU_MODEL:-unknown CPU}
# shellcheck disable=SC1091
OS_NAME=$( (. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-}") || true)
KERNEL=$(uname -r)
HUGEPAGES_TOTAL=$(awk '/^HugePages_Total:/ {print $2}' /proc/meminfo)

if [ -z "$CLIENTS" ]; then
    CLIENTS=$((2 * CPUS))
    [ "$CLIENTS" -ge 8 ] || CLIENTS=8
    [ "$CLIENTS" -le 64 ] || CLIENTS=64
fi
# The default configuration has max_connections = 100, 3 of them reserved for superusers, and
# the script keeps one session of its own.
[ "$CLIENTS" -le 90 ] || die "--clients $CLIENTS exceeds what the default max_connections (100) serves; use at most 90"
THREADS=$((CPUS < CLIENTS ? CPUS : CLIENTS))

IS_ROOT=0
[ "$(id -u)" -eq 0 ] && IS_ROOT=1
if [ $IS_ROOT -eq 1 ]; then
    getent passwd postgres >/dev/null || die "running as root, so the server must run as OS user 'postgres', which does not exist (scripts/install-test-deps.sh creates it)"
fi

# The pgcache-tune binary: built here unless PGCACHE_TUNE_BIN names one.
if [ -n "${PGCACHE_TUNE_BIN:-}" ]; then
    TUNE_BIN=$PGCACHE_TUNE_BIN
    [ -x "$TUNE_BIN" ] || die "PGCACHE_TUNE_BIN=$TUNE_BIN is not executable"
else
    command -v cargo >/dev/null || die "cargo not found: install Rust, or set PGCACHE_TUNE_BIN to a pgcache-tune binary"
    log "building the release binary (cargo build --release --locked)"
    (cd "$REPO" && cargo build --release --locked --quiet --bin pgcache-tune) >&2 \
        || die "cargo build --release failed"
    TUNE_BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/pgcache-tune"
    case $TUNE_BIN in /*) ;; *) TUNE_BIN="$REPO/$TUNE_BIN" ;; esac
    [ -x "$TUNE_BIN" ] || die "built, but $TUNE_BIN is missing (a target-dir in .cargo/config? set PGCACHE_TUNE_BIN)"
fi

# The advice under test: this host, probed, for the local server's major version.
RECOMMEND_CMD=("$TUNE_BIN" recommend --pg-version "$PG_MAJOR" "${RECOMMEND_ARGS[@]}")
SNIPPET=$("${RECOMMEND_CMD[@]}" --format conf) || die "pgcache-tune recommend failed: ${RECOMMEND_CMD[*]}"
REC_JSON=$("${RECOMMEND_CMD[@]}" --format json) || die "pgcache-tune recommend --format json failed"
# "bytes" of the shared_buffers entry in the JSON (pretty-printed, one field a line).
REC_SB_BYTES=$(awk '
    /"name": *"shared_buffers"/ { inside = 1 }
    inside && /"bytes":/ { gsub(/[^0-9]/, ""); print; exit }
    inside && /^ *}/ { inside = 0 }' <<<"$REC_JSON")
is_uint "${REC_SB_BYTES:-}" || die "cannot read the recommended shared_buffers from pgcache-tune's JSON"
# --set NAME=VALUE: the snippet's line for NAME goes, the override is appended, so every line
# of the include stays applied (pg_file_settings marks an overridden earlier line unapplied).
OVERRIDE_DESC=""
for o in "${OVERRIDES[@]}"; do
    [[ $o =~ ^([a-z_][a-z0-9_.]*)[[:space:]]*=[[:space:]]*(.+)$ ]] || die "--set wants NAME=VALUE, not '$o'"
    name=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
    SNIPPET=$(awk -v n="$name" '$0 !~ "^" n "[ \t]*="' <<<"$SNIPPET")
    SNIPPET+=$'\n'"$name = $value  # override: bench/advice.sh --set"
    OVERRIDE_DESC+="${OVERRIDE_DESC:+, }$name=$value"
done
REC_SETTINGS=$(grep -cE '^[a-z_]+ *=' <<<"$SNIPPET" || true)
REC_MAX_CONN=$(sed -nE 's/^max_connections *= *([0-9]+).*/\1/p' <<<"$SNIPPET")

# ---------------------------------------------------------------------------------------------
# Sizing
# ---------------------------------------------------------------------------------------------
# One pgbench scale unit: 100,000 pgbench_accounts rows (~13 MiB) plus its primary key
# (~2.1 MiB); branches, tellers and history are noise.
SCALE_UNIT_BYTES=$((15 * 1024 * 1024 + 512 * 1024))
DEFAULT_SB_BYTES=$((128 * 1024 * 1024))
GIB=$((1024 * 1024 * 1024))
MEM_AVAIL_BYTES=$((MEM_AVAIL_KB * 1024))
# Left free for the OS, the clients, and the page cache's own churn.
HEADROOM_BYTES=$((2 * GIB))

round_to() { echo $(( ($1 + $2 / 2) / $2 * $2 )); }

if [ -z "$SCALE" ]; then
    # A quarter of the tuned cache: many times the default 128MB, and the tuned server can
    # hold all of it. Rounded to 10; at least 4 x the default shared_buffers.
    SCALE=$(round_to $((REC_SB_BYTES / 4 / SCALE_UNIT_BYTES)) 10)
    min_scale=$(( (4 * DEFAULT_SB_BYTES + SCALE_UNIT_BYTES - 1) / SCALE_UNIT_BYTES ))
    [ "$SCALE" -ge "$min_scale" ] || SCALE=$min_scale
fi
LARGE_NOTE=""
if [ -z "$LARGE_SCALE" ]; then
    # 1.5 x the tuned shared_buffers, provided the files (page cache) plus the tuned
    # shared_buffers plus headroom fit in the memory available now.
    LARGE_SCALE=$(round_to $((REC_SB_BYTES * 3 / 2 / SCALE_UNIT_BYTES)) 50)
    need=$((LARGE_SCALE * SCALE_UNIT_BYTES + REC_SB_BYTES + HEADROOM_BYTES))
    if [ "$need" -gt "$MEM_AVAIL_BYTES" ]; then
        LARGE_NOTE="large case skipped: scale $LARGE_SCALE needs ~$((need / 1024 / 1024)) MiB (database + recommended shared_buffers + headroom), $((MEM_AVAIL_BYTES / 1024 / 1024)) MiB available"
        LARGE_SCALE=0
    fi
fi
if [ "$LARGE_SCALE" -gt 0 ]; then
    [ "$LARGE_SCALE" -gt "$SCALE" ] || die "--large-scale ($LARGE_SCALE) must exceed --scale ($SCALE), or be 0"
    if [ $((LARGE_SCALE * SCALE_UNIT_BYTES)) -le "$REC_SB_BYTES" ]; then
        log "warning: --large-scale $LARGE_SCALE (~$((LARGE_SCALE * SCALE_UNIT_BYTES / 1024 / 1024)) MiB) fits in the recommended shared_buffers ($((REC_SB_BYTES / 1024 / 1024)) MiB); it will not show the larger-than-cache case"
    fi
    need=$((LARGE_SCALE * SCALE_UNIT_BYTES + REC_SB_BYTES + HEADROOM_BYTES))
    [ "$need" -le "$MEM_AVAIL_BYTES" ] \
        || log "warning: scale $LARGE_SCALE needs ~$((need / 1024 / 1024)) MiB to stay in RAM, $((MEM_AVAIL_BYTES / 1024 / 1024)) MiB available: it will measure the disk too"
fi
CASES=("$SCALE")
[ "$LARGE_SCALE" -gt 0 ] && CASES+=("$LARGE_SCALE")

# Time estimate, from this machine class (2 AMD EPYC cores): pgbench -i ~0.3 s per scale unit
# including keys and vacuum, plus the checkpoint after it; the prewarm pass ~4 s per GiB;
# restart, stats and latency arithmetic ~6 s per run (a fast shutdown flushes TPC-B's dirty
# buffers).
RUNS_PER_CASE=$((REPEATS * 2 * ${#WORKLOAD_LIST[@]}))
estimate_s=0
for s in "${CASES[@]}"; do
    prewarm_s=0
    [ $PREWARM -eq 1 ] && prewarm_s=$((s * SCALE_UNIT_BYTES * 4 / GIB + 1))
    estimate_s=$((estimate_s + s / 3 + 15 + RUNS_PER_CASE * (DURATION + WARMUP + prewarm_s + 6)))
done

MEM_GIB=$(awk -v k="$MEM_TOTAL_KB" 'BEGIN {printf "%.1f", k / 1048576}')
HOST_DESC="$CPU_MODEL, $CPUS CPUs, $MEM_GIB GiB RAM, ${OS_NAME:-Linux} (kernel $KERNEL)"
PG_DESC="PostgreSQL ${PG_VERSION_TEXT#*(PostgreSQL) }"

plan() {
    log "host: $HOST_DESC"
    log "server: $PG_DESC in $PG_BIN"
    log "advice: ${RECOMMEND_CMD[*]##*/} -> $REC_SETTINGS settings, shared_buffers $((REC_SB_BYTES / 1024 / 1024)) MiB, max_connections ${REC_MAX_CONN:-?}${OVERRIDE_DESC:+; overrides: $OVERRIDE_DESC}"
    for s in "${CASES[@]}"; do
        log "case: scale $s (~$((s * SCALE_UNIT_BYTES / 1024 / 1024)) MiB: $((s * SCALE_UNIT_BYTES / DEFAULT_SB_BYTES))x the default shared_buffers, $(awk -v a=$((s * SCALE_UNIT_BYTES)) -v b="$REC_SB_BYTES" 'BEGIN {printf "%.2f", a / b}')x the recommended)"
    done
    [ -z "$LARGE_NOTE" ] || log "$LARGE_NOTE"
    log "workloads: ${WORKLOAD_LIST[*]}; $CLIENTS clients, $THREADS threads, -M $PROTOCOL; ${DURATION}s runs after a ${WARMUP}s warm-up$([ $PREWARM -eq 1 ] && echo ' and a prewarm pass'); $REPEATS repeat(s) alternating default/recommended"
    log "runs: $((RUNS_PER_CASE * ${#CASES[@]})); estimated time: ~$(( (estimate_s + 59) / 60 )) min"
    log "output: $OUT"
}
plan
[ $DRY_RUN -eq 0 ] || exit 0

# ---------------------------------------------------------------------------------------------
# Throwaway cluster
# ---------------------------------------------------------------------------------------------
# As root, the cluster's temp dir must be reachable by `postgres`: TMPDIR may be private.
tmp_parent=${TMPDIR:-/tmp}
if [ $IS_ROOT -eq 1 ] && ! runuser -u postgres -- test -x "$tmp_parent"; then
    tmp_parent=/tmp
fi
BASE=$(mktemp -d "$tmp_parent/pgcache-advice.XXXXXX")
[[ $BASE =~ ^[A-Za-z0-9_./-]+$ ]] || { rm -rf "$BASE"; die "temp dir $BASE has characters pg_ctl cannot pass; set TMPDIR to a plain path"; }
DATA=$BASE/data
SOCK=$BASE/sock
TXN=$BASE/txn
SERVER_LOG=$BASE/server.log
INCLUDE_NAME=pgcache-tune.conf
SERVER_RUNNING=0
mkdir -p "$SOCK" "$TXN"
touch "$SERVER_LOG"
[ $IS_ROOT -eq 0 ] || chown -R postgres: "$BASE"
chmod 700 "$BASE"

LOGS=$OUT/logs
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [ $SERVER_RUNNING -eq 1 ]; then
        log "stopping the throwaway cluster"
        pg pg_ctl -D "$DATA" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    if [ -d "$LOGS" ] && [ -s "$SERVER_LOG" ]; then
        cp "$SERVER_LOG" "$LOGS/server.log" 2>/dev/null || true
    fi
    rm -rf "$BASE"
    exit "$status"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

# Unset libpq and server variables from the caller: nothing leaks into the cluster.
while read -r v; do unset "$v"; done < <(compgen -e | grep '^PG' || true)
export LC_ALL=C

# A server binary, as `postgres` when we are root, from inside the temp dir (the server user
# may not be allowed into our cwd). Callers that redirect stderr wrap the call in a subshell,
# `(pg ...) 2>file`: a redirection on a function call holds in this shell while it runs, and
# an interrupt trap firing then would log into that file.
pg() {
    local prog=$1
    shift
    if [ $IS_ROOT -eq 1 ]; then
        (cd "$BASE" && runuser -u postgres -- "$PG_BIN/$prog" "$@")
    else
        (cd "$BASE" && "$PG_BIN/$prog" "$@")
    fi
}

# A free port for the socket name (.s.PGSQL.PORT): the server listens on no TCP address.
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=""
for _ in $(seq 50); do
    p=$((20000 + RANDOM % 40000))
    port_taken "$p" || { PORT=$p; break; }
done
[ -n "$PORT" ] || die "no free port found"

# psql against the cluster: unaligned, tuples only, stop on the first error.
q() {
    local db=$1
    shift
    pg psql -X -q -A -t -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres -d "$db" "$@"
}

mkdir -p "$OUT"
rm -rf "$LOGS"
rm -f "$OUT"/runs.csv "$OUT"/table.md "$OUT"/advice.png "$OUT"/plot.gp "$OUT"/plot-*.dat "$OUT"/recommended.conf "$OUT"/machine.txt
mkdir -p "$LOGS"
printf '%s\n' "$SNIPPET" >"$OUT/recommended.conf"

log "initdb in $DATA (port $PORT)"
(pg initdb -D "$DATA" -A trust -E UTF8 --locale=C -U postgres --no-sync) >"$LOGS/initdb.log" 2>&1 \
    || { cat "$LOGS/initdb.log" >&2; die "initdb failed"; }
# initdb's postgresql.conf is the "default" configuration (it sets max_connections = 100 and
# shared_buffers = 128MB explicitly). The include comes last so the advice overrides them.
cat >>"$DATA/postgresql.conf" <<EOF

# --- bench/advice.sh: harness settings, the same for both configurations ---
listen_addresses = ''
unix_socket_directories = '$SOCK'
port = $PORT
# --- the configuration under test: empty for "default", the snippet for "recommended" ---
include_if_exists = '$INCLUDE_NAME'
EOF

CURRENT_CONFIG=""
# Writes the include file for a configuration (default: empty; recommended: the snippet).
write_config() {
    local f=$DATA/$INCLUDE_NAME
    case $1 in
        default) : >"$f" ;;
        recommended) printf '%s\n' "$SNIPPET" >"$f" ;;
        *) die "unknown configuration $1" ;;
    esac
    [ $IS_ROOT -eq 0 ] || chown postgres: "$f"
}

# Starts the server. A start that fails with a server message is fatal at once: with the
# recommended configuration it is a finding about the advice. A start that fails before the
# postmaster wrote a single line (seen once on a loaded shared machine; no config involved) is
# retried once, loudly.
start_server() {
    local extra=${1:-} log_lines out=$BASE/pg_ctl.out attempt new
    for attempt in 1 2; do
        log_lines=$(wc -l <"$SERVER_LOG")
        if (pg pg_ctl -D "$DATA" -l "$SERVER_LOG" -w -t 300 ${extra:+-o "$extra"} start) >"$out" 2>&1; then
            SERVER_RUNNING=1
            return 0
        fi
        new=$(tail -n "+$((log_lines + 1))" "$SERVER_LOG")
        printf '\n----- pg_ctl start (%s configuration, attempt %d) -----\n' "$CURRENT_CONFIG" "$attempt" >&2
        cat "$out" >&2
        printf -- '----- server log of this start attempt -----\n%s\n' "${new:-(nothing: the postmaster wrote no line)}" >&2
        if [ -n "$new" ]; then
            if [ "$CURRENT_CONFIG" = recommended ]; then
                die "PostgreSQL does not start with the recommended settings on this host (see above; the snippet is $OUT/recommended.conf). This is a finding about the advice, not a harness problem."
            fi
            die "PostgreSQL does not start with the $CURRENT_CONFIG configuration (see above)"
        fi
        [ "$attempt" -eq 2 ] || { log "WARNING: the server did not start and logged nothing; retrying once in 2 s"; sleep 2; }
    done
    die "PostgreSQL did not start with the $CURRENT_CONFIG configuration, twice, without a server message (see above)"
}

stop_server() {
    (pg pg_ctl -D "$DATA" -m fast -w -t 600 stop) >/dev/null 2>&1 || die "pg_ctl stop failed (see $SERVER_LOG)"
    SERVER_RUNNING=0
}

# Restarts the server with a configuration and proves the include took effect: every setting
# of the snippet must be applied, none in error (pg_file_settings).
restart_with() {
    local config=$1
    [ $SERVER_RUNNING -eq 0 ] || stop_server
    CURRENT_CONFIG=$config
    write_config "$config"
    start_server
    local bad applied
    bad=$(q postgres -c "SELECT name || ' = ' || coalesce(setting, '') || ': ' || coalesce(error, 'not applied')
                          FROM pg_file_settings
                          WHERE sourcefile LIKE '%/$INCLUDE_NAME' AND (error IS NOT NULL OR NOT applied)")
    [ -z "$bad" ] || die "the $config configuration is not fully applied after a restart:
$bad"
    applied=$(q postgres -c "SELECT count(*) FROM pg_file_settings WHERE sourcefile LIKE '%/$INCLUDE_NAME'")
    local want=0
    [ "$config" = default ] || want=$REC_SETTINGS
    [ "$applied" -eq "$want" ] || die "$config: expected $want settings from $INCLUDE_NAME, the server read $applied"
}

# Waits until no client backend is connected to the database, so every backend of the last
# pgbench has exited and, in doing so, flushed its statistics (PostgreSQL 15+ flushes pending
# stats in a shutdown hook that runs before the backend leaves pg_stat_activity). Before 15,
# a backend sends its last counts to the statistics collector, which publishes them up to
# 500 ms later: wait a little longer there.
wait_idle() {
    local db=$1 n
    for _ in $(seq 300); do
        n=$(q postgres -c "SELECT count(*) FROM pg_stat_activity WHERE datname = '$db' AND backend_type = 'client backend'")
        if [ "$n" -eq 0 ]; then
            [ "$PG_MAJOR" -ge 15 ] || sleep 1.5
            return 0
        fi
        sleep 0.1
    done
    die "backends of database $db did not exit within 30 s"
}

# Cluster-wide counters that explain a write workload: checkpoints, buffers that backends had to
# write out themselves to free a buffer (a small shared_buffers shows here), and WAL volume
# (wal_compression shows here). Their homes moved between majors.
CHECKPOINT_SQL="(SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter)"
[ "$PG_MAJOR" -lt 17 ] || CHECKPOINT_SQL="(SELECT num_timed + num_requested FROM pg_stat_checkpointer)"
BACKEND_WRITES_SQL="(SELECT buffers_backend FROM pg_stat_bgwriter)"
[ "$PG_MAJOR" -lt 16 ] || BACKEND_WRITES_SQL="(SELECT coalesce(sum(writes), 0) FROM pg_stat_io WHERE backend_type = 'client backend')"
WAL_BYTES_SQL="(SELECT wal_bytes FROM pg_stat_wal)"
[ "$PG_MAJOR" -ge 14 ] || WAL_BYTES_SQL="0"
# blks_hit blks_read checkpoints backend_writes wal_bytes, for the database (from a session on
# another database, so the sampling itself reads nothing in it).
snapshot() {
    q postgres -F ' ' -c "SELECT blks_hit, blks_read, $CHECKPOINT_SQL, $BACKEND_WRITES_SQL, $WAL_BYTES_SQL
                          FROM pg_stat_database WHERE datname = '$1'"
}

prewarm() {
    # An index scan reads every leaf page and, in key order, every heap page through
    # shared_buffers (a sequential scan of a table larger than shared_buffers/4 would go
    # through a small ring instead). Identical for both configurations: the default one
    # simply cycles its 128MB through it.
    q "$1" >/dev/null <<'SQL'
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SET enable_indexonlyscan = off;
SET max_parallel_workers_per_gather = 0;
SELECT sum(abalance) FROM pgbench_accounts WHERE aid > 0;
SELECT sum(tbalance) FROM pgbench_tellers WHERE tid > 0;
SELECT sum(bbalance) FROM pgbench_branches WHERE bid > 0;
SQL
}

workload_flags() {
    case $1 in
        select-only) echo "-S" ;;
        tpcb) echo "-b tpcb-like" ;;
    esac
}

CSV=$OUT/runs.csv
echo "run,started_at,scale,db_mib,workload,config,repeat,clients,threads,duration_s,tps,transactions,latency_avg_ms,latency_p95_ms,blks_hit,blks_read,hit_ratio,checkpoints,backend_writes,wal_mib,load_avg_1m" >"$CSV"
RUN_NO=0
TOTAL_RUNS=$((RUNS_PER_CASE * ${#CASES[@]}))

# One measured run: restart, prewarm, warm-up, snapshot, pgbench, snapshot; one CSV line.
measure() {
    local scale=$1 db=$2 db_mib=$3 workload=$4 config=$5 rep=$6
    local tag="s${scale}-${workload}-${config}-r${rep}" flags started
    RUN_NO=$((RUN_NO + 1))
    flags=$(workload_flags "$workload")
    log "run $RUN_NO/$TOTAL_RUNS: scale $scale, $workload, $config (repeat $rep)"
    restart_with "$config"
    [ $PREWARM -eq 0 ] || prewarm "$db"
    # The warm-up runs without -n: pgbench vacuums branches and tellers and truncates history
    # first, so each measured run starts from the same table state.
    if [ "$WARMUP" -gt 0 ]; then
        # shellcheck disable=SC2086
        (pg pgbench $flags -M "$PROTOCOL" -c "$CLIENTS" -j "$THREADS" -T "$WARMUP" \
            -h "$SOCK" -p "$PORT" -U postgres "$db") >"$LOGS/$tag.warmup.txt" 2>&1 \
            || { tail -n 20 "$LOGS/$tag.warmup.txt" >&2; die "pgbench warm-up failed ($tag)"; }
    elif [ "$workload" = tpcb ]; then
        q "$db" -c "VACUUM pgbench_branches" -c "VACUUM pgbench_tellers" -c "TRUNCATE pgbench_history" >/dev/null
    fi
    wait_idle "$db"
    local before after
    before=$(snapshot "$db")
    started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    rm -f "$TXN"/*
    # shellcheck disable=SC2086
    (pg pgbench -n $flags -M "$PROTOCOL" -c "$CLIENTS" -j "$THREADS" -T "$DURATION" \
        --log --log-prefix="$TXN/txn" -h "$SOCK" -p "$PORT" -U postgres "$db") >"$LOGS/$tag.pgbench.txt" 2>&1 \
        || { tail -n 20 "$LOGS/$tag.pgbench.txt" >&2; die "pgbench failed ($tag)"; }
    wait_idle "$db"
    after=$(snapshot "$db")
    local load
    load=$(cut -d' ' -f1 /proc/loadavg)

    local tps txns
    tps=$(sed -nE 's/^tps = ([0-9.]+) .*/\1/p' "$LOGS/$tag.pgbench.txt" | tail -n 1)
    txns=$(sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' "$LOGS/$tag.pgbench.txt")
    if [ -z "$tps" ] || [ -z "$txns" ]; then die "cannot read tps from $LOGS/$tag.pgbench.txt"; fi

    # Latency: the third column of the per-transaction logs (one file per pgbench thread),
    # in microseconds. Exact mean and nearest-rank p95.
    local lat sorted=$BASE/latency.sorted
    awk '{print $3}' "$TXN"/txn.* | sort -n -S 256M >"$sorted"
    lat=$(awk -v want="$txns" '
        { v[NR] = $1; sum += $1 }
        END {
            if (NR == 0) { print "no transactions logged"; exit 1 }
            if (NR != want) { printf "logged %d transactions, pgbench counted %d\n", NR, want; exit 1 }
            k = int(NR * 0.95); if (k < NR * 0.95) k++
            printf "%.3f %.3f\n", sum / NR / 1000, v[k] / 1000
        }' "$sorted") || die "latency from the per-transaction log ($tag): $lat"
    rm -f "$sorted"
    if [ $KEEP_TXN_LOGS -eq 1 ]; then
        mkdir -p "$LOGS/txn"
        for f in "$TXN"/txn.*; do gzip -c "$f" >"$LOGS/txn/$tag.${f##*/txn.}.gz"; done
    fi
    rm -f "$TXN"/*

    local row
    row=$(awk -v b="$before" -v a="$after" 'BEGIN {
            split(b, x, " "); split(a, y, " ")
            hit = y[1] - x[1]; read = y[2] - x[2]; cp = y[3] - x[3]; bw = y[4] - x[4]; wal = (y[5] - x[5]) / 1048576
            ratio = (hit + read > 0) ? sprintf("%.6f", hit / (hit + read)) : ""
            printf "%d,%d,%s,%d,%d,%.1f", hit, read, ratio, cp, bw, wal
        }')
    local lat_avg=${lat% *} lat_p95=${lat#* }
    echo "$RUN_NO,$started,$scale,$db_mib,$workload,$config,$rep,$CLIENTS,$THREADS,$DURATION,$tps,$txns,$lat_avg,$lat_p95,$row,$load" >>"$CSV"
    log "    tps $tps, latency avg $lat_avg ms, p95 $lat_p95 ms, hit ratio $(cut -d, -f3 <<<"$row") (hit,read,ratio,checkpoints,backend_writes,wal_mib = $row)"
}

# ---------------------------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------------------------
[ "${HUGEPAGES_TOTAL:-0}" -gt 0 ] \
    || log "note: no huge pages reserved (HugePages_Total = 0): huge_pages = try falls back to normal pages"

# Fail fast: the advice must start on this host before we spend time loading data.
log "checking that the recommended settings start"
restart_with recommended
REC_SB_SERVER=$(q postgres -c "SELECT pg_size_pretty(setting::bigint * 8192) FROM pg_settings WHERE name = 'shared_buffers'")
REC_MC_SERVER=$(q postgres -c "SHOW max_connections")
log "    ok: shared_buffers $REC_SB_SERVER, max_connections $REC_MC_SERVER, all $REC_SETTINGS settings applied"
stop_server

for scale in "${CASES[@]}"; do
    db="bench_s$scale"
    CURRENT_CONFIG=default
    write_config default
    # Loading is not measured: a roomy WAL avoids checkpoints in the middle of it.
    start_server "-c max_wal_size=16GB -c checkpoint_timeout=1h"
    log "creating $db: pgbench -i -s $scale (estimated ~$((scale / 3 + 15)) s)"
    q postgres -c "CREATE DATABASE $db" >/dev/null
    t0=$(date +%s)
    (pg pgbench -i -s "$scale" -I dtgvp -q -h "$SOCK" -p "$PORT" -U postgres "$db") >"$LOGS/init-s$scale.log" 2>&1 \
        || { tail -n 20 "$LOGS/init-s$scale.log" >&2; die "pgbench -i failed"; }
    q postgres -c "CHECKPOINT" >/dev/null
    db_bytes=$(q postgres -c "SELECT pg_database_size('$db')")
    db_mib=$((db_bytes / 1024 / 1024))
    log "    loaded in $(($(date +%s) - t0)) s: $db_mib MiB"
    stop_server

    for rep in $(seq "$REPEATS"); do
        for config in default recommended; do
            for workload in "${WORKLOAD_LIST[@]}"; do
                measure "$scale" "$db" "$db_mib" "$workload" "$config" "$rep"
            done
        done
    done

    # Free the disk and the page cache for the next case.
    [ $SERVER_RUNNING -eq 1 ] || start_server
    q postgres -c "DROP DATABASE $db" >/dev/null
    stop_server
done

# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
MACHINE="$HOST_DESC; $PG_DESC"
COMMAND_LINE=$PROG
for a in "${ORIG_ARGS[@]}"; do COMMAND_LINE+=" $(printf '%q' "$a")"; done
END_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
{
    echo "machine: $MACHINE"
    echo "command: $COMMAND_LINE"
    echo "advice: ${RECOMMEND_CMD[*]##*/}${OVERRIDE_DESC:+ with overrides $OVERRIDE_DESC} (snippet: recommended.conf)"
    echo "finished: $(date -u +%Y-%m-%dT%H:%M:%SZ), load average at the end: $END_LOAD"
} >"$OUT/machine.txt"

# Median and min-max per (scale, workload, config): cases and workloads in the order they ran,
# default before recommended.
SUMMARY=$(awk -F, '
    function sortv(a, n,    i, j, t) { for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t } }
    function median(a, n) { return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
    NR == 1 { next }
    {
        pair = $3 SUBSEP $5
        if (!(pair in seen)) { seen[pair] = 1; pairs[++npairs] = pair }
        key = pair SUBSEP $6
        mib[key] = $4
        i = ++n[key]
        tps[key, i] = $11; lavg[key, i] = $13; lp95[key, i] = $14; hr[key, i] = ($17 == "" ? -1 : $17)
    }
    END {
        split("default recommended", configs, " ")
        for (k = 1; k <= npairs * 2; k++) {
            key = pairs[int((k + 1) / 2)] SUBSEP configs[2 - k % 2]
            if (!(key in n)) continue
            m = n[key]; split(key, f, SUBSEP)
            line = f[1] "," mib[key] "," f[2] "," f[3] "," m
            split("", t); split("", u); split("", v); split("", w)
            for (i = 1; i <= m; i++) { t[i] = tps[key, i] + 0; u[i] = lavg[key, i] + 0; v[i] = lp95[key, i] + 0; w[i] = hr[key, i] + 0 }
            sortv(t, m); sortv(u, m); sortv(v, m); sortv(w, m)
            line = line "," median(t, m) "," t[1] "," t[m]
            line = line "," median(u, m) "," u[1] "," u[m]
            line = line "," median(v, m) "," v[1] "," v[m]
            line = line "," median(w, m) "," w[1] "," w[m]
            print line
        }
    }' "$CSV")
# SUMMARY columns: scale,db_mib,workload,config,runs,tps(med,min,max),lat_avg(...),lat_p95(...),hit(...)

# Free text goes through the environment: awk -v would interpret backslashes in it.
TABLE=$(T_MACHINE=$MACHINE T_CMD=$COMMAND_LINE T_OVR=$OVERRIDE_DESC awk -F, -v clients="$CLIENTS" \
        -v dur="$DURATION" -v reps="$REPEATS" -v warm="$WARMUP" -v prewarm="$PREWARM" -v sb="$((REC_SB_BYTES / 1024 / 1024))" '
    function gib(m) { return (m >= 1024) ? sprintf("%.1f GiB", m / 1024) : sprintf("%d MiB", m) }
    function num(x, d) { return sprintf("%." d "f", x) }
    function cell(med, lo, hi, d) { return (lo == hi) ? num(med, d) : num(med, d) " (" num(lo, d) "–" num(hi, d) ")" }
    function pct(x) { return (x < 0) ? "n/a" : sprintf("%.2f%%", 100 * x) }
    function hcell(med, lo, hi) { return (lo == hi) ? pct(med) : pct(med) " (" pct(lo) "–" pct(hi) ")" }
    function delta(a, b) { return (b > 0) ? sprintf("%+.1f%%", 100 * (a - b) / b) : "n/a" }
    BEGIN {
        cmd = ENVIRON["T_CMD"]; machine = ENVIRON["T_MACHINE"]; ovr = ENVIRON["T_OVR"]
        printf "Command: `%s`  \nMachine: %s.  \n", cmd, machine
        printf "pgbench: %d clients, %d s per run after a %d s warm-up%s; %d run(s) per configuration, alternating default/recommended. ", clients, dur, warm, (prewarm ? " and a prewarm pass" : ""), reps
        printf "Cells: median (min–max). Recommended shared_buffers: %s; default: 128 MiB.", gib(sb)
        if (ovr != "") printf " The recommended configuration was run with overrides: %s.", ovr
        printf "\n\n"
        print "| scale (db size) | workload | config | runs | tps | tps vs default | latency_avg_ms | latency_p95_ms | hit_ratio |"
        print "|---|---|---|--:|--:|--:|--:|--:|--:|"
    }
    {
        key = $1 SUBSEP $3
        if ($4 == "default") base[key] = $6
        vs = ($4 == "default") ? "" : delta($6, base[key])
        printf "| %s (%s) | %s | %s | %d | %s | %s | %s | %s | %s |\n", $1, gib($2), $3, $4, $5,
            cell($6, $7, $8, 0), vs, cell($9, $10, $11, 3), cell($12, $13, $14, 3), hcell($15, $16, $17)
    }' <<<"$SUMMARY")
printf '%s\n' "$TABLE" >"$OUT/table.md"

# ---------------------------------------------------------------------------------------------
# Plot: TPS and hit ratio per configuration (rows), one column per workload, a bar pair per case
# ---------------------------------------------------------------------------------------------
ensure_gnuplot() {
    command -v gnuplot >/dev/null && return 0
    if [ $IS_ROOT -eq 1 ] && command -v apt-get >/dev/null; then
        log "gnuplot is missing: apt-get install -y gnuplot-nox"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnuplot-nox) >"$LOGS/apt-gnuplot.log" 2>&1 \
            || { log "warning: could not install gnuplot-nox (see $LOGS/apt-gnuplot.log)"; return 1; }
        command -v gnuplot >/dev/null
    else
        return 1
    fi
}

PLOT=""
if ensure_gnuplot; then
    term="pngcairo noenhanced size 1400,900 font 'DejaVu Sans,11'"
    gnuplot -e "set terminal pngcairo" -e "set output '/dev/null'" >/dev/null 2>&1 || term="png noenhanced size 1400,900"
    gp=$OUT/plot.gp
    {
        echo "set terminal $term"
        echo "set output '$OUT/advice.png'"
        echo "set datafile separator ','"
        echo "set style fill solid 0.8 border -1"
        echo "set boxwidth 0.34"
        echo "set grid ytics lc rgb '#dddddd'"
        echo "set key below horizontal reverse Left"
        echo "set offsets 0.6, 0.6, 0, 0"
        echo "set xtics nomirror"
        echo "set ytics nomirror"
        echo "set errorbars 2"
        title="pgcache-tune: PostgreSQL defaults vs recommended — $CPU_MODEL, $CPUS CPUs, $MEM_GIB GiB RAM, ${PG_DESC%% (*}"
        # The \n is gnuplot's: a line break inside its double-quoted title.
        # shellcheck disable=SC2028
        echo "set multiplot layout 2,${#WORKLOAD_LIST[@]} title \"${title//\"/}\\n$CLIENTS clients, ${DURATION} s runs, $REPEATS per configuration; bars: median, whiskers: min–max\" font ',13'"
        for metric in tps hit; do
            for w in "${WORKLOAD_LIST[@]}"; do
                dat=$OUT/plot-$w.dat
                # label, then med/min/max of tps and hit ratio (%) for default, then recommended
                awk -F, -v w="$w" '
                    function gib(m) { return (m >= 1024) ? sprintf("%.1f GiB", m / 1024) : sprintf("%d MiB", m) }
                    $3 != w { next }
                    $4 == "default" { d[$1] = $6 "," $7 "," $8 "," 100 * $15 "," 100 * $16 "," 100 * $17; lab[$1] = "scale " $1 " (" gib($2) ")"; if (!($1 in seen)) { seen[$1] = 1; ord[++k] = $1 } }
                    $4 == "recommended" { r[$1] = $6 "," $7 "," $8 "," 100 * $15 "," 100 * $16 "," 100 * $17 }
                    END { for (i = 1; i <= k; i++) { s = ord[i]; print "\"" lab[s] "\"," d[s] "," r[s] } }' <<<"$SUMMARY" >"$dat"
                if [ $metric = tps ]; then
                    cols=(2 3 4 8 9 10); fmt='%.0f'; ylabel='transactions per second'
                    echo "set yrange [0:*]"
                    echo "set title '$w: throughput (TPS)'"
                else
                    cols=(5 6 7 11 12 13); fmt='%.2f%%'; ylabel='shared_buffers hit ratio (%)'
                    echo "set yrange [0:109]"
                    echo "set title '$w: hit ratio over the run window'"
                fi
                echo "set ylabel '$ylabel'"
                echo "plot '$dat' using (\$0-0.18):${cols[0]}:${cols[1]}:${cols[2]}:(0.34):xtic(1) with boxerrorbars lc rgb '#9e9e9e' title 'default', \\"
                echo "     '' using (\$0+0.18):${cols[3]}:${cols[4]}:${cols[5]}:(0.34) with boxerrorbars lc rgb '#1f77b4' title 'recommended', \\"
                echo "     '' using (\$0-0.18):${cols[2]}:(sprintf('$fmt', \$${cols[0]})) with labels offset 0,0.8 font ',10' notitle, \\"
                echo "     '' using (\$0+0.18):${cols[5]}:(sprintf('$fmt', \$${cols[3]})) with labels offset 0,0.8 font ',10' notitle"
            done
        done
        echo "unset multiplot"
    } >"$gp"
    if gnuplot "$gp" 2>"$LOGS/gnuplot.log"; then
        PLOT=$OUT/advice.png
    else
        log "warning: gnuplot failed (see $LOGS/gnuplot.log); no plot"
    fi
else
    log "warning: no gnuplot (and not root to install gnuplot-nox): writing the table only"
fi

log "done: $CSV, $OUT/table.md${PLOT:+, $PLOT}"
printf '%s\n' "$TABLE"
