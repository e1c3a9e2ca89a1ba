/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * release.bpf.h - a socket born under tracing goes away: release or close.
 *
 * Part of the one object: included by socktrace.bpf.c, after the files
 * listed before it there, which it uses.
 */
#ifndef __ST_RELEASE_BPF_H
#define __ST_RELEASE_BPF_H

/* ---- socket release -------------------------------------------------------- */

static __always_inline void emit_release(u64 inode, u32 how)
{
	int *family = bpf_map_lookup_elem(&births, &inode);
	struct st_release *e;

	if (!family)
		return; /* not born under tracing */
	if (address_filter() && !socket_matched(inode)) {
		bpf_map_delete_elem(&held, &inode); /* it never matched: nothing was said of it */
		goto out;
	}
	if (*family & ST_BIRTH_LOST) {
		count_drop(ST_LOSS_UNRECORDED_BIRTH, ST_KIND_RELEASE);
		goto out;
	}
	e = reserve(ST_KIND_RELEASE, sizeof(*e));
	if (e) {
		fill_header(&e->h, ST_KIND_RELEASE, sizeof(*e));
		e->inode = inode;
		e->how = how;
		e->family = *family;
		submit(e, sizeof(*e));
	}
	if (address_filter())
		bpf_map_delete_elem(&matched, &inode);
out:
	bpf_map_delete_elem(&births, &inode);
}

/*
 * __sock_release(sock, inode): the socket is going away, whoever holds it.
 * Called from sock_close (last fput) and sock_release (kernel sockets).
 */
SEC("fentry/__sock_release")
int BPF_PROG(fentry_sock_release, struct socket *sock)
{
	emit_release(socket_inode(sock), ST_RELEASE_SOCK);
	return 0;
}

SEC("kprobe/__sock_release")
int BPF_KPROBE(kprobe_sock_release, struct socket *sock)
{
	emit_release(socket_inode(sock), ST_RELEASE_SOCK);
	return 0;
}

/*
 * Tracepoint rung: no hook sees the socket die, so close(2) of an fd holding a
 * socket born under tracing stands for it (labelled "close", not "release").
 * Emitted at entry: close(2) gives up the fd whatever it returns, so there is
 * nothing to wait for at exit.
 */
SEC("tracepoint/syscalls/sys_enter_close")
int tp_enter_close(struct syscall_enter_ctx *ctx)
{
	u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct socket *sock;

	if (!maybe_owner(tgid))
		return 0; /* holds no socket born under tracing: nothing to release */
	sock = fd_socket(ctx->args[0]);
	if (sock)
		emit_release(socket_inode(sock), ST_RELEASE_CLOSE);
	return 0;
}

#endif /* __ST_RELEASE_BPF_H */
