/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * syscalls.bpf.h - socket(2), socketpair(2), accept(2) at their syscall tracepoints.
 *
 * socket(2), socketpair(2) and accept(2) here are rung 3; rungs 1 and 2 hook
 * the kernel functions instead (socket_functions.bpf.h, call_functions.bpf.h)
 * and share the enter/exit helpers defined here.
 *
 * Part of the one object: included by socktrace.bpf.c, after the files
 * listed before it there, which it uses.
 */
#ifndef __ST_SYSCALLS_BPF_H
#define __ST_SYSCALLS_BPF_H

/* ---- rung 3: syscall tracepoints ----------------------------------------- */

SEC("tracepoint/syscalls/sys_enter_socket")
int tp_enter_socket(struct syscall_enter_ctx *ctx)
{
	start_call(ST_KIND_SOCKET, ctx->args[0], ctx->args[1], ctx->args[2]);
	return 0;
}

/*
 * A syscall's first four arguments from the user registers the kernel saved
 * (task_pt_regs), read with CO-RE (libbpf's PT_REGS_PARM*_CORE_SYSCALL trip
 * newer clang's const checks). x86-64: di, si, dx, r10. arm64: x0 holds the
 * return value by sys_exit, orig_x0 the first argument.
 */
#if defined(__TARGET_ARCH_arm64)
struct pt_regs___st {
	u64 orig_x0;
} __attribute__((preserve_access_index));
#endif

static __always_inline void st_syscall_args(struct pt_regs *regs, long args[4])
{
#if defined(__TARGET_ARCH_x86)
	args[0] = BPF_CORE_READ(regs, di);
	args[1] = BPF_CORE_READ(regs, si);
	args[2] = BPF_CORE_READ(regs, dx);
	args[3] = BPF_CORE_READ(regs, r10);
#elif defined(__TARGET_ARCH_arm64)
	struct user_pt_regs *user = (struct user_pt_regs *)regs;

	args[0] = BPF_CORE_READ((struct pt_regs___st *)regs, orig_x0);
	args[1] = BPF_CORE_READ(user, regs[1]);
	args[2] = BPF_CORE_READ(user, regs[2]);
	args[3] = BPF_CORE_READ(user, regs[3]);
#endif
}

/*
 * A call whose sys_exit fired without its sys_enter: seccomp answered it.
 * syscall_trace_enter runs the seccomp filters before trace_sys_enter; a
 * filter's SECCOMP_RET_ERRNO (or a USER_NOTIF supervisor's error) skips the
 * call and the enter tracepoint, but syscall_exit_work still fires sys_exit.
 * Only failures of a task under a seccomp filter count (a ptracer skipping
 * the call at its entry stop looks the same, and a call entered before the
 * tracer attached has no entry either: the filter test rules most of those
 * out). The arguments come from the task's saved user registers
 * (bpf_task_pt_regs, 5.15+); before that they are unknown (-1,
 * ST_CAUSE_NO_ARGS). Returns the slot to finish, or NULL.
 */
static __always_inline struct inflight *start_unentered(int kind, long ret)
{
	long args[4] = {-1, -1, -1, -1};
	struct inflight *f;
	u16 bits = ST_CAUSE_SECCOMP;

	if (ret >= 0 || !current_seccomp_filtered())
		return NULL;
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_task_pt_regs)) {
		struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());

		st_syscall_args(regs, args);
	} else {
		bits |= ST_CAUSE_NO_ARGS;
	}
	if (kind == ST_KIND_ACCEPT) {
		f = start_call(ST_KIND_ACCEPT, -1, -1, -1);
		if (f)
			f->fd2 = (int)args[0];
	} else {
		f = start_call(kind, (int)args[0], (int)args[1], (int)args[2]);
	}
	if (f)
		f->cause_bits |= bits;
	return f;
}

/* sock_map_fd has installed the file by now: read the socket from the fd table. */
static __always_inline void socket_exit(long ret)
{
	u32 tid = current_tid();
	struct inflight *f = bpf_map_lookup_elem(&inflight, &tid);

	if (f && f->kind != ST_KIND_SOCKET && f->finished == ST_KIND_SOCKET) {
		f->finished = 0; /* a function rung's fexit emitted this call */
		return;
	}
	if (!f || f->kind != ST_KIND_SOCKET) {
		f = start_unentered(ST_KIND_SOCKET, ret);
		if (!f)
			return;
	}
	if (ret >= 0)
		read_socket(f, fd_socket(ret));
	finish_call(ST_KIND_SOCKET, f, ret, ST_PROBE_TRACEPOINT, false);
	f->finished = 0;
}

SEC("tracepoint/syscalls/sys_exit_socket")
int tp_exit_socket(struct syscall_exit_ctx *ctx)
{
	socket_exit(ctx->ret);
	return 0;
}

/* ---- socketpair(2) and accept(2): syscall tracepoints, rung 3 ------------- */

SEC("tracepoint/syscalls/sys_enter_socketpair")
int tp_enter_socketpair(struct syscall_enter_ctx *ctx)
{
	struct inflight *f;

	f = start_call(ST_KIND_SOCKETPAIR, ctx->args[0], ctx->args[1], ctx->args[2]);
	if (f)
		f->uptr = ctx->args[3];
	return 0;
}

/* probe: the hook finishing the call (ST_PROBE_*; call_functions.bpf.h on rungs 1 and 2). */
static __always_inline void socketpair_exit(long ret, u8 probe)
{
	u32 tid = current_tid();
	struct inflight *f = bpf_map_lookup_elem(&inflight, &tid);
	int fds[2] = {-1, -1};

	if (!f || f->kind != ST_KIND_SOCKETPAIR) {
		f = start_unentered(ST_KIND_SOCKETPAIR, ret);
		if (!f)
			return;
	}
	if (ret == 0 && bpf_probe_read_user(fds, sizeof(fds), (void *)f->uptr) == 0) {
		struct socket *second = fd_socket(fds[1]);

		read_socket(f, fd_socket(fds[0]));
		f->inode2 = second ? socket_inode(second) : 0;
		f->fd = fds[0];
		f->fd2 = fds[1];
	}
	finish_call(ST_KIND_SOCKETPAIR, f, ret, probe, false);
	f->finished = 0;
}

SEC("tracepoint/syscalls/sys_exit_socketpair")
int tp_exit_socketpair(struct syscall_exit_ctx *ctx)
{
	socketpair_exit(ctx->ret, ST_PROBE_TRACEPOINT);
	return 0;
}

static __always_inline void accept_enter(int listen_fd, int flags)
{
	struct inflight *f;
	struct socket *listener;

	f = start_call(ST_KIND_ACCEPT, 0, 0, 0);
	if (!f)
		return;
	listener = fd_socket(listen_fd);
	f->fd2 = listen_fd;
	if (listener) {
		f->inode2 = socket_inode(listener);
		f->family = BPF_CORE_READ(listener, sk, __sk_common.skc_family);
		/* accept4's SOCK_NONBLOCK/SOCK_CLOEXEC are the new socket's flags. */
		f->type = BPF_CORE_READ(listener, type) | flags;
		f->protocol = BPF_CORE_READ(listener, sk, sk_protocol);
	}
}

static __always_inline void accept_exit(long ret, u8 probe)
{
	u32 tid = current_tid();
	struct inflight *f = bpf_map_lookup_elem(&inflight, &tid);

	if (!f || f->kind != ST_KIND_ACCEPT) {
		f = start_unentered(ST_KIND_ACCEPT, ret);
		if (!f)
			return;
	}
	if (ret >= 0) {
		struct socket *sock = fd_socket(ret);

		read_socket(f, sock);
		read_peer(f, sock);
		f->sk = sock ? (u64)BPF_CORE_READ(sock, sk) : 0; /* its own address, its peer */
	}
	finish_call(ST_KIND_ACCEPT, f, ret, probe, false);
	f->finished = 0;
}

SEC("tracepoint/syscalls/sys_enter_accept4")
int tp_enter_accept4(struct syscall_enter_ctx *ctx)
{
	accept_enter(ctx->args[0], ctx->args[3]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int tp_exit_accept4(struct syscall_exit_ctx *ctx)
{
	accept_exit(ctx->ret, ST_PROBE_TRACEPOINT);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_accept")
int tp_enter_accept(struct syscall_enter_ctx *ctx)
{
	accept_enter(ctx->args[0], 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int tp_exit_accept(struct syscall_exit_ctx *ctx)
{
	accept_exit(ctx->ret, ST_PROBE_TRACEPOINT);
	return 0;
}

#endif /* __ST_SYSCALLS_BPF_H */
