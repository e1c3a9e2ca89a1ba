#!/usr/bin/env bash
# fetch-kernels.sh [CACHE_DIR] - download and unpack the Debian kernels the VM
# tests boot: bookworm's 6.1 and 6.12 (the machine's own apt sources), bullseye's
# 5.10 and unstable's newest (private apt state under CACHE/apt/, on the mirror
# the machine's sources name). Idempotent: an unpacked kernel is reused.
# Prints one line per kernel: "<name> <path to vmlinuz> <path to unpacked tree>".
#
# KERNELS overrides the list: "SUITE:META ..." with SUITE one of system,
# bullseye, unstable, bookworm (e.g. KERNELS="system:linux-image-amd64").
# KERNEL_ARCH=arm64 fetches arm64 images (default amd64).
# Since trixie the image package is split: vmlinuz is in linux-binary-VERSION
# under usr/lib/modules/VERSION/; both layouts are handled.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${1:-${KERNEL_CACHE:-$repo/.cache/kernels}}
mkdir -p "$cache" && cache=$(cd "$cache" && pwd)
arch=${KERNEL_ARCH:-amd64}
kernels=${KERNELS:-"system:linux-image-amd64 system:linux-image-6.12-amd64 bullseye:linux-image-amd64 unstable:linux-image-amd64"}
mkdir -p "$cache/debs"

# The mirror the machine's own apt sources name (deb822 or one-line), else Debian's.
mirror() {
	local kind=$1 # debian or debian-security
	cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
		grep -oE 'https?://[^ ]+/'"$kind"'/?( |$)' | head -n1 | tr -d ' ' | sed 's:/*$::' ||
		true
}
debian=$(mirror debian) security=$(mirror debian-security)
debian=${debian:-http://deb.debian.org/debian} security=${security:-http://deb.debian.org/debian-security}

# Options for apt with a private state for SUITE: its own sources list and lists.
apt_opts() {
	local dir=$cache/apt/$1-$arch
	opts=(-o "Dir::State=$dir" -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir"
		-o "Dir::Etc::SourceList=$dir/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
		-o "APT::Architecture=$arch" -o "APT::Architectures::=$arch")
}

# Writes SUITE's sources list and updates its lists (once a day).
# "system" is the machine's own apt, as set up (apt-get update first).
lists() {
	local suite=$1 dir=$cache/apt/$1-$arch key=/usr/share/keyrings/debian-archive-keyring.gpg
	[ "$suite" != system ] || return 0
	mkdir -p "$dir/lists/partial" "$dir/archives/partial"
	if [ ! -f "$dir/sources.list" ]; then
		case $suite in
		bullseye | bookworm)
			printf 'deb [signed-by=%s] %s %s main\ndeb [signed-by=%s] %s %s-security main\n' \
				"$key" "$debian" "$suite" "$key" "$security" "$suite" ;;
		*) printf 'deb [signed-by=%s] %s %s main\n' "$key" "$debian" "$suite" ;;
		esac >"$dir/sources.list"
	fi
	if [ -z "$(find "$dir/lists" -maxdepth 1 -name "*binary-${arch}_Packages*" -mmin -1440 2>/dev/null)" ]; then
		apt_opts "$suite"
		apt-get -q "${opts[@]}" update >&2
	fi
}
suite_apt() {
	local suite=$1; shift
	if [ "$suite" = system ]; then apt-get "$@"; return; fi
	apt_opts "$suite"
	apt-get "${opts[@]}" "$@"
}
suite_cache() {
	local suite=$1; shift
	if [ "$suite" = system ]; then apt-cache "$@"; return; fi
	apt_opts "$suite"
	apt-cache "${opts[@]}" "$@"
}

# The first dependency of PKG matching PATTERN (meta -> image, image -> binary).
dep() {
	suite_cache "$1" depends "$2" 2>/dev/null |
		awk -v re="$3" '$1 == "Depends:" && $2 ~ re { sub(/:.*/, "", $2); print $2; exit }'
}

# Downloads PKG of SUITE and unpacks it into DEST.
unpack() {
	local suite=$1 pkg=$2 dest=$3 deb
	(cd "$cache/debs" && suite_apt "$suite" download -q "$pkg:$arch" >&2)
	deb=$(ls -t "$cache/debs/${pkg}_"*.deb | head -n1)
	dpkg-deb -x "$deb" "$dest"
	rm -f "$deb" # the unpacked tree is the cache
}

vmlinuz_in() { ls "$1"/boot/vmlinuz-* "$1"/usr/lib/modules/*/vmlinuz 2>/dev/null | head -n1; }

for spec in $kernels; do
	suite=${spec%%:*} meta=${spec#*:}
	lists "$suite"
	pkg=$(dep "$suite" "$meta" '^linux-image-[0-9]')
	[ -n "$pkg" ] || { echo "fetch-kernels: cannot resolve $meta in $suite (apt-get update?)" >&2; exit 1; }
	name=${pkg#linux-image-} # e.g. 5.10.0-46-amd64, 6.12.117+deb12-amd64, 7.2.13+deb14-amd64
	dest=$cache/$name
	if [ -z "$(vmlinuz_in "$dest")" ]; then
		rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
		unpack "$suite" "$pkg" "$dest.tmp"
		if [ -z "$(vmlinuz_in "$dest.tmp")" ]; then # trixie and later: the image is split
			binary=$(dep "$suite" "$pkg" '^linux-binary-')
			[ -n "$binary" ] || { echo "fetch-kernels: no vmlinuz in $pkg and no linux-binary dependency" >&2; exit 1; }
			unpack "$suite" "$binary" "$dest.tmp"
		fi
		rm -rf "$dest" && mv "$dest.tmp" "$dest"
	fi
	echo "$name $(vmlinuz_in "$dest") $dest"
done
