/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * process.bpf.h - fork, exec and exit of traced processes (sched tracepoints).
 *
 * Part of the one object: included by socktrace.bpf.c, after the files
 * listed before it there, which it uses.
 */
#ifndef __ST_PROCESS_BPF_H
#define __ST_PROCESS_BPF_H

/* ---- process lifecycle: sched tracepoints with BTF-typed arguments --------- */

SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	u32 ptgid = BPF_CORE_READ(parent, tgid);
	u32 ctgid = BPF_CORE_READ(child, tgid);
	u32 ctid, seen;
	struct st_fork *e;
	u8 one = 1;

	if (ctgid == ptgid || !tgid_traced(task_tgid_seen(parent, ptgid)))
		return 0; /* a new thread, or not ours */
	/* The child of a visible parent is visible: its namespace or one below. */
	seen = cfg.pidns_inum ? task_tgid_in_ns(child) : ctgid;
	if (cfg.filter_pids && cfg.follow && bpf_map_update_elem(&traced, &seen, &one, BPF_ANY))
		count_drop(ST_LOSS_TRACED_FULL, ST_KIND_FORK); /* a child not followed */
	if (!cfg.lifecycle)
		return 0;
	if (address_filter()) {
		if (!process_matched(ptgid))
			return 0; /* holds no matching socket: no process records */
		add_matched_process(ctgid); /* the child holds copies of them */
	}
	e = reserve(ST_KIND_FORK, sizeof(*e));
	if (!e)
		return 0;
	fill_header(&e->h, ST_KIND_FORK, sizeof(*e));
	ctid = cfg.pidns_inum ? task_tid_in_ns(child) : BPF_CORE_READ(child, pid);
	e->child_pid = seen;
	e->child_tid = ctid;
	submit(e, sizeof(*e));
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	struct mm_struct *mm;
	struct st_exec *e;
	unsigned long start, end, len;

	if (cfg.release_by_refs)
		release_at_exec();
	if (!cfg.lifecycle || !current_traced())
		return 0;
	if (address_filter() && !process_matched(bpf_get_current_pid_tgid() >> 32))
		return 0;
	e = reserve(ST_KIND_EXEC, sizeof(*e));
	if (!e)
		return 0;
	fill_header(&e->h, ST_KIND_EXEC, sizeof(*e));
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), BPF_CORE_READ(bprm, filename));
	mm = BPF_CORE_READ(task, mm);
	start = BPF_CORE_READ(mm, arg_start);
	end = BPF_CORE_READ(mm, arg_end);
	len = end > start ? end - start : 0;
	e->args_truncated = len > ST_ARGS_LEN;
	if (len > ST_ARGS_LEN)
		len = ST_ARGS_LEN;
	e->args_len = 0;
	/* ST_ARGS_LEN is a power of two: the mask bounds len for the verifier. */
	if (len && bpf_probe_read_user(e->args, ((len - 1) & (ST_ARGS_LEN - 1)) + 1,
				       (void *)start) == 0)
		e->args_len = len;
	submit(e, sizeof(*e));
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *task)
{
	u32 tgid = BPF_CORE_READ(task, tgid);
	u32 tid = BPF_CORE_READ(task, pid);   /* init namespace: the call slots' key */
	u32 seen;
	bool matched;
	struct st_exit *e;

	/* Every exiting thread frees its call slots (a lookup when it has none). */
	bpf_map_delete_elem(&inflight, &tid);
	bpf_map_delete_elem(&opflight, &tid);

	/* One record per thread group: signal->live reached 0 before this tracepoint. */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	matched = address_filter() && process_matched(tgid);
	if (matched)
		bpf_map_delete_elem(&matched_procs, &tgid); /* traced or not: the tgid may be reused */
	seen = task_tgid_seen(task, tgid);
	if (!tgid_traced(seen))
		return 0;
	if (cfg.lifecycle && (!address_filter() || matched)) {
		e = reserve(ST_KIND_EXIT, sizeof(*e));
		if (e) {
			fill_header(&e->h, ST_KIND_EXIT, sizeof(*e));
			e->exit_code = BPF_CORE_READ(task, exit_code);
			e->pad = 0;
			submit(e, sizeof(*e));
		}
	}
	/* A dead tgid may be reused by an unrelated process: stop tracing it. */
	if (cfg.filter_pids)
		bpf_map_delete_elem(&traced, &seen);
	return 0;
}

#endif /* __ST_PROCESS_BPF_H */
