/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * socktrace_kmetrics.h - what the kernel counts for a metrics-only run.
 *
 * `socktrace serve --metrics` (or `socktrace --metrics`) with no record output
 * sets st_config.metrics_only: the programs then send no record to user space
 * and count here instead (bpf/lib/kmetrics.bpf.h); the tracer reads these maps
 * when /metrics is scraped (SocktraceExport/KernelMetrics.swift). Plain C
 * types, explicit padding: both compilers lay them out alike.
 */
#ifndef SOCKTRACE_KMETRICS_H
#define SOCKTRACE_KMETRICS_H

/* The creation-duration histograms' edges, in ns, as TracerMetrics.durationBuckets
 * has them in seconds (le: a value equal to an edge is in that bucket). */
#define ST_KM_EDGES 14
#define ST_KM_BUCKETS 16  /* 14 edges, +Inf, one spare: an index masked by 15 stays inside */
#define ST_KM_SOURCES 3   /* socket, socketpair, accept (kind - 1) */
#define ST_KM_STAGES 3    /* total, sock_create, sock_map_fd */
#define ST_KM_BIRTH_KEYS 8192 /* km_births: (family, type, errno, comm) keys */
#define ST_KM_OTHER_KEYS 4096 /* km_births_other: (family, type, errno), comm "other" */
#define ST_KM_ERRNO_MAX 4096  /* errno above 4095 counts as 4096 (TracerMetrics) */

/* A key of km_births and km_births_other; value: u64 births. */
struct st_km_birth_key {
	int family;    /* 0..255, or -1 for any other number */
	int type;      /* the type without flags: 0..15 */
	int err;       /* 0 for success, else the errno, at most ST_KM_ERRNO_MAX */
	unsigned int pad;
	/* the command; in km_births_other all NUL but byte 15 = 0xff (no real comm has it) */
	char comm[16];
};

/* One histogram bucket: how many, and their sum (ns). */
struct st_km_bucket {
	unsigned long long count;
	unsigned long long sum_ns;
};

/* km_stats: one per CPU (a per-CPU array of one entry), summed by the reader. */
struct st_km_stats {
	unsigned long long records[16];     /* records counted instead of sent, by kind */
	unsigned long long accept_would_block; /* accept EAGAIN: counted, not a birth */
	unsigned long long births_unkeyed;  /* births neither map had room for */
	struct st_km_bucket hist[ST_KM_SOURCES][ST_KM_STAGES][ST_KM_BUCKETS];
};

#endif /* SOCKTRACE_KMETRICS_H */
