/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * inflight.bpf.h - a thread's call slot: a socket-creating call from entry to exit.
 *
 * Part of the one object: included by socktrace.bpf.c, after the files
 * listed before it there, which it uses.
 */
#ifndef __ST_INFLIGHT_BPF_H
#define __ST_INFLIGHT_BPF_H

/*
 * A thread's slot in `inflight`, made on its first socket call and reused by
 * every later one (a lookup and stores, not an update of the hash and a
 * delete per call); handle_exit frees it when the thread exits. Every field
 * is set here: a slot holds its last call until the next.
 */
static __always_inline struct inflight *start_call(int kind, int family, int type, int protocol)
{
	u32 tid = current_tid();
	struct inflight *f;

	if (!current_traced())
		return NULL;
	f = bpf_map_lookup_elem(&inflight, &tid);
	/* A 32-bit socket() that the ia32 hook began (it knows socketcall from a
	 * direct call): __sys_socket adds its stages to that record. */
	if (f && f->kind == kind && (f->via == ST_VIA_IA32 || f->via == ST_VIA_SOCKETCALL) &&
	    !f->create_start_ns)
		return f;
	if (!f) {
		struct inflight fresh = {};

		bpf_map_update_elem(&inflight, &tid, &fresh, BPF_NOEXIST);
		f = bpf_map_lookup_elem(&inflight, &tid);
		if (!f) {
			count_drop(ST_LOSS_INFLIGHT_FULL, kind);
			return NULL;
		}
	}
	f->start_ns = bpf_ktime_get_boot_ns();
	f->create_start_ns = 0;
	f->create_end_ns = 0;
	f->inode = 0;
	f->inode2 = 0;
	f->uptr = 0;
	f->kind = kind;
	f->family = family;
	f->type = type;
	f->protocol = protocol;
	f->create_ret = 0;
	f->resolved_type = -1;
	f->resolved_protocol = -1;
	f->fd = 0;
	f->fd2 = -1;
	f->peer_family = 0;
	f->peer_port = 0;
	__builtin_memset(f->peer_addr, 0, sizeof(f->peer_addr));
	f->via = current_ia32() ? ST_VIA_IA32 : ST_VIA_SYSCALL;
	f->direct = 0;
	start_cause(f);
	f->sk = 0;
	return f;
}

/* Emit the one record of a socket-creating call, then free its slot. */
static __always_inline void finish_call(int kind, struct inflight *f, long ret, u8 probe,
					bool stages)
{
	emit_call(kind, f, ret, probe, stages);
	f->finished = f->kind; /* the sys_exit that follows knows the call was entered */
	f->kind = 0; /* done: the slot waits for the thread's next call */
}

#endif /* __ST_INFLIGHT_BPF_H */
