#!/usr/bin/env bash
# Benchmark, not a test: "recommend and probe each finish in under 10 ms wall".
#
# Builds --release, then times `pgcache-tune recommend --ram 64GB --cpus 16` and
# `pgcache-tune probe` next to `true` and `/bin/echo` (the cost of spawning any process,
# measured in the same run) and prints a markdown table of mean/min/max in ms plus a verdict
# per command. Uses hyperfine (installed from Debian's packages when missing and possible:
# `apt-get install -y hyperfine`), else a bash loop timed with `date +%s%N`.
#
# Environment: WARMUP (default 5), RUNS (default 50), GOAL_MS (default 10),
# BENCH_NO_HYPERFINE=1 forces the bash loop.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

WARMUP="${WARMUP:-5}"
RUNS="${RUNS:-50}"
GOAL_MS="${GOAL_MS:-10}"

log() { printf 'bench: %s\n' "$*" >&2; }

log "cargo build --release --locked"
cargo build --release --locked >&2
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin="$target_dir/release/pgcache-tune"
[ -x "$bin" ] || { log "error: no binary at $bin"; exit 1; }

# name|command line (words split on spaces; no quoting needed here)
candidates=(
    "true|$(type -P true)"
    "/bin/echo|/bin/echo"
    "recommend|$bin recommend --ram 64GB --cpus 16"
    "probe|$bin probe"
)
names=()
cmds=()
skipped=()
for c in "${candidates[@]}"; do
    name=${c%%|*}
    cmd=${c#*|}
    # A command that fails would make the numbers meaningless (and stops hyperfine).
    # shellcheck disable=SC2086
    if $cmd >/dev/null 2>&1; then
        names+=("$name")
        cmds+=("$cmd")
    else
        log "skipping $name: \`$cmd\` exits non-zero"
        skipped+=("$name")
    fi
done

# shellcheck source=bench/lib.sh
source bench/lib.sh   # the script runs from the repository root (cd above)

table=$(mktemp)
trap 'rm -f "$table" "$table.json"' EXIT

if have_hyperfine; then
    log "hyperfine $(hyperfine --version | awk '{print $2}'): warmup $WARMUP, runs $RUNS"
    # -N: no intermediate shell, so the baselines measure a bare process spawn.
    args=()
    for i in "${!cmds[@]}"; do
        args+=(--command-name "${names[$i]}" "${cmds[$i]}")
    done
    hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$table.json" "${args[@]}" >&2
    # The JSON is pretty-printed one key per line, times in seconds.
    {
        echo "| command | mean ms | min ms | max ms |"
        echo "|:---|---:|---:|---:|"
        awk -F': ' '
            /"command":/ { name = $2; gsub(/[",]/, "", name) }
            /"mean":/ { mean = $2 + 0 }
            /"min":/ { min = $2 + 0 }
            /"max":/ { printf "| %s | %.2f | %.2f | %.2f |\n", name, mean * 1e3, min * 1e3, ($2 + 0) * 1e3 }
        ' "$table.json"
    } > "$table"
    rm -f "$table.json"
    tool="hyperfine -N"
else
    log "timing with a bash loop (date +%s%N): warmup $WARMUP, runs $RUNS"
    {
        echo "| command | mean ms | min ms | max ms |"
        echo "|:---|---:|---:|---:|"
        for i in "${!cmds[@]}"; do
            cmd=${cmds[$i]}
            for ((w = 0; w < WARMUP; w++)); do
                # shellcheck disable=SC2086
                $cmd >/dev/null 2>&1
            done
            for ((r = 0; r < RUNS; r++)); do
                start=$(date +%s%N)
                # shellcheck disable=SC2086
                $cmd >/dev/null 2>&1
                end=$(date +%s%N)
                echo $((end - start))
            done | awk -v name="${names[$i]}" '
                { ns = $1; sum += ns; if (NR == 1 || ns < min) min = ns; if (ns > max) max = ns }
                END { printf "| %s | %.2f | %.2f | %.2f |\n", name, sum / NR / 1e6, min / 1e6, max / 1e6 }'
        done
    } > "$table"
    tool="a bash loop (date and fork overhead included: compare with the baselines)"
fi

echo "Timing with $tool, $RUNS runs after $WARMUP warm-up runs, on $(nproc) CPUs; goal: < $GOAL_MS ms mean."
echo
cat "$table"
echo
awk -F'|' -v goal="$GOAL_MS" 'NR > 2 { name = $2; gsub(/ /, "", name);
    if (name == "recommend" || name == "probe") {
        mean = $3 + 0
        printf "%s: %.2f ms mean, %s\n", name, mean, (mean < goal ? "under the goal" : "OVER the goal")
    } }' "$table"
for name in "${skipped[@]}"; do
    echo "$name: not measured (\`pgcache-tune ${name}\` exits non-zero here)"
done
