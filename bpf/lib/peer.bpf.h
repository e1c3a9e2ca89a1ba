/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * peer.bpf.h - a socket's own address, and who holds the other end (issue 21).
 *
 * Both are read from the kernel's socket AFTER the call, so they say what the
 * kernel chose, not what was asked:
 *
 *   own address   inet:  sk->__sk_common.skc_rcv_saddr / skc_v6_rcv_saddr and
 *                        skc_num (the port bind(0), listen or connect picked;
 *                        inet_sport is the same number in network order)
 *                 unix:  unix_sk(sk)->addr, the name bound (or autobound):
 *                        struct unix_address { refcnt, len, hash, name[] },
 *                        len counting sun_family, abstract names from a NUL
 *
 *   other end     unix only: the kernel keeps the peer's credentials on the
 *                 socket (sk_peer_pid, what SO_PEERCRED returns):
 *                   listen(2)        init_peercred(sk): the listener's process
 *                   connect(2)       unix_stream_connect: the new server-side
 *                                    sock gets the client's (init_peercred),
 *                                    the client's sock a copy of the listener's
 *                   socketpair(2)    both ends: the caller
 *                 so at connect exit sk_peer_pid is the process that called
 *                 listen, at accept exit the one that called connect. The peer
 *                 sock itself is unix_sk(sk)->peer; its sk_socket (NULL while
 *                 an embryo waits in the accept queue) gives the peer's inode.
 *                 A datagram connect sets unix_peer but no credentials: the
 *                 inode alone, joined to its holder in user space.
 *                 TCP and UDP keep nothing of the kind: user space joins the
 *                 4-tuple (Sources/SocktraceCore/Join/PeerJoin.swift).
 *
 * Part of the one object: included by socktrace.bpf.c, after the files
 * listed before it there, which it uses.
 */
#ifndef __ST_PEER_BPF_H
#define __ST_PEER_BPF_H

#define ST_PIDTYPE_TGID 1 /* enum pid_type: PIDTYPE_PID, PIDTYPE_TGID, ... (4.19+) */

/*
 * The socket's own address as getsockname(2) would give it, into out
 * (ST_LOCAL_LEN bytes, zeroed first). Returns the bytes used; 0 for a family
 * without one here, or an unbound unix socket.
 */
static __always_inline u16 read_local_address(struct sock *sk, u8 *out)
{
	u16 family;

	__builtin_memset(out, 0, ST_LOCAL_LEN);
	if (!sk)
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family == AF_INET) {
		__be32 addr = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__be16 port = bpf_htons(BPF_CORE_READ(sk, __sk_common.skc_num));

		/* struct sockaddr_in: family, port, address (network order), zero[8] */
		__builtin_memcpy(out, &family, 2);
		__builtin_memcpy(out + 2, &port, 2);
		__builtin_memcpy(out + 4, &addr, 4);
		return 16;
	}
	if (family == AF_INET6) {
		__be16 port = bpf_htons(BPF_CORE_READ(sk, __sk_common.skc_num));

		/* struct sockaddr_in6: family, port, flowinfo, address, scope id */
		__builtin_memcpy(out, &family, 2);
		__builtin_memcpy(out + 2, &port, 2);
		bpf_core_read(out + 8, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		return 28;
	}
	if (family == AF_UNIX) {
		struct unix_address *ua = BPF_CORE_READ((struct unix_sock *)sk, addr);
		u32 len;

		if (!ua)
			return 0; /* never bound: no name */
		len = BPF_CORE_READ(ua, len);
		/*
		 * The bound the verifier needs for the read, tested on its own: the
		 * barrier keeps clang from folding both tests into one unsigned
		 * compare of len - 3, which tells the verifier nothing of len.
		 */
		if (len > sizeof(struct sockaddr_un))
			return 0;
		asm volatile("" : "+r"(len));
		if (len <= 2)
			return 0; /* sun_family alone: no name */
		bpf_probe_read_kernel(out, len, (void *)ua + bpf_core_field_offset(ua->name));
		return len;
	}
	return 0;
}

/* A pid's number as the tracer's namespace sees it (0: none there). */
static __always_inline u32 pid_number(struct pid *pid)
{
	if (!pid)
		return 0;
	if (cfg.pidns_inum)
		return pid_nr_in_ns(pid, BPF_CORE_READ(pid, level));
	return BPF_CORE_READ(pid, numbers[0].nr);
}

/*
 * The command name of the thread group a tgid pid names: its leader is the
 * first task on pid->tasks[PIDTYPE_TGID], linked by task->pid_links[TGID].
 */
static __always_inline void pid_comm(struct pid *pid, char *comm)
{
	struct hlist_node *first = NULL;
	struct task_struct *task;

	bpf_core_read(&first, sizeof(first), &pid->tasks[ST_PIDTYPE_TGID].first);
	if (!first)
		return; /* the process has exited: the number is all there is */
	task = (void *)first - bpf_core_field_offset(struct task_struct, pid_links) -
	       ST_PIDTYPE_TGID * sizeof(struct hlist_node);
	bpf_core_read_str(comm, ST_COMM_LEN, &task->comm);
}

/*
 * The other end of a unix socket: its process (from sk_peer_pid) and its
 * socket's inode (from unix_sk(sk)->peer). Nothing for other families.
 */
static __always_inline void read_unix_peer(struct sock *sk, u64 *inode, u32 *pid, char *comm)
{
	struct pid *peer_pid;
	struct sock *peer;

	*inode = 0;
	*pid = 0;
	__builtin_memset(comm, 0, ST_COMM_LEN);
	if (!sk || BPF_CORE_READ(sk, __sk_common.skc_family) != AF_UNIX)
		return;
	peer = BPF_CORE_READ((struct unix_sock *)sk, peer);
	if (peer) {
		struct socket *sock = BPF_CORE_READ(peer, sk_socket);

		if (sock)
			*inode = socket_inode(sock);
	}
	peer_pid = BPF_CORE_READ(sk, sk_peer_pid);
	*pid = pid_number(peer_pid);
	if (*pid)
		pid_comm(peer_pid, comm);
}

/*
 * bind, connect, listen: the address the call left the socket with (a
 * failed call's is not said), and for connect the other end. Shutdown: none.
 */
static __always_inline void fill_op_peer(struct st_sockop *e, int kind, struct socket *sock, long ret)
{
	struct sock *sk = NULL;

	if (sock && (ret == 0 || (kind == ST_KIND_CONNECT && ret == -EINPROGRESS)) &&
	    kind != ST_KIND_SHUTDOWN)
		sk = BPF_CORE_READ(sock, sk);
	e->local_len = read_local_address(sk, e->local);
	read_unix_peer(kind == ST_KIND_CONNECT ? sk : NULL, &e->peer_inode, &e->peer_pid,
		       e->peer_comm);
	e->pad2[0] = 0;
	e->pad2[1] = 0;
}

#endif /* __ST_PEER_BPF_H */
