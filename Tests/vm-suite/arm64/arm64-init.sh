#!/bin/sh
# arm64-init.sh - /init of the arm64 test VM (busybox sh): mounts the kernel
# filesystems, runs st-loader on the arm64 BPF object, prints its report
# between ===BEGIN rung=arm64 file=loader=== and ===END===, powers off.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tracefs tracefs /sys/kernel/tracing
mount -t bpf bpf /sys/fs/bpf
ulimit -l unlimited
mkdir -p /out
uname -rm >/out/uname
/bin/st-loader /socktrace.bpf.o >/out/loader 2>/out/loader.stderr
echo "loader_rc=$?" >>/out/loader.stderr
for f in uname loader loader.stderr; do
	echo "===BEGIN rung=arm64 file=$f==="
	awk 1 "/out/$f"
	echo "===END==="
done
echo "===DONE uptime=$(cut -d' ' -f1 /proc/uptime)==="
sync
poweroff -f
