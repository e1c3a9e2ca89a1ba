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
 *                 TCP keeps nothing of the kind, so the client is noted by its
 *                 4-tuple: its connect(2) entry remembers sk -> its process
 *                 (`connecting`), and when the handshake reaches ESTABLISHED
 *                 on its side (SYN_SENT -> ESTABLISHED, inet_sock_set_state:
 *                 the source port is chosen by then, and the server has not
 *                 got the final ACK yet, so no accept can have returned) the
 *                 4-tuple -> process goes into `tcp_ends`, which the server's
 *                 accept exit looks up with its new socket's tuple reversed.
 *                 A connect's own peer (the listener's process) and UDP are
 *                 joined in user space (Sources/SocktraceCore/Peers/PeerJoin.swift).
 *
 * Part of the one object: included by socktrace.bpf.c, after the files
 * listed before it there, which it uses.
 */
#ifndef __ST_PEER_BPF_H
#define __ST_PEER_BPF_H

#define ST_PIDTYPE_TGID 1 /* enum pid_type: PIDTYPE_PID, PIDTYPE_TGID, ... (4.19+) */
#define ST_IPPROTO_TCP 6

/* The current process's pid as the tracer's namespace numbers it (0: not there). */
static __always_inline u32 current_tgid_in_ns(void)
{
	if (!cfg.pidns_inum)
		return bpf_get_current_pid_tgid() >> 32;
	return task_tgid_in_ns((struct task_struct *)bpf_get_current_task());
}

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

/* ---- TCP: the client of an accepted connection, by 4-tuple --------------- */

struct tcp_end_key {
	u8 saddr[16]; /* IPv4 in the first 4 bytes */
	u8 daddr[16];
	u16 sport;    /* host order */
	u16 dport;
	u32 netns;
};

struct tcp_end {
	u32 pid; /* as the tracer's pid namespace numbers it */
	u32 pad;
	char comm[ST_COMM_LEN];
};

/* connect(2) in flight on a TCP socket (struct sock *) -> its process. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, u64);
	__type(value, struct tcp_end);
} connecting SEC(".maps");

/* A TCP client's 4-tuple once established -> its process, until accepted. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct tcp_end_key);
	__type(value, struct tcp_end);
} tcp_ends SEC(".maps");

/* sk's 4-tuple as its own side sees it (saddr/sport its own); false if not inet. */
static __always_inline bool tcp_tuple(struct sock *sk, struct tcp_end_key *key)
{
	u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	__builtin_memset(key, 0, sizeof(*key));
	if (family == AF_INET) {
		__be32 s = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__be32 d = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		__builtin_memcpy(key->saddr, &s, 4);
		__builtin_memcpy(key->daddr, &d, 4);
	} else if (family == AF_INET6) {
		bpf_core_read(key->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(key->daddr, 16, &sk->__sk_common.skc_v6_daddr);
	} else {
		return false;
	}
	key->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	key->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	key->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	return true;
}

/* connect(2) entry: remember which process this TCP socket's connect is. */
static __always_inline void note_connecting(int fd)
{
	struct socket *sock = fd_socket(fd);
	struct tcp_end who = {};
	u64 sk;

	if (!sock || BPF_CORE_READ(sock, type) != SOCK_STREAM)
		return;
	sk = (u64)BPF_CORE_READ(sock, sk);
	who.pid = current_tgid_in_ns();
	bpf_get_current_comm(who.comm, sizeof(who.comm));
	bpf_map_update_elem(&connecting, &sk, &who, BPF_ANY);
}

/* The client's side reached ESTABLISHED: its tuple now names its process. */
static __always_inline void note_established(struct sock *sk, int oldstate, int newstate)
{
	u64 key = (u64)sk;
	struct tcp_end_key tuple;
	struct tcp_end *who;

	if (oldstate != TCP_SYN_SENT)
		return;
	who = bpf_map_lookup_elem(&connecting, &key);
	if (!who)
		return;
	if (newstate == TCP_ESTABLISHED && tcp_tuple(sk, &tuple))
		bpf_map_update_elem(&tcp_ends, &tuple, who, BPF_ANY);
	bpf_map_delete_elem(&connecting, &key);
}

/* accept exit: the client of the new TCP socket, by its tuple reversed. */
static __always_inline void read_tcp_peer(struct sock *sk, u32 *pid, char *comm)
{
	struct tcp_end_key mine, theirs;
	struct tcp_end *who;

	if (!sk || BPF_CORE_READ(sk, sk_protocol) != ST_IPPROTO_TCP || !tcp_tuple(sk, &mine))
		return;
	__builtin_memcpy(theirs.saddr, mine.daddr, 16);
	__builtin_memcpy(theirs.daddr, mine.saddr, 16);
	theirs.sport = mine.dport;
	theirs.dport = mine.sport;
	theirs.netns = mine.netns;
	who = bpf_map_lookup_elem(&tcp_ends, &theirs);
	if (!who)
		return; /* remote, or a client whose connect was not traced */
	*pid = who->pid;
	__builtin_memcpy(comm, who->comm, ST_COMM_LEN);
	bpf_map_delete_elem(&tcp_ends, &theirs);
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
