#!/usr/bin/env bash
# build.sh CACHE OUT_DIR - everything the arm64 VM needs, into OUT_DIR:
#   vmlinuz      Debian bookworm's arm64 kernel (fetch-kernels.sh, KERNEL_ARCH=arm64)
#   initramfs    busybox-static:arm64, arm64-init.sh as /init, st-loader, and
#                socktrace.bpf.o compiled with clang -target bpf -D__TARGET_ARCH_arm64
# st-loader is cross-compiled (gcc-aarch64-linux-gnu, static) against Debian's
# arm64 libbpf, libelf and zlib, unpacked from their .debs (apt-get download
# with the private arm64 apt state fetch-kernels.sh keeps).
# Needs: clang, gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, cpio.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
mkdir -p "$1" "$2"
cache=$(cd "$1" && pwd) out=$(cd "$2" && pwd)
mkdir -p "$out"
line=$(KERNEL_ARCH=arm64 KERNELS="bookworm:linux-image-arm64" "$here/../fetch-kernels.sh" "$cache")
cp "$(awk '{print $2}' <<<"$line")" "$out/vmlinuz"
echo "${line%% *}" >"$out/kernel"

# arm64 userland from Debian: busybox and the libraries st-loader links.
sysroot=$cache/arm64-sysroot
if [ ! -f "$sysroot/.done" ]; then
	rm -rf "$sysroot" && mkdir -p "$sysroot" "$cache/debs/arm64"
	dir=$cache/apt/bookworm-arm64
	(cd "$cache/debs/arm64" && apt-get -q -o "Dir::State=$dir" -o "Dir::State::Lists=$dir/lists" \
		-o "Dir::Cache=$dir" -o "Dir::Etc::SourceList=$dir/sources.list" \
		-o "Dir::Etc::SourceParts=/dev/null" -o "APT::Architecture=arm64" \
		-o "APT::Architectures::=arm64" download \
		busybox-static:arm64 libbpf-dev:arm64 libelf-dev:arm64 zlib1g-dev:arm64 >&2)
	for deb in "$cache"/debs/arm64/*.deb; do dpkg-deb -x "$deb" "$sysroot"; done
	rm -f "$cache"/debs/arm64/*.deb
	touch "$sysroot/.done"
fi

# The same compile as the build plugin (Sources/BPFEmbed), with the same
# clang (the Swift toolchain's, else the system's), for arm64.
clang=$(dirname "$(readlink -f "$(command -v swift)")")/clang
[ -x "$clang" ] || clang=clang
"$clang" -g -O2 -Wall -Werror -target bpf -mcpu=v2 -D__TARGET_ARCH_arm64 -I "$repo/bpf" \
	-I "$repo/Sources/CSocktrace/include" -c "$repo/bpf/socktrace.bpf.c" -o "$out/socktrace.bpf.o"
aarch64-linux-gnu-gcc -O2 -static -Wall -o "$out/st-loader" "$here/loader.c" \
	"$repo/Sources/CSocktrace/probes.c" -I "$repo/Sources/CSocktrace/include" \
	-I "$sysroot/usr/include" -L "$sysroot/usr/lib/aarch64-linux-gnu" -lbpf -lelf -lz -lpthread

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp}
cp "$sysroot/bin/busybox" "$root/bin/busybox"
for applet in sh mount mkdir uname awk cut sync poweroff cat; do ln -s busybox "$root/bin/$applet"; done
install -m 755 "$here/arm64-init.sh" "$root/init"
install -m 755 "$out/st-loader" "$root/bin/st-loader"
cp "$out/socktrace.bpf.o" "$root/socktrace.bpf.o"
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet -R 0:0) | gzip -1 >"$out/initramfs.cpio.gz"
echo "arm64/build.sh: $(cat "$out/kernel"), $(du -h "$out/initramfs.cpio.gz" | cut -f1) initramfs" >&2
