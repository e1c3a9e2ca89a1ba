#!/bin/sh
# guest-init.sh - /init of the test VM (busybox sh). Mounts the kernel
# filesystems, runs socktrace once per attach rung around the workload, prints
# every result file on the console between markers
#   ===BEGIN rung=R file=F===  ...  ===END===
# and powers off. Without /bin/socktrace it only runs the workload (stand-in).
# Kernel command line overrides: st.rungs=auto,kprobe  st.scenarios=a,b,c  st.verbose=1
set -u
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
ip link set lo up # the accept scenario connects over loopback
LD_LIBRARY_PATH=$(tr '\n' ':' </etc/ld-library-path)
export LD_LIBRARY_PATH

RUNGS="auto kprobe tracepoint"
SCENARIOS="inet-stream inet6-dgram unix-nonblock-cloexec raw-icmp netlink bad-family
 bad-flags bad-protocol emfile socketpair accept thread fork lifecycle share io-uring-socket
 io-uring-bad-family io-uring-accept io-uring-accept-multishot ia32-socket
 ia32-socketcall ia32-socketpair ia32-accept4 causes peers unshare-net" # unshare-net last: the
# workload stays in the new network namespace, whose loopback is down
ATTACH_WAIT=180 # seconds for the tracer to print "Tracing" (BPF load under TCG)
STOP_WAIT=60    # seconds for the tracer to drain and exit after SIGINT
VERBOSE=
for arg in $(cat /proc/cmdline); do
	case $arg in
	st.rungs=*) RUNGS=$(echo "${arg#*=}" | tr , ' ') ;;
	st.scenarios=*) SCENARIOS=$(echo "${arg#*=}" | tr , ' ') ;;
	st.verbose=1) VERBOSE=-v ;;
	esac
done

now() { cut -d' ' -f1 /proc/uptime; }
# section RUNG FILE PATH: print PATH between markers (awk adds a missing final newline).
section() {
	echo "===BEGIN rung=$1 file=$2==="
	[ -f "$3" ] && awk 1 "$3"
	echo "===END==="
}
# waitfor SECONDS COMMAND...: poll COMMAND every 0.1 s until it succeeds or time is up.
waitfor() {
	n=$(($1 * 10)); shift
	while ! "$@"; do
		n=$((n - 1)); [ $n -gt 0 ] || return 1
		usleep 100000
	done
}
alive() { kill -0 "$1" 2>/dev/null; }
dead() { ! kill -0 "$1" 2>/dev/null; }
tracing_or_dead() { grep -q '^Tracing' "$1" || dead "$2"; }

# One rung: tracer in the background, workload, SIGINT, wait. Writes $d/status.
run_rung() {
	rung=$1 d=/out/$1
	mkdir -p "$d"
	t0=$(now)
	socktrace $VERBOSE --attach "$rung" --ia32 on --json -o "$d/events.jsonl" 2>"$d/stderr" &
	pid=$!
	waitfor $ATTACH_WAIT tracing_or_dead "$d/stderr" "$pid"
	t1=$(now) workload_rc=-1 stop=none
	if grep -q '^Tracing' "$d/stderr" && alive "$pid"; then
		socktrace-workload $SCENARIOS >"$d/workload.jsonl" 2>"$d/workload.stderr"
		workload_rc=$?
	fi
	t2=$(now)
	if alive "$pid"; then
		stop=INT
		kill -INT "$pid"
		if ! waitfor $STOP_WAIT dead "$pid"; then stop=KILL; kill -KILL "$pid"; fi
	fi
	wait "$pid"
	tracer_rc=$?
	echo "attach_s=$(echo "$t1 $t0" | awk '{print $1-$2}')" \
		"workload_s=$(echo "$t2 $t1" | awk '{print $1-$2}')" \
		"stop_s=$(echo "$(now) $t2" | awk '{print $1-$2}')" \
		"stop=$stop tracer_rc=$tracer_rc workload_rc=$workload_rc" >"$d/status"
	echo "rung $rung: $(cat "$d/status")"
}

# One rung from inside a new PID namespace (issue 14): socktrace runs the
# workload there, so both see namespace-local pids; BPF translates its own
# (the init namespace's) to them. Writes /out/pidns-RUNG/{status,...}.
PIDNS_SCENARIOS="inet-stream thread fork socketpair"
run_pidns() {
	rung=$1 d=/out/pidns-$1
	mkdir -p "$d"
	timeout -s KILL $ATTACH_WAIT unshare -p -f --mount-proc socktrace $VERBOSE --attach "$rung" --json \
		-o "$d/events.jsonl" -- socktrace-workload $PIDNS_SCENARIOS >"$d/workload.jsonl" 2>"$d/stderr"
	echo "tracer_rc=$?" >"$d/status"
	echo "pidns $rung: $(cat "$d/status")"
}

# One rung metrics-only (docs/metrics.md): `serve --metrics` alone counts in
# the kernel (bpf/lib/kmetrics.bpf.h: verified here on every kernel and rung),
# the workload runs, one scrape (busybox wget), SIGINT. Writes /out/metrics-RUNG/.
METRICS_SCENARIOS="inet-stream bad-family socketpair accept accept-eagain lifecycle fork"
run_metrics() {
	rung=$1 d=/out/metrics-$1
	mkdir -p "$d"
	socktrace serve $VERBOSE --attach "$rung" --metrics 127.0.0.1:9464 2>"$d/stderr" &
	pid=$!
	waitfor $ATTACH_WAIT tracing_or_dead "$d/stderr" "$pid"
	if grep -q '^Tracing' "$d/stderr" && alive "$pid"; then
		socktrace-workload $METRICS_SCENARIOS >"$d/workload.jsonl" 2>"$d/workload.stderr"
		sleep 1
		wget -q -O "$d/metrics" http://127.0.0.1:9464/metrics
	fi
	if alive "$pid"; then
		kill -INT "$pid"
		waitfor $STOP_WAIT dead "$pid" || kill -KILL "$pid"
	fi
	wait "$pid"
	echo "tracer_rc=$?" >"$d/status"
	echo "metrics $rung: $(cat "$d/status")"
}

mkdir -p /out/kernel
uname -r >/out/kernel/uname
{
	echo "btf=$(test -e /sys/kernel/btf/vmlinux && echo yes || echo no)"
	echo "sys_socket_syms=$(grep -c ' __sys_socket$' /proc/kallsyms)"
	echo "lockdown=$(cat /sys/kernel/security/lockdown 2>/dev/null || echo n/a)"
	echo "kprobe_events=$(test -e /sys/kernel/tracing/kprobe_events && echo yes || echo no)"
	t=$(now); n=$(wc -l </proc/kallsyms) # reading kallsyms is slow under TCG
	echo "kallsyms_lines=$n kallsyms_read_s=$(echo "$(now) $t" | awk '{print $1-$2}')"
} >/out/kernel/facts
# The BPF LSM program of the causes checks (issue 22), where the kernel runs
# the BPF LSM (lsm=...,bpf on the command line): held for the whole boot.
lsm_loaded=no
if [ -x /bin/st-lsm ] && grep -q bpf /sys/kernel/security/lsm 2>/dev/null; then
	st-lsm /lib/st-lsm.bpf.o >/out/kernel/st-lsm 2>&1 &
	waitfor 60 grep -q attached /out/kernel/st-lsm && lsm_loaded=yes
fi
echo "lsms=$(cat /sys/kernel/security/lsm 2>/dev/null) bpf_lsm_loaded=$lsm_loaded" >>/out/kernel/facts
section kernel uname /out/kernel/uname
section kernel facts /out/kernel/facts

if [ -x /bin/socktrace ]; then
	t=$(now)
	socktrace doctor >/out/kernel/doctor 2>&1
	echo "doctor_rc=$? doctor_s=$(echo "$(now) $t" | awk '{print $1-$2}')" >>/out/kernel/doctor
	section kernel doctor /out/kernel/doctor
	for rung in $RUNGS; do
		run_rung "$rung"
		for f in status stderr events.jsonl workload.jsonl workload.stderr; do
			section "$rung" "$f" "/out/$rung/$f"
		done
		run_pidns "$rung"
		for f in status stderr events.jsonl workload.jsonl; do
			section "pidns-$rung" "$f" "/out/pidns-$rung/$f"
		done
		run_metrics "$rung"
		for f in status stderr metrics workload.jsonl; do
			section "metrics-$rung" "$f" "/out/metrics-$rung/$f"
		done
	done
else
	# Stand-in: the workload alone, to prove boot, markers and poweroff.
	mkdir -p /out/none
	t0=$(now)
	socktrace-workload $SCENARIOS >/out/none/workload.jsonl 2>/out/none/workload.stderr
	echo "workload_rc=$? workload_s=$(echo "$(now) $t0" | awk '{print $1-$2}')" >/out/none/status
	for f in status workload.jsonl workload.stderr; do section none "$f" "/out/none/$f"; done
fi
dmesg >/out/kernel/dmesg
section kernel dmesg /out/kernel/dmesg
echo "===DONE uptime=$(now)==="
sync
poweroff -f
