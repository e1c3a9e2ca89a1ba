/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * births.bpf.h - sockets born under tracing: only these get a release record.
 *
 * Part of the one object: included by socktrace.bpf.c, after the files
 * listed before it there, which it uses.
 */
#ifndef __ST_BIRTHS_BPF_H
#define __ST_BIRTHS_BPF_H

/* lost: the birth record was lost; its release is then counted, not sent. */
static __always_inline void remember_birth(u64 inode, int family, bool lost)
{
	int value = lost ? family | ST_BIRTH_LOST : family;

	if (!cfg.lifecycle || !inode)
		return;
	if (bpf_map_update_elem(&births, &inode, &value, BPF_ANY))
		count_drop(ST_LOSS_BIRTHS_FULL, ST_KIND_RELEASE);
}

#endif /* __ST_BIRTHS_BPF_H */
