#!/usr/bin/env bash
# run.sh [SOCKTRACE_BINARY | --stand-in]
# Boots each Debian kernel (fetch-kernels.sh) under qemu TCG with an initramfs
# holding socktrace, the workload and guest-init.sh; splits the guest's marked
# output into $CACHE/results/<kernel>/<rung>/<file>; runs check.py, whose last
# line is "N passed, N failed". Exit status is non-zero on any failure.
#
# Env: KERNEL_CACHE (default $REPO/.cache/kernels), VM_TIMEOUT seconds per VM
# (default 600), VM_PARALLEL=1 boots all kernels at once (default; -smp 1 each),
# VM_MEM MiB per VM (default 2048), VM_APPEND extra kernel command line
# (st.rungs=kprobe,auto  st.scenarios=inet-stream,fork  st.verbose=1),
# KERNELS (fetch-kernels.sh) the x86-64 kernels, VM_ARM64=0 skips the arm64 VM
# (arm64/: the BPF object built for arm64, loaded, attached and recording in
# Debian's arm64 kernel under qemu-system-aarch64).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${KERNEL_CACHE:-$repo/.cache/kernels}
timeout_s=${VM_TIMEOUT:-600}
build=$cache/build results=$cache/results logs=$cache/logs

# The tracer: argument, else the release build, else the debug build.
socktrace=${1:-}
if [ -z "$socktrace" ]; then
	for b in "$repo/.build/release/socktrace" "$repo/.build/debug/socktrace"; do
		[ -x "$b" ] && { socktrace=$b; break; }
	done
fi
[ -n "$socktrace" ] || { echo "run.sh: no socktrace binary (build it, or pass --stand-in)" >&2; exit 2; }
[ "$socktrace" = --stand-in ] && socktrace=""
[ -z "$socktrace" ] || [ -x "$socktrace" ] || { echo "run.sh: $socktrace not executable" >&2; exit 2; }

mkdir -p "$build" "$logs"
gcc -O2 -static -pthread -o "$build/socktrace-workload" "$repo/Tests/Workload/workload.c"
# A BPF LSM program refusing socket(AF_INET, SOCK_DGRAM, 254), and its static
# loader (issue 22: the lsm cause, named bpf on the fentry rung). Skipped
# without a static libbpf; the guest runs it where the kernel has the BPF LSM.
extra=
if [ -e /usr/lib/x86_64-linux-gnu/libbpf.a ]; then
	lsm_clang=$(dirname "$(readlink -f "$(command -v swift)")")/clang
	[ -x "$lsm_clang" ] || lsm_clang=clang
	"$lsm_clang" -g -O2 -Wall -Werror -target bpf -mcpu=v2 -D__TARGET_ARCH_x86 -I "$repo/bpf" \
		-c "$here/lsm/deny.bpf.c" -o "$build/st-lsm.bpf.o"
	gcc -O2 -static -Wall -o "$build/st-lsm" "$here/lsm/loader.c" -lbpf -lelf -lz 2>/dev/null
	extra="$build/st-lsm:/bin/st-lsm $build/st-lsm.bpf.o:/lib/st-lsm.bpf.o"
fi
kernels=$("$here/fetch-kernels.sh" "$cache")
EXTRA=$extra "$here/build-initramfs.sh" "$build/initramfs.cpio.gz" "$here/guest-init.sh" \
	"$build/socktrace-workload" $socktrace

# boot NAME VMLINUZ: one VM, serial console to $logs/NAME.log, then split it.
# ia32_emulation=1: kernels that can default it off (6.7+) run int $0x80;
# no_timer_check: a starved TCG vCPU (a loaded host) otherwise fails the boot
# IO-APIC timer check and panics ("IO-APIC + timer doesn't work").
boot() {
	qemu NAME="$1" qemu-system-x86_64 -accel tcg -cpu max -m "${VM_MEM:-2048}" -smp 1 \
		-kernel "$2" -initrd "$build/initramfs.cpio.gz" \
		-append "console=ttyS0 quiet panic=-1 no_timer_check ia32_emulation=1 \
lsm=lockdown,capability,landlock,yama,apparmor,bpf ${VM_APPEND:-}"
}

# boot_arm64 NAME DIR: the arm64 VM (arm64/build.sh made DIR).
boot_arm64() {
	qemu NAME="$1" qemu-system-aarch64 -M virt -cpu max -accel tcg -m 1024 -smp 1 \
		-kernel "$2/vmlinuz" -initrd "$2/initramfs.cpio.gz" -append "console=ttyAMA0 quiet panic=-1"
}

# qemu NAME=N QEMU ARGS...: runs one VM with its console in $logs/N.log, then
# splits the log into $results/N/.
qemu() {
	local name=${1#NAME=} log=$logs/${1#NAME=}.log start=$SECONDS rc=0
	shift
	echo "run.sh: booting $name (timeout ${timeout_s}s)" >&2
	timeout -k 10 "$timeout_s" "$@" -nodefaults -display none -no-reboot -serial "file:$log" \
		</dev/null >"$logs/$name.qemu" 2>&1 || rc=$?
	echo "run.sh: $name finished in $((SECONDS - start))s (qemu rc=$rc)" >&2
	rm -rf "${results:?}/$name" && mkdir -p "$results/$name"
	echo "qemu_rc=$rc seconds=$((SECONDS - start))" >"$results/$name/vm"
	# ===BEGIN rung=R file=F=== ... ===END===  ->  $results/NAME/R/F
	tr -d '\r' <"$log" | awk -v dir="$results/$name" '
		match($0, /===BEGIN rung=[^ ]+ file=[^ ]+===$/) {
			split(substr($0, RSTART + 9, RLENGTH - 12), kv, /[ =]/)
			system("mkdir -p \"" dir "/" kv[2] "\"")
			out = dir "/" kv[2] "/" kv[4]; printf "" >out; next
		}
		/^===END===$/ { if (out != "") close(out); out = ""; next }
		/===DONE/ { print $0 >(dir "/done"); next }
		out != "" { print >out }'
}

names=()
while read -r name vmlinuz _; do
	names+=("$name")
	if [ "${VM_PARALLEL:-1}" = 1 ]; then boot "$name" "$vmlinuz" & else boot "$name" "$vmlinuz"; fi
done <<<"$kernels"
arm64=()
if [ "${VM_ARM64:-1}" = 1 ] && [ -n "$socktrace" ]; then
	"$here/arm64/build.sh" "$cache" "$build/arm64"
	arm64=(--arm64 "arm64-$(cat "$build/arm64/kernel")")
	boot_arm64 "${arm64[1]}" "$build/arm64"
fi
wait

# st.rungs=... in VM_APPEND limits the rungs the guest runs, so the checks too.
rungs=$(sed -n 's/.*st\.rungs=\([^ ]*\).*/\1/p' <<<"${VM_APPEND:-}")
python3 "$here/check.py" --results "$results" ${socktrace:+--tracer} ${rungs:+--rungs "$rungs"} \
	"${arm64[@]}" "${names[@]}"
