#!/bin/bash
#
# Obtain the source tree of the installed UCX (Debian source package "ucx",
# same version as the installed binary package libucx0, Debian patches
# applied). rsagg needs UCX's internal headers (uct/base/uct_iface.h, ...),
# which libucx-dev does not install, and they must match the installed
# libraries exactly because rsagg embeds UCX base classes.
#
# The machine's apt configuration is left untouched: the source index is
# downloaded with a private sources list, lists directory and cache below
# DESTDIR. Re-running reuses a tree fetched before.
#
# Usage: ucx-source.sh [-V DEBIAN_VERSION] DESTDIR
#   Prints the absolute path of the source tree (the directory holding
#   src/uct/base/uct_iface.h) as the last line of standard output; progress
#   and errors go to standard error. Exit status is non-zero on failure.
#
# Environment:
#   UCX_SOURCE_MIRROR  Debian mirror (default http://deb.debian.org/debian)
#   UCX_SOURCE_SUITE   Debian suite (default: VERSION_CODENAME of
#                      /etc/os-release, or bookworm)
#   UCX_SOURCE_UNPACK  "tar" unpacks with tar and patch even when dpkg-source
#                      is available (the fallback path; for testing)
#
set -eu -o pipefail

prog=${0##*/}
log() { echo "$prog: $*" >&2; }
die() { log "error: $*"; exit 1; }

version=
while getopts "V:h" opt; do
    case $opt in
    V) version=$OPTARG ;;
    h) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 0 ;;
    *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || die "usage: $prog [-V DEBIAN_VERSION] DESTDIR"

mkdir -p "$1"
dest=$(cd "$1" && pwd)

# The installed Debian version of UCX decides which source we need
upstream=
if [ -z "$version" ]; then
    version=$(dpkg-query -W -f '${db:Status-Abbrev} ${Version}\n' libucx0 \
                  2>/dev/null | awk '$1 == "ii" { print $2; exit }') || true
fi
if [ -z "$version" ]; then
    # UCX not installed through dpkg: only the upstream version is known,
    # take the suite's candidate and check that it has the same version.
    upstream=$(ucx_info -v 2>/dev/null | sed -n 's/^# Version \(.*\)$/\1/p')
    [ -n "$upstream" ] ||
        die "cannot determine the installed UCX version (neither" \
            "'dpkg-query -W libucx0' nor 'ucx_info -v' answered)"
    log "libucx0 is not installed through dpkg; UCX $upstream (ucx_info -v)"
fi

# Directory names without the epoch: a ':' breaks make
tag=${version#*:}
[ -n "$tag" ] || tag=$upstream
srcdir=$dest/ucx-$tag
stamp=$srcdir/.rsagg-source-complete

if [ -f "$stamp" ] && [ -f "$srcdir/src/uct/base/uct_iface.h" ]; then
    log "reusing $srcdir"
    echo "$srcdir"
    exit 0
fi

command -v apt-get >/dev/null ||
    die "apt-get not found: cannot fetch the UCX source package"

# Private apt state: the source indexes of the suite (and its updates)
mirror=${UCX_SOURCE_MIRROR:-http://deb.debian.org/debian}
suite=${UCX_SOURCE_SUITE:-}
if [ -z "$suite" ] && [ -r /etc/os-release ]; then
    suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
fi
suite=${suite:-bookworm}
apt=$dest/.apt
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$dest/download"
signed=
for keyring in /usr/share/keyrings/debian-archive-keyring.gpg; do
    [ -r "$keyring" ] && signed="[signed-by=$keyring] "
done
{
    echo "deb-src ${signed}$mirror $suite main"
    # Point releases of stable may update ucx; harmless when they do not
    echo "deb-src ${signed}$mirror $suite-updates main"
} > "$apt/sources.list"

apt_opts=(-o "Dir::Etc::SourceList=$apt/sources.list"
          -o "Dir::Etc::SourceParts=/dev/null"
          -o "Dir::State::Lists=$apt/lists"
          -o "Dir::Cache=$apt/cache"
          -o "Acquire::Retries=2"
          -o "Acquire::http::Timeout=30"
          -o "APT::Get::Only-Source=true")
if [ "$(id -u)" = 0 ]; then
    # The private directories belong to root; the _apt sandbox user could
    # not write them and apt would warn about every file.
    apt_opts+=(-o "APT::Sandbox::User=root")
fi

log "updating private source index ($mirror $suite) in $apt"
if ! apt-get "${apt_opts[@]}" -q update >&2; then
    # Partial failure (e.g. one suite missing) still may leave a usable
    # index; the download below decides.
    log "warning: 'apt-get update' reported errors"
fi

spec=ucx${version:+=$version}
log "downloading source package $spec"
(cd "$dest/download" &&
    apt-get "${apt_opts[@]}" -q source --download-only "$spec" >&2) ||
    die "could not download the source package $spec from $mirror $suite"

dsc=$dest/download/ucx_${tag}.dsc
if [ -z "$version" ]; then
    dsc=$(ls -t "$dest"/download/ucx_"$upstream"-*.dsc 2>/dev/null |
          head -n 1) ||
        true
fi
[ -n "$dsc" ] && [ -f "$dsc" ] ||
    die "source package of UCX $upstream not found in $mirror $suite" \
        "(the suite's candidate has another version)"

# Unpack next to the downloads (dpkg-source links the orig tarball beside
# its target), then move into place: an interrupted run leaves no tree that
# looks complete.
tmp=$dest/download/ucx-$tag.tmp
rm -rf "$tmp" "$tmp.x" "$srcdir"
if [ "${UCX_SOURCE_UNPACK:-}" != tar ] && command -v dpkg-source >/dev/null
then
    # dpkg-source unpacks and applies debian/patches (format 3.0 quilt)
    log "unpacking $(basename "$dsc") with dpkg-source"
    (cd "$dest/download" &&
        dpkg-source --no-check -x "$dsc" "$(basename "$tmp")" >&2) ||
        die "dpkg-source failed to unpack $dsc"
else
    # Without dpkg-dev: unpack the tarballs named in the .dsc and apply the
    # patch series in order, as dpkg-source would.
    log "unpacking $(basename "$dsc") with tar and patch"
    files=$(awk '/^Files:/ { f = 1; next } /^[^ ]/ { f = 0 } f { print $3 }' \
                "$dsc")
    orig=$(echo "$files" | grep '\.orig\.tar\.' || true)
    deb=$(echo "$files" | grep '\.debian\.tar\.' || true)
    [ -n "$orig" ] || die "no .orig tarball listed in $dsc"
    mkdir -p "$tmp.x"
    tar -xf "$dest/download/$orig" -C "$tmp.x"
    top=$(ls -A "$tmp.x")
    [ "$(echo "$top" | wc -l)" = 1 ] && [ -d "$tmp.x/$top" ] ||
        die "unexpected layout of $orig"
    mv "$tmp.x/$top" "$tmp"
    rmdir "$tmp.x"
    if [ -n "$deb" ]; then
        tar -xf "$dest/download/$deb" -C "$tmp"
        series=$tmp/debian/patches/series
        if [ -f "$series" ]; then
            sed -e 's/#.*//' "$series" | while read -r patch opts; do
                [ -n "$patch" ] || continue
                log "applying $patch"
                patch -d "$tmp" -s -N --batch --no-backup-if-mismatch \
                    ${opts:--p1} < "$tmp/debian/patches/$patch" >&2 ||
                    die "patch $patch does not apply"
            done
        fi
    fi
fi

[ -f "$tmp/src/uct/base/uct_iface.h" ] ||
    die "unpacked source has no src/uct/base/uct_iface.h"
mv "$tmp" "$srcdir"
echo "$spec from $mirror $suite" > "$stamp"
log "UCX source ready in $srcdir"
echo "$srcdir"
