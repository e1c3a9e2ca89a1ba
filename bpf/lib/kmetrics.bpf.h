/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * kmetrics.bpf.h - a metrics-only run counts in the kernel and sends nothing.
 *
 * With cfg.metrics_only (--metrics and no record output: no -o, --json,
 * --otlp, --timeline, --port or --address) every record the programs would
 * have made is counted here instead of reserved in the ring buffer, so a
 * busy server costs the tracer nothing per record: it reads these maps when
 * /metrics is scraped (SocktraceExport/KernelMetrics.swift). What is counted
 * is what TracerMetrics counts from records, with the same labels:
 *   km_stats          records by kind, accept's EAGAIN apart, the duration
 *                     histograms (count and sum per bucket), per CPU
 *   km_births         socket births by family, type, errno and comm
 *   km_births_other   the same without comm, once km_births is full
 * Both hashes are bounded (preallocated, never evicting); a birth neither has
 * room for is counted in km_stats.births_unkeyed, never dropped silently.
 *
 * Each emit point calls in here once: emit_call and the kernel-socket path
 * (births, km_birth), op_exit (bind/connect/listen/shutdown: a connect's outcome must
 * still be followed), reserve (every other kind: release, fork, exec, exit,
 * connect_result).
 *
 * Part of the one object: included by socktrace.bpf.c, after the files
 * listed before it there, which it uses.
 */
#ifndef __ST_KMETRICS_BPF_H
#define __ST_KMETRICS_BPF_H

#include "socktrace_kmetrics.h"

#ifndef EAGAIN
#define EAGAIN 11
#endif

/*
 * Per CPU, one entry: no cache line is shared between CPUs. The adds are
 * atomic all the same (a local, uncontended lock add): a program can be
 * preempted on a preemptible kernel, and the counts must be exact.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct st_km_stats);
} km_stats SEC(".maps");

/*
 * Births by (family, type, errno, comm): a plain hash, not an LRU (an LRU
 * would forget counts silently). Shared between CPUs, added to atomically:
 * a key's count is one u64, however many CPUs (a per-CPU hash would cost
 * keys x CPUs). The loader shrinks both to one entry when not metrics-only.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_KM_BIRTH_KEYS);
	__type(key, struct st_km_birth_key);
	__type(value, u64);
} km_births SEC(".maps");

/* Births whose comm found no room in km_births: comm is "other" (TracerMetrics). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_KM_OTHER_KEYS);
	__type(key, struct st_km_birth_key);
	__type(value, u64);
} km_births_other SEC(".maps");

static __always_inline struct st_km_stats *km_this_cpu(void)
{
	u32 zero = 0;

	return bpf_map_lookup_elem(&km_stats, &zero);
}

/* One record of `kind` counted, not sent. */
static __always_inline void km_record(u32 kind)
{
	struct st_km_stats *s = km_this_cpu();

	if (s)
		__sync_fetch_and_add(&s->records[kind & 15], 1);
}

/*
 * The bucket of a duration: TracerMetrics.durationBuckets in ns, `le` (an
 * edge's own value is in its bucket), 14 = +Inf. A ladder of compares, not a
 * loop: straight code every verifier takes, at most 14 compares.
 */
static __always_inline u32 km_bucket(u64 ns)
{
	if (ns <= 50000) {
		if (ns <= 1000)
			return 0;
		if (ns <= 2500)
			return 1;
		if (ns <= 5000)
			return 2;
		if (ns <= 10000)
			return 3;
		if (ns <= 25000)
			return 4;
		return 5;
	}
	if (ns <= 100000)
		return 6;
	if (ns <= 250000)
		return 7;
	if (ns <= 500000)
		return 8;
	if (ns <= 1000000)
		return 9;
	if (ns <= 2500000)
		return 10;
	if (ns <= 10000000)
		return 11;
	if (ns <= 100000000)
		return 12;
	if (ns <= 1000000000)
		return 13;
	return 14;
}

/* One duration into the histogram of (source, stage); both are constants or masked. */
static __always_inline void km_observe(struct st_km_stats *s, u32 source, u32 stage, u64 ns)
{
	struct st_km_bucket *b;

	if (source >= ST_KM_SOURCES || stage >= ST_KM_STAGES)
		return;
	b = &s->hist[source][stage][km_bucket(ns) & (ST_KM_BUCKETS - 1)];
	__sync_fetch_and_add(&b->count, 1);
	/*
	 * Not for 0: clang makes an atomic add of a constant 0 (a kernel
	 * socket's sock_map_fd stage) into an atomic fetch, which verifiers
	 * before 5.12 refuse ("BPF_STX uses reserved fields").
	 */
	if (ns)
		__sync_fetch_and_add(&b->sum_ns, ns);
}

/* Add one to `key` in `map`: true if counted. A key made meanwhile by another CPU is found. */
#define KM_ADD(map, key)                                                                   \
	({                                                                                 \
		u64 __one = 1, *__n = bpf_map_lookup_elem(&(map), (key));                  \
		bool __done = false;                                                       \
		if (__n) {                                                                 \
			__sync_fetch_and_add(__n, 1);                                      \
			__done = true;                                                     \
		} else if (bpf_map_update_elem(&(map), (key), &__one, BPF_NOEXIST) == 0) { \
			__done = true;                                                     \
		} else if ((__n = bpf_map_lookup_elem(&(map), (key)))) {                   \
			__sync_fetch_and_add(__n, 1);                                      \
			__done = true;                                                     \
		}                                                                          \
		__done;                                                                    \
	})

/* A birth by its labels: family and errno bounded as TracerMetrics bounds them. */
static __always_inline void km_count_birth(struct st_km_stats *s, int family, int type, long ret)
{
	struct st_km_birth_key key = {};
	long err = ret < 0 ? -ret : 0;

	key.family = family >= 0 && family < 256 ? family : -1;
	key.type = type & 15;
	key.err = err >= ST_KM_ERRNO_MAX ? ST_KM_ERRNO_MAX : err;
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	if (KM_ADD(km_births, &key))
		return;
	__builtin_memset(key.comm, 0, sizeof(key.comm));
	key.comm[15] = (char)0xff;
	if (KM_ADD(km_births_other, &key))
		return;
	__sync_fetch_and_add(&s->births_unkeyed, 1);
}

/*
 * The birth record of a socket-creating call, counted (emit_call). accept's
 * EAGAIN is the call working as meant on a non-blocking listener: counted
 * apart, neither a birth nor a duration. Stages only for socket() on a rung
 * that sees them, as the record would carry them.
 */
static __always_inline void km_birth(int kind, struct inflight *f, long ret, bool stages, u64 now)
{
	struct st_km_stats *s = km_this_cpu();

	if (!s)
		return;
	__sync_fetch_and_add(&s->records[kind & 15], 1);
	if (kind == ST_KIND_ACCEPT && ret == -EAGAIN) {
		__sync_fetch_and_add(&s->accept_would_block, 1);
		return;
	}
	km_count_birth(s, f->family, f->type, ret);
	km_observe(s, kind - 1, 0, now - f->start_ns);
	if (stages && kind == ST_KIND_SOCKET && f->create_end_ns) {
		km_observe(s, 0, 1, f->create_end_ns - f->create_start_ns);
		km_observe(s, 0, 2, now - f->create_end_ns);
	}
}

/*
 * bind/connect/listen/shutdown (op_exit): true when counted, not to be sent.
 * A connect that returned EINPROGRESS is marked returned all the same, so its
 * outcome is counted (emit_connected) and its slot in pending_connects freed.
 */
static __always_inline bool km_op(int kind, struct pending_connect *p, long ret)
{
	if (!cfg.metrics_only)
		return false;
	km_record(kind);
	if (p && ret == -EINPROGRESS)
		p->returned = 1;
	return true;
}

#endif /* __ST_KMETRICS_BPF_H */
