#!/bin/sh
# icount-init.sh - /init of the instruction-count VM (busybox sh), booted by
# Benchmarks/icount.sh under qemu TCG with `-smp 1 -icount shift=0,sleep=off`:
# guest time is instructions executed, so socket-storm's ns per call is the
# instructions one socket()+close() (or open()+close()) costs, tracer included
# (one vCPU: the tracer's own consumer work is paid by the same CPU, as on a
# saturated server).
#
# Per rung: the rounds untraced (socket()+close(), and the bystander:
# open()+close() of /dev/null), then socktrace default started once around
# every round's storm and bystander (it traces the whole machine), then
# socktrace --births-only around every round's storm. One line per run:
#   ICOUNT rung=R round=N config=C workload=W ns_per_call=X calls=N ok=N
# and per tracer start: ICOUNT rung=R config=C records=N lost=N calls=N
# With /bin/socktrace-base (icount.sh --baseline PATH) each traced config runs
# with it too, in the same boot (configs base:default, ...).
# Kernel command line: st.rungs=fentry,kprobe,tracepoint st.rounds=3 st.iters=20000
set -u
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup
ip link set lo up
LD_LIBRARY_PATH=$(tr '\n' ':' </etc/ld-library-path)
export LD_LIBRARY_PATH

RUNGS="fentry kprobe tracepoint"
ROUNDS=3
ITERS=20000
PROFILE=0
for arg in $(cat /proc/cmdline); do
	case $arg in
	st.rungs=*) RUNGS=$(echo "${arg#*=}" | tr , ' ') ;;
	st.rounds=*) ROUNDS=${arg#*=} ;;
	st.iters=*) ITERS=${arg#*=} ;;
	st.profile=1) PROFILE=1 ;;
	esac
done

waitfor() {
	n=$(($1 * 10)); shift
	while ! "$@"; do
		n=$((n - 1)); [ $n -gt 0 ] || return 1
		usleep 100000
	done
}
dead() { ! kill -0 "$1" 2>/dev/null; }
tracing_or_dead() { grep -q '^Tracing' "$1" || dead "$2"; }
# field JSON KEY: a number from socket-storm's one line.
field() { echo "$1" | sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p"; }

# tracer_ns PID: CPU time of every thread of PID so far (schedstat, ns =
# instructions here), 0 without a tracer.
tracer_ns() {
	[ -n "${1:-}" ] || { echo 0; return; }
	cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%d", s}'
}

# storm CONFIG RUNG ROUND WORKLOAD(inet-dgram|devnull) [TRACER_PID]: one run;
# tracer_ns_per_call is the tracer process's own share of ns_per_call.
storm() {
	t0=$(tracer_ns "${5:-}")
	out=$(socket-storm -p 1 -n "$ITERS" -m "$4" 2>/dev/null)
	t1=$(tracer_ns "${5:-}")
	echo "ICOUNT rung=$2 round=$3 config=$1 workload=$4 ns_per_call=$(field "$out" ns_per_call)" \
		"calls=$(field "$out" calls) ok=$(field "$out" ok) tracer_ns_per_call=$(((t1 - t0) / ITERS))"
}

# traced CONFIG RUNG ARGS...: socktrace with ARGS, started once, around every
# round's storm (and for the default config the bystander), then its records
# and losses. One start per configuration: under TCG a start (verification
# of every program) costs more instructions than the storms.
traced() {
	config=$1 rung=$2 tracer=socktrace
	shift 2
	case $config in base:*) tracer=socktrace-base ;; esac
	rm -f /tmp/ev.jsonl /tmp/err
	$tracer --attach "$rung" "$@" --json -o /tmp/ev.jsonl 2>/tmp/err &
	pid=$!
	if ! waitfor 900 tracing_or_dead /tmp/err "$pid" || dead "$pid"; then
		echo "ICOUNT rung=$rung config=$config error=attach $(tail -c 300 /tmp/err | tr '\n' ' ')"
		wait "$pid"
		return
	fi
	round=1
	while [ "$round" -le "$ROUNDS" ]; do
		storm "$config" "$rung" "$round" inet-dgram "$pid"
		[ "$PROFILE" = 1 ] && programs "$config" "$rung" inet-dgram
		if [ "${config#base:}" = default ]; then
			storm "$config" "$rung" "$round" devnull "$pid"
			[ "$PROFILE" = 1 ] && programs "$config" "$rung" devnull
		fi
		round=$((round + 1))
	done
	kill -INT "$pid"
	waitfor 300 dead "$pid" || kill -KILL "$pid"
	wait "$pid"
	sockets=$(grep -c '"event":"socket"' /tmp/ev.jsonl)
	lost=$(grep '"event":"end"' /tmp/ev.jsonl | sed -n 's/.*"lost":\([0-9]*\).*/\1/p')
	echo "ICOUNT rung=$rung config=$config records=$sockets lost=${lost:-?} calls=$((ROUNDS * ITERS))"
	rm -f /tmp/ev.jsonl
}

# programs CONFIG RUNG WORKLOAD: each loaded BPF program's runs and run time
# (kernel.bpf_stats_enabled=1), cumulative since the tracer loaded it (with
# --profile one round: the report subtracts the storm's from the bystander's).
programs() {
	bpf-prog-stats | sed "s/^/ICOUNTPROG rung=$2 config=$1 workload=$3 /"
}

[ "$PROFILE" = 1 ] && { echo 1 >/proc/sys/kernel/bpf_stats_enabled; ROUNDS=1; }
TRACERS=new
[ -x /bin/socktrace-base ] && TRACERS="base new"
echo "ICOUNT kernel=$(uname -r) iters=$ITERS rounds=$ROUNDS"
# Warm-up, not counted: boot's deferred work settles, caches fill (the first
# bystander run after boot measured 1.8x the later ones).
sleep 5
socket-storm -p 1 -n "$ITERS" -m inet-dgram >/dev/null 2>&1
socket-storm -p 1 -n "$ITERS" -m devnull >/dev/null 2>&1
for rung in $RUNGS; do
	round=1
	while [ "$round" -le "$ROUNDS" ]; do
		storm untraced "$rung" "$round" inet-dgram
		storm untraced "$rung" "$round" devnull
		round=$((round + 1))
	done
	for t in $TRACERS; do
		p=; [ "$t" = base ] && p=base:
		traced "${p}default" "$rung"
		traced "${p}births-only" "$rung" --births-only
	done
done
echo "===ICOUNT DONE==="
sync
poweroff -f
