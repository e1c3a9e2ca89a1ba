#!/usr/bin/env bash
# build-initramfs.sh OUT.cpio.gz GUEST_INIT WORKLOAD [SOCKTRACE]
# Packs a gzip'd newc initramfs: busybox-static (+ applet links), GUEST_INIT as
# /init, WORKLOAD as /bin/socktrace-workload, and, if given, SOCKTRACE as
# /bin/socktrace with every shared library ldd lists (Swift runtime included)
# at its host path. /etc/ld-library-path lists the library dirs for the guest.
set -euo pipefail

out=$1 init=$2 workload=$3 socktrace=${4:-}
busybox=${BUSYBOX:-/bin/busybox}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,out,root}
cp "$busybox" "$root/bin/busybox"
# Every applet as a link at its usual path (bin/sh, sbin/poweroff, ...).
"$busybox" --list-full | while read -r applet; do
	[ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done
install -m 755 "$init" "$root/init"
install -m 755 "$workload" "$root/bin/socktrace-workload"
# EXTRA_BINS: more static binaries, each as /bin/NAME (Benchmarks/icount.sh).
for extra in ${EXTRA_BINS:-}; do install -m 755 "$extra" "$root/bin/$(basename "$extra")"; done

# Copies a binary's shared libraries (and the dynamic loader) to their host paths.
copy_libs() {
	local libs
	libs=$(ldd "$1")
	if grep -q 'not found' <<<"$libs"; then
		echo "build-initramfs: missing libraries for $1:" >&2; echo "$libs" >&2; exit 1
	fi
	grep -o '/[^ ]*' <<<"$libs" | while read -r lib; do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
		dirname "$lib" >>"$root/etc/ld-library-path"
	done
}
if [ -n "$socktrace" ]; then
	install -m 755 "$socktrace" "$root/bin/socktrace"
	# A static binary has nothing to copy ("not a dynamic executable").
	if ldd "$socktrace" >/dev/null 2>&1; then copy_libs "$socktrace"; fi
fi
# EXTRA="SRC:DEST ...": more files (the BPF LSM loader of the causes checks).
for pair in ${EXTRA:-}; do
	mkdir -p "$root$(dirname "${pair#*:}")"
	install -m 755 "${pair%%:*}" "$root${pair#*:}"
done
touch "$root/etc/ld-library-path"
sort -u -o "$root/etc/ld-library-path" "$root/etc/ld-library-path"

(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet -R 0:0) | gzip -1 >"$out"
echo "build-initramfs: $out $(du -h "$out" | cut -f1)" >&2
