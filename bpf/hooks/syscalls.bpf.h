/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * syscalls.bpf.h - socket(2), socketpair(2), accept(2) at their syscall tracepoints.
 *
 * socket(2) here is rung 3; socketpair and accept are traced here on every rung.
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

/* sock_map_fd has installed the file by now: read the socket from the fd table. */
static __always_inline void socket_exit(long ret)
{
	u32 tid = current_tid();
	struct inflight *f = bpf_map_lookup_elem(&inflight, &tid);

	if (!f || f->kind != ST_KIND_SOCKET)
		return;
	if (ret >= 0)
		read_socket(f, fd_socket(ret));
	finish_call(ST_KIND_SOCKET, f, ret, ST_PROBE_TRACEPOINT, false);
}

SEC("tracepoint/syscalls/sys_exit_socket")
int tp_exit_socket(struct syscall_exit_ctx *ctx)
{
	socket_exit(ctx->ret);
	return 0;
}

/* ---- socketpair(2) and accept(2): syscall tracepoints on every rung -------- */

SEC("tracepoint/syscalls/sys_enter_socketpair")
int tp_enter_socketpair(struct syscall_enter_ctx *ctx)
{
	struct inflight *f;

	f = start_call(ST_KIND_SOCKETPAIR, ctx->args[0], ctx->args[1], ctx->args[2]);
	if (f)
		f->uptr = ctx->args[3];
	return 0;
}

static __always_inline void socketpair_exit(long ret)
{
	u32 tid = current_tid();
	struct inflight *f = bpf_map_lookup_elem(&inflight, &tid);
	int fds[2] = {-1, -1};

	if (!f || f->kind != ST_KIND_SOCKETPAIR)
		return;
	if (ret == 0 && bpf_probe_read_user(fds, sizeof(fds), (void *)f->uptr) == 0) {
		struct socket *second = fd_socket(fds[1]);

		read_socket(f, fd_socket(fds[0]));
		f->inode2 = second ? socket_inode(second) : 0;
		f->fd = fds[0];
		f->fd2 = fds[1];
	}
	finish_call(ST_KIND_SOCKETPAIR, f, ret, ST_PROBE_TRACEPOINT, false);
}

SEC("tracepoint/syscalls/sys_exit_socketpair")
int tp_exit_socketpair(struct syscall_exit_ctx *ctx)
{
	socketpair_exit(ctx->ret);
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

static __always_inline void accept_exit(long ret)
{
	u32 tid = current_tid();
	struct inflight *f = bpf_map_lookup_elem(&inflight, &tid);

	if (!f || f->kind != ST_KIND_ACCEPT)
		return;
	if (ret >= 0) {
		struct socket *sock = fd_socket(ret);

		read_socket(f, sock);
		read_peer(f, sock);
	}
	finish_call(ST_KIND_ACCEPT, f, ret, ST_PROBE_TRACEPOINT, false);
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
	accept_exit(ctx->ret);
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
	accept_exit(ctx->ret);
	return 0;
}

#endif /* __ST_SYSCALLS_BPF_H */
