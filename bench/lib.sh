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
