/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * io_uring.bpf.h - IORING_OP_SOCKET and IORING_OP_ACCEPT, on every rung.
 *
 * Part of the one object: included by socktrace.bpf.c, after the files
 * listed before it there, which it uses.
 */
#ifndef __ST_IO_URING_BPF_H
#define __ST_IO_URING_BPF_H

/* ---- io_uring: IORING_OP_SOCKET and IORING_OP_ACCEPT, on every rung ---------
 *
 * io_uring_enter(2) -> io_submit_sqe: trace io_uring_submit_sqe / _submit_req
 *   IORING_OP_SOCKET: io_socket -> __sys_socket_file -> __sock_create (kern=0)
 *     -> fd_install (or a fixed-file slot)
 *   IORING_OP_ACCEPT: io_accept -> do_accept -> fd_install (multishot: one cqe
 *     with IORING_CQE_F_MORE per connection)
 * -> io_uring_complete (cqe res = fd or -errno), inline, from task work or an
 *   io-wq worker thread of the same process.
 * No syscall tracepoint and no __sys_socket sees these. The op is remembered
 * at submission by (ring, user_data) and emitted at each completion. The
 * tracepoints' arguments changed over time: cfg.io_uring_form (from the
 * kernel's BTF, by the loader) says which signature this kernel has.
 */

/* The listening socket of an accept from the file it was submitted on. */
static __always_inline void uring_listener(struct inflight *f, struct file *file, int fd)
{
	struct socket *listener = file_socket(file);

	if (!listener)
		return;
	f->fd2 = fd;
	f->inode2 = socket_inode(listener);
	f->family = BPF_CORE_READ(listener, sk, __sk_common.skc_family);
	f->type = BPF_CORE_READ(listener, type);
	f->protocol = BPF_CORE_READ(listener, sk, sk_protocol);
}

static __always_inline void uring_submit(u64 ring, u64 user_data, u8 opcode, struct io_kiocb *req)
{
	struct uring_key key = {.ring = ring, .user_data = user_data};
	struct uring_op op = {}, *old;

	if (opcode != IORING_OP_SOCKET && opcode != IORING_OP_ACCEPT)
		return;
	if (!current_traced())
		return;
	old = bpf_map_lookup_elem(&uring_ops, &key);
	if (old) {
		old->refs++; /* same ring and user_data in flight twice: rare, unlocked */
		return;
	}
	op.refs = 1;
	op.f.kind = opcode == IORING_OP_SOCKET ? ST_KIND_SOCKET : ST_KIND_ACCEPT;
	op.f.via = ST_VIA_IO_URING;
	op.f.start_ns = bpf_ktime_get_boot_ns();
	op.f.resolved_type = -1;
	op.f.resolved_protocol = -1;
	op.f.fd2 = -1;
	if (cfg.io_uring_form == ST_URING_SQE_CTX) {
		/* 5.x: the file is assigned before the tracepoint; op data in a union */
		if (opcode == IORING_OP_ACCEPT)
			uring_listener(&op.f, BPF_CORE_READ(req, file), -1);
	} else {
		/* 6.x: prep has filled the op data in req->cmd; the file comes at issue */
		void *cmd = (void *)req + bpf_core_field_offset(req->cmd);

		if (opcode == IORING_OP_SOCKET) {
			struct io_socket *sk = cmd;

			op.f.family = BPF_CORE_READ(sk, domain);
			op.f.type = BPF_CORE_READ(sk, type);
			op.f.protocol = BPF_CORE_READ(sk, protocol);
			op.f.direct = BPF_CORE_READ(sk, file_slot) != 0;
		} else {
			struct io_accept *acc = cmd;
			int fd = BPF_CORE_READ(req, cqe.fd);

			uring_listener(&op.f, fd_file(fd), fd);
			op.f.direct = BPF_CORE_READ(acc, file_slot) != 0;
		}
	}
	bpf_map_update_elem(&uring_ops, &key, &op, BPF_ANY);
}

/* A submission known only by its request: ring, user_data and opcode read from it. */
static __always_inline void uring_submit_request(struct io_kiocb *req)
{
	uring_submit((u64)BPF_CORE_READ(req, ctx), BPF_CORE_READ(req, cqe.user_data),
		     BPF_CORE_READ(req, opcode), req);
}

/* io_uring_submit_sqe(ctx, req, opcode, user_data, flags, ...) or (req, force_nonblock). */
SEC("tp_btf/io_uring_submit_sqe")
int tp_io_uring_submit_sqe(u64 *ctx)
{
	if (cfg.io_uring_form == ST_URING_SQE_CTX)
		uring_submit(ctx[0], ctx[3], (u8)ctx[2], (struct io_kiocb *)ctx[1]);
	else
		uring_submit_request((struct io_kiocb *)ctx[0]);
	return 0;
}

SEC("tp_btf/io_uring_submit_req")
int tp_io_uring_submit_req(u64 *ctx)
{
	uring_submit_request((struct io_kiocb *)ctx[0]);
	return 0;
}

/* A socket op's cqe: the new fd's socket (none for a direct descriptor). */
static __always_inline void uring_complete_socket(struct inflight *f, int res)
{
	if (res >= 0 && !f->direct)
		read_socket(f, fd_socket(res));
	emit_call(ST_KIND_SOCKET, f, res, ST_PROBE_TRACEPOINT, false);
}

/* An accept's cqe: the new fd's socket, its peer and the flags its fd got. */
static __always_inline void uring_complete_accept(struct inflight *f, int res)
{
	if (res >= 0 && !f->direct) {
		struct file *file = fd_file(res);
		struct socket *sock = fd_socket(res);

		read_socket(f, sock);
		if (f->inode) /* its own address and peer (peer.bpf.h) */
			f->sk = (u64)BPF_CORE_READ(sock, sk);
		/* the flags the new fd was given, as the fd table has them */
		if (file) {
			f->type &= ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (BPF_CORE_READ(file, f_flags) & SOCK_NONBLOCK)
				f->type |= SOCK_NONBLOCK;
			if (fd_cloexec(res))
				f->type |= SOCK_CLOEXEC;
		}
		if (f->family == 0 && f->inode) {
			f->family = BPF_CORE_READ(sock, sk, __sk_common.skc_family);
			f->type = f->resolved_type;
			f->protocol = f->resolved_protocol;
		}
	}
	emit_call(ST_KIND_ACCEPT, f, res, ST_PROBE_TRACEPOINT, false);
}

/*
 * io_uring_complete(ctx, req, user_data, res, cflags[, extra1, extra2]),
 * (ctx, req, cqe) or (ctx, user_data, res, cflags): one record per cqe of a
 * remembered op.
 */
SEC("tp_btf/io_uring_complete")
int tp_io_uring_complete(u64 *ctx)
{
	struct uring_key key = {.ring = ctx[0]};
	struct uring_op *op;
	struct inflight f;
	int res;
	u32 cflags;

	if (cfg.io_uring_complete == ST_URING_CQE_PTR) {
		struct io_uring_cqe *cqe = (struct io_uring_cqe *)ctx[2];

		key.user_data = BPF_CORE_READ(cqe, user_data);
		res = BPF_CORE_READ(cqe, res);
		cflags = BPF_CORE_READ(cqe, flags);
	} else if (cfg.io_uring_complete == ST_URING_CQE_NO_REQ) {
		key.user_data = ctx[1];
		res = (int)ctx[2];
		cflags = (u32)ctx[3];
	} else {
		key.user_data = ctx[2];
		res = (int)ctx[3];
		cflags = (u32)ctx[4];
	}
	op = bpf_map_lookup_elem(&uring_ops, &key);
	if (!op)
		return 0;
	f = op->f;
	f.fd = res;
	/*
	 * One emit_call per kind, each with its kind a constant: with the kind
	 * a value known only at run time the verifier walked every path of
	 * emit_call for both (this program was 70% of the tracer's start-up).
	 */
	if (f.kind == ST_KIND_ACCEPT)
		uring_complete_accept(&f, res);
	else
		uring_complete_socket(&f, res);
	if (!(cflags & IORING_CQE_F_MORE) && op->refs-- <= 1)
		bpf_map_delete_elem(&uring_ops, &key);
	return 0;
}

#endif /* __ST_IO_URING_BPF_H */
