#!/usr/bin/env bash
# Regenerates the per-major fixtures from live servers: fixtures/pg-settings/pgNN.json
# (scripts/capture-pg-settings.sh) and fixtures/stats/pgNN.json (scripts/capture-stats-fixture.sh,
# a small generated workload read through collect()), with the binaries scripts/pg-bin.sh
# provides. Run it after bumping a pinned version in scripts/pg-bin.sh.
#   usage: scripts/capture-fixtures.sh [MAJOR...]     default: every tested major
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ $# -gt 0 ]; then
    majors=("$@")
else
    mapfile -t majors < <(scripts/pg-bin.sh --list | cut -d' ' -f1)
fi
for m in "${majors[@]}"; do
    bin=$(scripts/pg-bin.sh "$m")
    echo "capture-fixtures: PostgreSQL $m from $bin" >&2
    out=fixtures/pg-settings/pg$m.json
    scripts/capture-pg-settings.sh "$bin" > "$out.tmp"
    mv "$out.tmp" "$out"
    scripts/capture-stats-fixture.sh "$bin"
done
