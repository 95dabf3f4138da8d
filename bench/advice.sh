#!/usr/bin/env bash
# Defaults vs `pgcache-tune recommend` on throwaway clusters: the driver is the Rust crate in
# bench/advice/ (statistics, cgroups, huge pages); `bench/advice.sh --help` lists the options.
exec cargo run --quiet --release --manifest-path "$(dirname "${BASH_SOURCE[0]}")/advice/Cargo.toml" -- "$@"
