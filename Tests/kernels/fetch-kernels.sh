#!/usr/bin/env bash
# fetch-kernels.sh [CACHE_DIR] - download and unpack the Debian bookworm kernels
# the VM tests boot (6.1 and 6.12). Idempotent: an unpacked kernel is reused.
# Prints one line per kernel: "<name> <path to vmlinuz> <path to unpacked tree>".
#
# Needs apt sources for bookworm + bookworm-security (run `apt-get update` first).
# KERNEL_METAS overrides the meta-packages resolved to a concrete image package.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${1:-${KERNEL_CACHE:-$repo/.cache/kernels}}
metas=${KERNEL_METAS:-"linux-image-amd64 linux-image-6.12-amd64"}
mkdir -p "$cache/debs"

# linux-image-amd64 -> linux-image-6.1.0-NN-amd64 (the package holding the kernel).
resolve() {
	apt-cache depends "$1" 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}

for meta in $metas; do
	pkg=$(resolve "$meta")
	[ -n "$pkg" ] || { echo "fetch-kernels: cannot resolve $meta (apt-get update?)" >&2; exit 1; }
	name=${pkg#linux-image-}            # e.g. 6.1.0-56-amd64, 6.12.117+deb12-amd64
	dest=$cache/$name
	if ! ls "$dest"/boot/vmlinuz-* >/dev/null 2>&1; then
		(cd "$cache/debs" && apt-get download -q "$pkg" >&2)
		deb=$(ls -t "$cache/debs/${pkg}_"*.deb | head -n1)
		rm -rf "$dest.tmp" && dpkg-deb -x "$deb" "$dest.tmp" && mv "$dest.tmp" "$dest"
		rm -f "$deb"                   # the unpacked tree is the cache
	fi
	echo "$name $(ls "$dest"/boot/vmlinuz-* | head -n1) $dest"
done
