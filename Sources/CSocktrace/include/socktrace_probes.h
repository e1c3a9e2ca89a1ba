/*
 * socktrace_probes.h - host-side helpers around libbpf that are awkward in
 * Swift: raw program loads with option structs (LIBBPF_OPTS does not import)
 * and the variadic log callback.
 */
#ifndef SOCKTRACE_PROBES_H
#define SOCKTRACE_PROBES_H

/*
 * Loads and attaches a two-instruction fentry program on the kernel function
 * with BTF id `btf_id` (from st_btf_find_functions), then detaches it. Proves
 * what BTF alone cannot: lockdown or a missing trampoline refuses here.
 * Returns 0, or -errno: -ENOENT no such function (id 0), -EPERM refused, ...
 */
int st_fentry_can_attach(int btf_id);

/* Whether vmlinux BTF is there (its header): 0, or -errno. */
int st_vmlinux_btf_available(void);

/*
 * ids[i] = the BTF id of the FUNC names[i] in vmlinux BTF, 0 if there is
 * none: one pass over the raw type section, nothing parsed or kept.
 * Returns 0 or -errno.
 */
int st_btf_find_functions(const char *const *names, int count, int *ids);

/* A tp_btf tracepoint's parameters, without the leading `void *__data`:
 * kinds[i] is 1 for a pointer, 2 for anything else; count -1: no tracepoint. */
struct st_tracepoint_params {
	int count;
	unsigned char kinds[16];
};

/*
 * From one walk over vmlinux BTF: the parameters of the io_uring_complete,
 * io_uring_submit_req and io_uring_submit_sqe tracepoints (typedefs
 * btf_trace_NAME), whether enum io_uring_op has IORING_OP_SOCKET, and
 * whether the kernel runs 32-bit x86 syscalls (FUNC __ia32_sys_socketcall).
 * Returns 0 or -errno.
 */
int st_btf_other_paths(struct st_tracepoint_params *complete, struct st_tracepoint_params *submit_req,
		       struct st_tracepoint_params *submit_sqe, int *io_uring_socket_op, int *ia32);

/*
 * Marks found[i] = 1 for each names[i] that is a symbol in /proc/kallsyms
 * (a quarter of a million lines: scanned in C). Returns the hits or -errno.
 */
int st_kallsyms_lookup(const char *const *names, int count, unsigned char *found);

struct bpf_link;

/*
 * bpf_link__destroy on every link, concurrently: each detach of a tracepoint
 * waits for an RCU grace period, so one after another a stop took 0.7 s.
 */
void st_destroy_links(struct bpf_link **links, int count);

/*
 * Routes libbpf's log: to stderr when verbose, otherwise kept quietly; the
 * last warning line stays readable through st_libbpf_last_warning().
 */
void st_libbpf_set_logging(int verbose);
const char *st_libbpf_last_warning(void);

/*
 * 1 if tracepoint programs may call bpf_loop (5.17+): libbpf loads a trial
 * program that calls it, so this is the verifier's own answer. Else 0.
 */
int st_bpf_loop_available(void);

/* 1 if path is a tracefs mount (statfs f_type), readable or not; else 0. */
int st_is_tracefs(const char *path);

/*
 * A u64 the kernel updates with atomics in a mapped BPF array (the loss
 * counters): one relaxed load, so the compiler neither tears nor caches it.
 */
static inline unsigned long long st_load_u64(const unsigned long long *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/*
 * A copy of another process's fd (pidfd_open + pidfd_getfd, 5.6+; the kernel
 * checks ptrace access), close-on-exec; -errno on failure. The snapshot asks a
 * socket no /proc/net table lists for its family, type and address this way.
 */
int st_copy_fd(int pid, int fd);

#endif /* SOCKTRACE_PROBES_H */
