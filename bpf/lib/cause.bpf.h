/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * cause.bpf.h - why a socket-creating call failed: what only the kernel can tell.
 *
 * The cause itself (bad_flags, fd_limit, permission, ...) is decided in user
 * space from the arguments, the errno and the figures gathered here
 * (Sources/SocktraceCore/Decode/FailureCause.swift). Here, for a failed call:
 *   - the task's effective capabilities: inet_create refuses SOCK_RAW and
 *     packet_create every socket with -EPERM unless
 *     ns_capable(net->user_ns, CAP_NET_RAW); pfkey_create wants CAP_NET_ADMIN;
 *   - for EMFILE, RLIMIT_NOFILE's soft limit and the number of open fds:
 *     get_unused_fd_flags -> alloc_fd refuses an fd >= rlimit(RLIMIT_NOFILE);
 *   - what the hooks of hooks/cause.bpf.h saw during the call (the module
 *     request_module was asked for, the security module that refused);
 *   - a call seccomp answered (hooks/syscalls.bpf.h: sys_exit without sys_enter).
 *
 * Part of the one object: included by socktrace.bpf.c, after the files
 * listed before it there, which it uses.
 */
#ifndef __ST_CAUSE_BPF_H
#define __ST_CAUSE_BPF_H

#define EMFILE 24
#define RLIMIT_NOFILE 7
#define SECCOMP_MODE_FILTER 2

/* A call starts with nothing known about why it might fail. */
static __always_inline void start_cause(struct inflight *f)
{
	f->lsm = ST_LSM_NONE;
	f->finished = 0;
	f->cause_bits = 0;
	f->fd_limit = -1;
	f->open_fds = -1;
	f->cap_effective = 0;
	f->module[0] = 0;
}

/*
 * Bits set in the current task's open_fds bitmap: the fds alloc_fd counted
 * as taken. Bounded: ST_FD_WORDS words (the table grows in words of 64 fds),
 * past that ST_CAUSE_FDS_CAPPED says the count is a lower bound.
 */
static __always_inline int count_open_fds(struct task_struct *task, u16 *bits)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	unsigned long *open = BPF_CORE_READ(fdt, open_fds);
	u32 words = BPF_CORE_READ(fdt, max_fds) / 64;
	int n = 0;
	u32 i;

	if (words > ST_FD_WORDS) {
		words = ST_FD_WORDS;
		*bits |= ST_CAUSE_FDS_CAPPED;
	}
	for (i = 0; i < ST_FD_WORDS; i++) {
		u64 word = 0;

		if (i >= words)
			break;
		bpf_probe_read_kernel(&word, sizeof(word), open + i);
		n += __builtin_popcountll(word);
	}
	return n;
}

/* A failed call: read what explains it, before its record is reserved. */
static __always_inline void note_cause(struct inflight *f, long ret)
{
	struct task_struct *task;
	struct cred *cred;
	u64 caps = 0;
	u16 bits = 0;

	if (ret >= 0)
		return;
	task = (struct task_struct *)bpf_get_current_task();
	/*
	 * The capability checks in the families' create functions are
	 * ns_capable(net->user_ns, CAP): the effective set counts where the
	 * task's credentials belong to the user namespace owning its netns.
	 * kernel_cap_t is u32[2] before 6.3 and one u64 since: the same 8
	 * bytes on a little-endian machine.
	 */
	cred = BPF_CORE_READ(task, cred);
	if (cred && bpf_probe_read_kernel(&caps, sizeof(caps),
					  (void *)cred + bpf_core_field_offset(cred->cap_effective)) == 0) {
		bits |= ST_CAUSE_HAS_CAPS;
		if (BPF_CORE_READ(cred, user_ns) == BPF_CORE_READ(task, nsproxy, net_ns, user_ns))
			bits |= ST_CAUSE_CAPS_NET_NS;
	}
	f->cap_effective = caps;
	if (ret == -EMFILE) {
		u64 limit = BPF_CORE_READ(task, signal, rlim[RLIMIT_NOFILE].rlim_cur);

		f->fd_limit = limit > 0x7fffffff ? 0x7fffffff : (int)limit;
		f->open_fds = count_open_fds(task, &bits);
		bits |= ST_CAUSE_FD_FIGURES;
	}
	f->cause_bits |= bits;
}

/* Whether the current task runs under a seccomp filter (SECCOMP_MODE_FILTER). */
static __always_inline bool current_seccomp_filtered(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	if (!bpf_core_field_exists(task->seccomp))
		return false;
	return BPF_CORE_READ(task, seccomp.mode) == SECCOMP_MODE_FILTER;
}

/* The record's cause fields, from the call's slot. */
static __always_inline void fill_cause(struct st_socket *e, struct inflight *f, long ret)
{
	e->cause_bits = f->cause_bits;
	e->lsm = f->lsm;
	e->cap_effective = f->cap_effective;
	e->fd_limit = f->fd_limit;
	e->open_fds = f->open_fds;
	__builtin_memset(e->pad3, 0, sizeof(e->pad3));
	__builtin_memcpy(e->module, f->module, sizeof(e->module));
}

#endif /* __ST_CAUSE_BPF_H */
