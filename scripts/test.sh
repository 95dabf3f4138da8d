#!/usr/bin/env bash
# The project's test command: installs what the live tests need (PostgreSQL server
# binaries, the postgres OS user), then runs every test target.
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh --test harness`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-test-deps.sh
exec cargo test --all-targets --locked "$@"
