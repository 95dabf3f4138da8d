# Shared helpers of the bench scripts; sourced, not run. The sourcing script defines log().

# True when hyperfine can be used: present, or installed from Debian's packages when running
# as root. BENCH_NO_HYPERFINE=1 forces the scripts' bash-loop fallback.
have_hyperfine() {
    [ -z "${BENCH_NO_HYPERFINE:-}" ] || return 1
    command -v hyperfine >/dev/null 2>&1 && return 0
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        log "hyperfine missing: apt-get install -y hyperfine"
        if DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends hyperfine >&2 \
            || { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends hyperfine >&2; }; then
            return 0
        fi
        log "could not install hyperfine"
    fi
    return 1
}

# A CPU-accounting cgroup of our own, as root: prints its path, or nothing (not root, or
# neither cgroup v2 nor v1's cpuacct). A process written to its cgroup.procs, and every
# process it forks from then on, is counted; processes it forked before stay outside.
cpu_cgroup_create() { # NAME
    local cg
    [ "$(id -u)" -eq 0 ] || return 0
    if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
        cg=/sys/fs/cgroup/$1
    elif [ -f /sys/fs/cgroup/cpuacct/cpuacct.usage ]; then
        cg=/sys/fs/cgroup/cpuacct/$1
    else
        return 0
    fi
    if mkdir "$cg" 2>/dev/null; then echo "$cg"; fi
}

# The CPU time, in ms with fractions, that cgroup $1's processes have used: v2's usage_usec
# (µs) or v1's cpuacct.usage (ns), both exact, unlike the 10 ms ticks of /proc's times.
cpu_cgroup_ms() { # CGROUP
    if [ -f "$1/cpu.stat" ]; then
        awk '$1 == "usage_usec" { printf "%.3f", $2 / 1000 }' "$1/cpu.stat"
    else
        awk '{ printf "%.3f", $1 / 1000000 }' "$1/cpuacct.usage"
    fi
}
