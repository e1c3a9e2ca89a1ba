/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * owners.bpf.h - sockets born under tracing, and the processes holding them.
 *
 * A release record is made only for a socket in `births`; on the tracepoint
 * rung close(2) is looked at only for a process in `owners`.
 *
 * Part of the one object: included by socktrace.bpf.c, after the files
 * listed before it there, which it uses.
 */
#ifndef __ST_OWNERS_BPF_H
#define __ST_OWNERS_BPF_H

static __always_inline u32 *owner_hint(u32 tgid)
{
	u32 slot = tgid & (ST_OWNER_HINTS - 1);

	return bpf_map_lookup_elem(&owner_hints, &slot);
}

/* Whether tgid may hold sockets born under tracing (false is certain). */
static __always_inline bool maybe_owner(u32 tgid)
{
	u32 *hint = owner_hint(tgid);

	return hint && *hint && bpf_map_lookup_elem(&owners, &tgid);
}

static __always_inline void remember_owner(u32 tgid)
{
	u32 *hint = owner_hint(tgid);
	u8 one = 1;
	long err;

	if (!hint)
		return;
	if (*hint && bpf_map_lookup_elem(&owners, &tgid))
		return; /* a lookup is cheaper than an update that changes nothing */
	/* Full only past 65536 live socket-owning processes: their closes go unseen. */
	err = bpf_map_update_elem(&owners, &tgid, &one, BPF_NOEXIST);
	if (err == 0)
		__sync_fetch_and_add(hint, 1); /* only the insert that made the entry counts */
	else if (err != -EEXIST)
		count_drop(ST_LOSS_OWNERS_FULL, ST_KIND_RELEASE);
}

/* A thread group is gone: it owns nothing any more (its hint goes down once). */
static __always_inline void forget_owner(u32 tgid)
{
	u32 *hint = owner_hint(tgid);

	if (hint && *hint && bpf_map_delete_elem(&owners, &tgid) == 0)
		__sync_fetch_and_add(hint, -1);
}

/* lost: the birth record was lost; its release is then counted, not sent. */
static __always_inline void remember_birth(u64 inode, int family, bool lost)
{
	int value = lost ? family | ST_BIRTH_LOST : family;

	if (!cfg.lifecycle || !inode)
		return;
	if (bpf_map_update_elem(&births, &inode, &value, BPF_ANY))
		count_drop(ST_LOSS_BIRTHS_FULL, ST_KIND_RELEASE);
	remember_owner(bpf_get_current_pid_tgid() >> 32);
}

#endif /* __ST_OWNERS_BPF_H */
