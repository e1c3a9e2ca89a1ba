/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * record.bpf.h - reserve, fill and submit records in the ring buffer.
 *
 * The header every record starts with, the socket-birth record (fill_socket)
 * and its one emitter (emit_call), births held for --port/--address.
 *
 * Part of the one object: included by socktrace.bpf.c, after the files
 * listed before it there, which it uses.
 */
#ifndef __ST_RECORD_BPF_H
#define __ST_RECORD_BPF_H

static __always_inline void *reserve(u32 kind, u32 size)
{
	void *rec;

	if (cfg.metrics_only) { /* counted, never sent (kmetrics.bpf.h) */
		km_record(kind);
		return NULL;
	}
	rec = bpf_ringbuf_reserve(&events, size, 0);
	if (!rec)
		count_drop(ST_LOSS_RING_FULL, kind);
	return rec;
}

/*
 * Wake the reader for a record that lands in an empty ring, and for no other:
 * flags 0 let the kernel wake only when the consumer has caught up to this
 * record, so a lone event is delivered at once. A storm stays batched because
 * the reader, after each drain, lets records gather for a short window before
 * it waits again: records landing meanwhile find the ring non-empty and wake
 * nobody, so a storm costs at most one wakeup (an irq_work) per window.
 * cfg.wake_every_record forces a wakeup per record (a diagnostic).
 */
static __always_inline void submit(void *rec, u32 size)
{
	bpf_ringbuf_submit(rec, cfg.wake_every_record ? BPF_RB_FORCE_WAKEUP : 0);
}

/*
 * The current task's parent tgid and network namespace, as one word (ppid in
 * the high half): read straight through bpf_get_current_task_btf() where it
 * exists. A global function, verified once per program and not once per path
 * that fills a header: each field read through that trusted pointer makes the
 * verifier search the kernel's BTF by name (btf_nested_type_is_trusted), a
 * linear scan that was 39% of the tracer's start-up when inlined everywhere.
 */
__attribute__((noinline)) u64 current_ppid_netns(void)
{
	u32 ppid, netns;

	if (HAVE_TASK_BTF) {
		struct task_struct *task = bpf_get_current_task_btf();

		ppid = task->real_parent->tgid;
		netns = task->nsproxy->net_ns->ns.inum;
	} else {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();

		ppid = BPF_CORE_READ(task, real_parent, tgid);
		netns = BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
	}
	return (u64)ppid << 32 | netns;
}

static __always_inline void fill_header_at(struct st_header *h, u16 kind, u16 size, u64 now)
{
	u64 id = bpf_get_current_pid_tgid();
	u64 ugid = bpf_get_current_uid_gid();
	u64 ppid_netns = current_ppid_netns();

	h->kind = kind;
	h->size = size;
	h->cpu = bpf_get_smp_processor_id();
	h->ts_ns = now;
	h->pid = id >> 32;
	h->tid = (u32)id;
	h->ppid = ppid_netns >> 32;
	h->netns = (u32)ppid_netns;
	if (cfg.pidns_inum) { /* as the tracer's namespace sees them */
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();

		h->pid = task_tgid_in_ns(task);
		h->tid = task_tid_in_ns(task);
		h->ppid = task_tgid_in_ns(BPF_CORE_READ(task, real_parent));
	}
	h->uid = (u32)ugid;
	h->gid = ugid >> 32;
	h->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

static __always_inline void fill_header(struct st_header *h, u16 kind, u16 size)
{
	fill_header_at(h, kind, size, bpf_ktime_get_boot_ns());
}

/* A socket matched: its held birth goes out first, then everything it does. */
static __always_inline void mark_matched(u64 inode)
{
	struct st_socket *birth, *e;
	u8 one = 1;

	if (!inode)
		return;
	remember_matched_process();
	if (bpf_map_lookup_elem(&matched, &inode))
		return;
	if (bpf_map_update_elem(&matched, &inode, &one, BPF_ANY) != 0)
		count_drop(ST_LOSS_FILTER_FULL, 0); /* its later records cannot be kept */
	birth = bpf_map_lookup_elem(&held, &inode);
	if (!birth)
		return;
	e = reserve(birth->h.kind, sizeof(*e));
	if (e) {
		__builtin_memcpy(e, birth, sizeof(*e));
		submit(e, sizeof(*e));
	}
	bpf_map_delete_elem(&held, &inode);
}

/* The record of a socket-creating call, from its state in flight. */
static __always_inline void fill_socket(struct st_socket *e, int kind, struct inflight *f, long ret,
					u8 probe, bool stages, u64 now)
{
	fill_header_at(&e->h, kind, sizeof(*e), now);
	e->family = f->family;
	e->type = f->type;
	e->protocol = f->protocol;
	e->ret = ret;
	e->fd = ret >= 0 ? (kind == ST_KIND_SOCKETPAIR ? f->fd : ret) : -1;
	e->fd2 = f->fd2;
	e->probe = probe;
	e->via = f->via;
	__builtin_memset(e->pad2, 0, sizeof(e->pad2));
	e->duration_ns = now - f->start_ns;
	e->resolved_type = f->resolved_type;
	e->resolved_protocol = f->resolved_protocol;
	e->bits = 0;
	if (f->direct) { /* io_uring direct descriptor: a fixed-file slot, no fd */
		e->fd = -1;
		e->bits |= ST_BIT_DIRECT;
	}
	if (ret >= 0) {
		e->inode = f->inode;
		e->inode2 = f->inode2;
		if (f->inode)
			e->bits |= ST_BIT_HAS_INODE;
	} else {
		e->inode = 0;
		e->inode2 = kind == ST_KIND_ACCEPT ? f->inode2 : 0;
	}
	/* local address and peer (issue 21): read from the socket now, after the call */
	e->local_len = read_local_address(ret >= 0 ? (struct sock *)f->sk : NULL, e->local);
	read_unix_peer(ret >= 0 ? (struct sock *)f->sk : NULL, &e->peer_inode, &e->peer_pid,
		       e->peer_comm);
	if (!e->peer_pid)
		read_tcp_peer(ret >= 0 ? (struct sock *)f->sk : NULL, &e->peer_pid, e->peer_comm);
	e->state = 0;
	e->pad4 = 0;
	e->peer_family = f->peer_family;
	e->peer_port = f->peer_port;
	__builtin_memcpy(e->peer_addr, f->peer_addr, sizeof(e->peer_addr));
	e->sock_create_ns = 0;
	e->sock_map_fd_ns = 0;
	fill_cause(e, f, ret);
	e->failed_stage = ST_STAGE_UNKNOWN;
	if (stages) {
		e->bits |= ST_BIT_HAS_STAGE_INFO;
		if (f->create_end_ns) {
			e->bits |= ST_BIT_HAS_STAGES;
			e->sock_create_ns = f->create_end_ns - f->create_start_ns;
			e->sock_map_fd_ns = now - f->create_end_ns;
		}
		if (ret < 0) {
			if (!f->create_end_ns)
				e->failed_stage = ST_STAGE_SYS_SOCKET;
			else if (f->create_ret < 0)
				e->failed_stage = ST_STAGE_SOCK_CREATE;
			else
				e->failed_stage = ST_STAGE_SOCK_MAP_FD;
		}
	}
}

/*
 * With --port/--address a new socket has no address yet: its birth is held in
 * `held` until a bind or connect matches (then it goes out first), and
 * dropped with the socket otherwise. An accepted socket is kept when its
 * listener matched or its peer does.
 */
static __always_inline bool birth_kept(int kind, struct inflight *f, long ret, u8 probe, bool stages,
				       u64 now)
{
	u32 zero = 0;
	struct st_socket *rec;

	if (!address_filter())
		return true;
	if (ret < 0)
		return false; /* no socket, so never an address */
	if (kind == ST_KIND_ACCEPT)
		return socket_matched(f->inode2) ||
		       ((f->peer_family == AF_INET || f->peer_family == AF_INET6) &&
			inet_matches(f->peer_family, f->peer_port, f->peer_addr));
	/* A scratch record, not the stack: with io_uring's copy of the slot a
	 * whole st_socket on the stack passes BPF's 512 bytes. */
	rec = bpf_map_lookup_elem(&held_scratch, &zero);
	if (!rec)
		return false;
	__builtin_memset(rec, 0, sizeof(*rec));
	fill_socket(rec, kind, f, ret, probe, stages, now);
	if (bpf_map_update_elem(&held, &f->inode, rec, BPF_ANY) != 0)
		count_drop(ST_LOSS_FILTER_FULL, kind); /* the birth is lost if its socket matches later */
	if (kind == ST_KIND_SOCKETPAIR && f->inode2)
		bpf_map_update_elem(&held, &f->inode2, rec, BPF_ANY);
	return false;
}

/*
 * The sockets a successful call made (socketpair: two), remembered for their
 * release records. lost: the birth record was lost; the releases are then
 * counted, not sent.
 */
static __always_inline void remember_births(int kind, struct inflight *f, long ret, bool lost)
{
	if (ret < 0)
		return;
	remember_birth(f->inode, f->family, lost);
	if (kind == ST_KIND_SOCKETPAIR)
		remember_birth(f->inode2, f->family, lost);
}

/* Emit the one record of a socket-creating call. */
static __always_inline void emit_call(int kind, struct inflight *f, long ret, u8 probe, bool stages)
{
	u64 now = bpf_ktime_get_boot_ns();
	struct st_socket *e;

	if (!socket_wanted(f->family, f->type, ret))
		return;
	note_cause(f, ret); /* before the reservation: the kernel's side of why it failed */
	if (!birth_kept(kind, f, ret, probe, stages, now)) {
		remember_births(kind, f, ret, false); /* held: its release is decided by the filter */
		return;
	}
	if (cfg.metrics_only) /* counted with its labels, never sent (kmetrics.bpf.h) */
		km_birth(kind, f, ret, stages, now), e = NULL;
	else
		e = reserve(kind, sizeof(*e));
	/*
	 * One test of e, right here: a second one is a branch 6.1's verifier
	 * cannot prune for ring-buffer memory, and it then sees the record leak.
	 * A lost birth's release is lost with it: remembered, to be counted.
	 * A birth counted in the kernel was not lost: its release is counted too.
	 */
	if (!e) {
		remember_births(kind, f, ret, !cfg.metrics_only);
		return;
	}
	remember_births(kind, f, ret, false);
	fill_socket(e, kind, f, ret, probe, stages, now);
	submit(e, sizeof(*e));
	if (address_filter())
		mark_matched(f->inode); /* an accepted socket of a matched listener */
}

#endif /* __ST_RECORD_BPF_H */
