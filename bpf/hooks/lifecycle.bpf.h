/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * lifecycle.bpf.h - what a socket became: bind, connect, listen, shutdown.
 *
 * Syscall tracepoints, and inet_sock_set_state for a non-blocking connect's outcome.
 *
 * Part of the one object: included by socktrace.bpf.c, after the files
 * listed before it there, which it uses.
 */
#ifndef __ST_LIFECYCLE_BPF_H
#define __ST_LIFECYCLE_BPF_H

/* ---- what a socket became: bind, connect, listen, shutdown ---------------- */

/*
 * Syscall tracepoints on every rung: the address is copied from user memory at
 * entry (as passed), the socket's inode is read from the fd table at exit, so
 * each record joins its socket's birth (or says the socket was born before).
 */

static __always_inline void op_enter(int kind, int fd, int arg, const void *uaddr, u32 addr_len)
{
	u32 tid = current_tid();
	struct opflight *f;

	if (!current_traced())
		return;
	f = bpf_map_lookup_elem(&opflight, &tid); /* the thread's slot, as in start_call */
	if (!f) {
		struct opflight fresh = {};

		bpf_map_update_elem(&opflight, &tid, &fresh, BPF_NOEXIST);
		f = bpf_map_lookup_elem(&opflight, &tid);
		if (!f) {
			count_drop(ST_LOSS_OPFLIGHT_FULL, kind);
			return;
		}
	}
	f->start_ns = bpf_ktime_get_boot_ns();
	f->kind = kind;
	f->fd = fd;
	f->arg = arg;
	f->addr_len = addr_len;
	__builtin_memset(f->addr, 0, sizeof(f->addr));
	if (uaddr && addr_len) {
		u32 len = addr_len > ST_ADDR_LEN ? ST_ADDR_LEN : addr_len;

		/* ST_ADDR_LEN is a power of two: the mask bounds len for the verifier. */
		bpf_probe_read_user(f->addr, ((len - 1) & (ST_ADDR_LEN - 1)) + 1, uaddr);
	}
}

/* A non-blocking connect on a TCP socket is followed to its outcome. */
static __always_inline void watch_connect(int fd, u64 start_ns)
{
	struct pending_connect p = {};
	struct file *file = fd_file(fd);
	struct socket *sock;
	u64 sk;
	u16 family;

	if (!file || !(BPF_CORE_READ(file, f_flags) & O_NONBLOCK))
		return;
	sock = file_socket(file);
	if (!sock || BPF_CORE_READ(sock, type) != SOCK_STREAM)
		return;
	sk = (u64)BPF_CORE_READ(sock, sk);
	family = BPF_CORE_READ((struct sock *)sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return;
	if (socket_selection() && !socket_wanted(family, SOCK_STREAM, 0))
		return; /* its outcome would be a record of an excluded socket */
	p.start_ns = start_ns;
	p.inode = socket_inode(sock);
	if (bpf_map_update_elem(&pending_connects, &sk, &p, BPF_ANY) != 0)
		count_drop(ST_LOSS_PENDING_FULL, ST_KIND_CONNECTED); /* its outcome cannot be followed */
}

static __always_inline void emit_connected(struct pending_connect *p, struct sock *sk)
{
	struct st_connected *e;

	if (address_filter() && !socket_matched(p->inode))
		return;
	e = reserve(ST_KIND_CONNECTED, sizeof(*e));
	if (!e)
		return;
	e->h = p->h;
	e->h.kind = ST_KIND_CONNECTED;
	e->h.size = sizeof(*e);
	e->h.ts_ns = p->outcome_ns;
	e->inode = p->inode;
	e->duration_ns = p->outcome_ns - p->start_ns;
	e->error = p->error;
	e->state = p->state;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	e->local_len = read_local_address(sk, e->local); /* issue 21: the source address */
	submit(e, sizeof(*e));
}

static __always_inline void op_exit(int kind, long ret)
{
	u32 tid = current_tid();
	struct opflight *f = bpf_map_lookup_elem(&opflight, &tid);
	struct pending_connect *p = NULL;
	struct st_sockop *e;
	struct socket *sock;
	u64 sk = 0, now, inode;

	if (!f || f->kind != kind)
		return;
	sock = fd_socket(f->fd);
	if (kind == ST_KIND_CONNECT && sock) {
		sk = (u64)BPF_CORE_READ(sock, sk);
		p = bpf_map_lookup_elem(&pending_connects, &sk);
	}
	/* --family/--type/--failed hold for every record of a socket, not only its birth. */
	if (socket_selection() &&
	    (!sock || !socket_wanted(BPF_CORE_READ(sock, sk, __sk_common.skc_family), BPF_CORE_READ(sock, type), 0)))
		goto out;
	if (address_filter() && sock) {
		inode = socket_inode(sock);

		/* bind and connect can make a socket match; listen and shutdown only follow */
		if ((kind == ST_KIND_BIND || kind == ST_KIND_CONNECT) &&
		    sockaddr_matches(f->addr, f->addr_len))
			mark_matched(inode);
		if (!socket_matched(inode))
			goto out;
		remember_matched_process(); /* it holds a matching socket: its fork/exec/exit too */
	} else if (address_filter()) {
		goto out;
	}
	if (km_op(kind, p, ret)) /* metrics only: counted, not sent */
		goto out;
	e = reserve(kind, sizeof(*e));
	if (!e)
		goto out;
	now = bpf_ktime_get_boot_ns();
	fill_header_at(&e->h, kind, sizeof(*e), now);
	inode = sock ? socket_inode(sock) : 0;
	e->inode = inode;
	e->duration_ns = now - f->start_ns;
	e->fd = f->fd;
	e->ret = ret;
	e->arg = f->arg;
	e->addr_len = f->addr_len;
	e->family = sock ? BPF_CORE_READ(sock, sk, __sk_common.skc_family) : -1;
	e->type = sock ? BPF_CORE_READ(sock, type) : -1;
	e->bits = f->addr_len ? ST_OP_HAS_ADDR : 0;
	/* the key on the stack: 6.1 takes no ring-buffer memory as a map key */
	if (inode && !bpf_map_lookup_elem(&births, &inode))
		e->bits |= ST_OP_UNTRACED_BIRTH;
	e->pad = 0;
	__builtin_memcpy(e->addr, f->addr, sizeof(e->addr));
	fill_op_peer(e, kind, sock, ret); /* issue 21: own address, the other end */
	if (p && ret == -EINPROGRESS) {
		p->h = e->h;
		p->returned = 1;
	}
	submit(e, sizeof(*e));
out:
	if (p) {
		if (ret != -EINPROGRESS)
			bpf_map_delete_elem(&pending_connects, &sk);
		else if (p->outcome_ns) {
			emit_connected(p, (struct sock *)sk); /* the handshake ended inside the call */
			bpf_map_delete_elem(&pending_connects, &sk);
		}
	}
	f->kind = 0;
}

SEC("tracepoint/syscalls/sys_enter_bind")
int tp_enter_bind(struct syscall_enter_ctx *ctx)
{
	op_enter(ST_KIND_BIND, ctx->args[0], 0, (const void *)ctx->args[1], ctx->args[2]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_bind")
int tp_exit_bind(struct syscall_exit_ctx *ctx)
{
	op_exit(ST_KIND_BIND, ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_connect")
int tp_enter_connect(struct syscall_enter_ctx *ctx)
{
	u32 tid = current_tid();
	struct opflight *f;

	op_enter(ST_KIND_CONNECT, ctx->args[0], 0, (const void *)ctx->args[1], ctx->args[2]);
	f = bpf_map_lookup_elem(&opflight, &tid);
	if (f && f->kind == ST_KIND_CONNECT)
		watch_connect(f->fd, f->start_ns);
	if (f && f->kind == ST_KIND_CONNECT)
		note_connecting(f->fd); /* issue 21: the client of a later accept (peer.bpf.h) */
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int tp_exit_connect(struct syscall_exit_ctx *ctx)
{
	op_exit(ST_KIND_CONNECT, ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_listen")
int tp_enter_listen(struct syscall_enter_ctx *ctx)
{
	op_enter(ST_KIND_LISTEN, ctx->args[0], ctx->args[1], NULL, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_listen")
int tp_exit_listen(struct syscall_exit_ctx *ctx)
{
	op_exit(ST_KIND_LISTEN, ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_shutdown")
int tp_enter_shutdown(struct syscall_enter_ctx *ctx)
{
	op_enter(ST_KIND_SHUTDOWN, ctx->args[0], ctx->args[1], NULL, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_shutdown")
int tp_exit_shutdown(struct syscall_exit_ctx *ctx)
{
	op_exit(ST_KIND_SHUTDOWN, ctx->ret);
	return 0;
}

/*
 * Every TCP state change on the machine passes here (often in softirq, on
 * behalf of no particular task): one lookup, and only a connect being
 * followed goes further. SYN_SENT -> ESTABLISHED is success; -> CLOSE carries
 * the socket's error (ECONNREFUSED, ETIMEDOUT, ...).
 */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(handle_inet_state, struct sock *sk, int oldstate, int newstate)
{
	u64 key = (u64)sk;
	struct pending_connect *p;

	note_established(sk, oldstate, newstate); /* issue 21: a client's 4-tuple (peer.bpf.h) */
	if (oldstate != TCP_SYN_SENT)
		return 0;
	p = bpf_map_lookup_elem(&pending_connects, &key);
	if (!p)
		return 0;
	p->outcome_ns = bpf_ktime_get_boot_ns();
	p->state = newstate;
	p->error = newstate == TCP_ESTABLISHED ? 0 : BPF_CORE_READ(sk, sk_err);
	if (!p->returned)
		return 0; /* connect(2) still in flight: it emits both records */
	emit_connected(p, sk);
	bpf_map_delete_elem(&pending_connects, &key);
	return 0;
}

#endif /* __ST_LIFECYCLE_BPF_H */
