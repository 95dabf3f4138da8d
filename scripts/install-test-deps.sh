#!/usr/bin/env bash
# Installs what the live tests need and nothing else: PostgreSQL server binaries
# (Debian's postgresql-15), the `postgres` OS user that runs them when the tests
# run as root, redis-server for the Redis live tests, xmllint (libxml2-utils)
# for the JUnit schema tests, chromium for the HTML report's browser test, tmux for the
# watch test, and promtool, python3-prometheus-client and curl for the metrics tests; with
# --npm also npm, which scripts/pg-bin.sh uses to
# fetch the other majors. Idempotent: on a machine that has everything, it only
# says so.
#
#   usage: scripts/install-test-deps.sh [--npm]
#
# Environment:
#   PGCACHE_TUNE_PG_BIN  directory holding `postgres` (default /usr/lib/postgresql/15/bin).
#                        When set, it must already hold the binaries: apt cannot put them there.
set -euo pipefail

log() { printf 'install-test-deps: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

want_npm=0
for arg in "$@"; do
    case $arg in
        --npm) want_npm=1 ;;
        *) die "unknown argument $arg (usage: scripts/install-test-deps.sh [--npm])" ;;
    esac
done

default_bin=/usr/lib/postgresql/15/bin
pg_bin="${PGCACHE_TUNE_PG_BIN:-$default_bin}"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        die "need root (or passwordless sudo) to run: $*"
    fi
}

install_postgresql() {
    command -v apt-get >/dev/null 2>&1 \
        || die "$pg_bin/postgres is missing and apt-get is not available: install PostgreSQL 15 server binaries by hand, or set PGCACHE_TUNE_PG_BIN"

    # Debian's postinst creates and starts a cluster on port 5432. Forbid service
    # starts during the install (policy-rc.d exit 101), unless a policy is already in
    # place, and stop the cluster afterwards in case something started it anyway.
    local policy=/usr/sbin/policy-rc.d our_policy=0
    if [ ! -e "$policy" ]; then
        log "writing $policy (exit 101) so the install starts no service"
        as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
        our_policy=1
    fi
    cleanup_policy() {
        if [ "$our_policy" -eq 1 ]; then
            log "removing $policy"
            as_root rm -f "$policy"
        fi
    }
    trap cleanup_policy EXIT

    log "running: apt-get update"
    if ! as_root apt-get update >&2; then
        die "apt-get update failed: cannot reach the Debian package registry (network or proxy?). Install postgresql-15 by hand or set PGCACHE_TUNE_PG_BIN."
    fi
    # An installed package whose files went missing needs --reinstall: a plain
    # install of an installed package is a no-op.
    local reinstall=()
    if dpkg-query -W -f='${Status}' postgresql-15 2>/dev/null | grep -q 'install ok installed'; then
        reinstall=(--reinstall)
    fi
    log "running: apt-get install -y --no-install-recommends ${reinstall[*]} postgresql-15"
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${reinstall[@]}" postgresql-15 >&2; then
        die "apt-get install postgresql-15 failed (package registry unreachable, or no postgresql-15 in the configured sources: it is in Debian 12 bookworm)"
    fi

    if command -v pg_lsclusters >/dev/null 2>&1; then
        # Columns: Ver Cluster Port Status Owner Data-directory Log-file
        pg_lsclusters --no-header 2>/dev/null | while read -r ver name _port status _rest; do
            if [ "$status" = online ]; then
                log "stopping Debian's auto-created cluster $ver/$name"
                as_root pg_ctlcluster "$ver" "$name" stop || log "warning: could not stop cluster $ver/$name"
            fi
        done
    fi
    cleanup_policy
    trap - EXIT

    [ -x "$pg_bin/postgres" ] || die "installed postgresql-15 but $pg_bin/postgres is still missing"
    log "installed PostgreSQL server binaries in $pg_bin"
}

if [ -x "$pg_bin/postgres" ]; then
    log "PostgreSQL server binaries present: $("$pg_bin/postgres" --version) in $pg_bin"
elif [ -n "${PGCACHE_TUNE_PG_BIN:-}" ] && [ "$pg_bin" != "$default_bin" ]; then
    die "PGCACHE_TUNE_PG_BIN=$pg_bin holds no executable postgres; point it at a server bin directory or unset it to use $default_bin"
else
    log "$pg_bin/postgres is missing: installing postgresql-15"
    install_postgresql
fi

# The server refuses to run as root, so the test harness runs it as `postgres` when
# the tests run as root. Non-root runs use the current user and need no account.
if getent passwd postgres >/dev/null 2>&1; then
    log "OS user postgres present"
elif [ "$(id -u)" -eq 0 ]; then
    log "creating OS user postgres"
    useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/bash postgres \
        || die "could not create OS user postgres"
else
    log "OS user postgres missing; not needed since the tests do not run as root"
fi

# Installs a Debian package for a missing command, or says what to do by hand.
apt_install_for() {
    local command=$1 package=$2 why=$3
    command -v apt-get >/dev/null 2>&1 \
        || die "$command is missing and apt-get is not available: install $package by hand ($why)"
    log "$command is missing: running apt-get update and apt-get install $package"
    as_root apt-get update >&2 \
        || die "apt-get update failed: cannot reach the Debian package registry"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$package" >&2 \
        || die "apt-get install $package failed"
}

# `script` (bsdutils) gives the colour and password-prompt tests a pseudo-terminal; under
# CI=true they fail without it rather than skip.
if command -v script >/dev/null 2>&1; then
    log "script present"
else
    apt_install_for script bsdutils "the terminal tests need it"
fi

# xmllint validates `check --format junit` against the JUnit schema CI servers use
# (tests/schemas/junit-jenkins.xsd, in tests/check_cli.rs).
if command -v xmllint >/dev/null 2>&1; then
    log "xmllint present"
else
    apt_install_for xmllint libxml2-utils "the JUnit schema tests need it"
fi

# tests/watch_live.rs drives `watch` in a tmux pane (send-keys, capture-pane).
if command -v tmux >/dev/null 2>&1; then
    log "tmux present"
else
    apt_install_for tmux tmux "the watch live test drives the screen through it"
fi

# Like apt_install_for, for a package whose postinst starts a system service the tests do
# not want (redis-server on 6379, prometheus on 9090): service starts are forbidden during
# the install (policy-rc.d exit 101, unless a policy is already in place) and the service is
# stopped afterwards in case something started it anyway.
apt_install_without_service() {
    local command=$1 package=$2 why=$3 service=$4
    local policy=/usr/sbin/policy-rc.d our_policy=0
    if [ ! -e "$policy" ]; then
        as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
        our_policy=1
    fi
    apt_install_for "$command" "$package" "$why"
    [ "$our_policy" -eq 0 ] || as_root rm -f "$policy"
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$service" 2>/dev/null; then
        log "stopping the $service system service Debian started"
        as_root systemctl stop "$service" || log "warning: could not stop $service"
    fi
}

# The Redis live tests (tests/redis*_live.rs) start throwaway redis-server instances on
# free ports and sockets in temp dirs.
if command -v redis-server >/dev/null 2>&1; then
    log "redis-server present: $(redis-server --version | cut -d' ' -f1-3)"
else
    apt_install_without_service redis-server redis-server \
        "the Redis live tests start throwaway servers" redis-server
fi

# tests/html_live.rs loads the HTML report from disk in headless Chromium and checks the
# DOM it built and its console.
if command -v chromium >/dev/null 2>&1; then
    log "chromium present: $(chromium --version 2>/dev/null | head -n1)"
else
    apt_install_for chromium chromium "the HTML report's browser test needs it"
fi

# The metrics tests (tests/metrics_*.rs, tests/serve_live.rs) validate with promtool
# (Debian's prometheus package), the OpenMetrics parser of python3-prometheus-client
# (importable by Debian's /usr/bin/python3), and scrape over HTTP with curl.
if command -v promtool >/dev/null 2>&1; then
    log "promtool present"
else
    apt_install_without_service promtool prometheus \
        "the metrics tests validate text format 0.0.4 with it" prometheus
fi
if /usr/bin/python3 -c 'import prometheus_client.openmetrics.parser' >/dev/null 2>&1; then
    log "python3-prometheus-client present"
else
    apt_install_for /usr/bin/python3 python3-prometheus-client "the metrics tests parse OpenMetrics with it"
fi
if command -v curl >/dev/null 2>&1; then
    log "curl present"
else
    apt_install_for curl curl "tests/serve_live.rs scrapes over HTTP with it"
fi

# The other majors come from the npm registry (scripts/pg-bin.sh).
if [ "$want_npm" -eq 1 ]; then
    if command -v npm >/dev/null 2>&1; then
        log "npm present: $(npm --version)"
    else
        apt_install_for npm npm "scripts/pg-bin.sh needs it"
    fi
fi
