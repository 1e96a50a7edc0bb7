#!/bin/sh
#
# Generate configure and the Makefile.in files (needs autoconf, automake,
# libtool and pkg-config: Debian packages of the same names).
#
set -e
cd "$(dirname "$0")"
mkdir -p m4 config
autoreconf --install --force "$@"
