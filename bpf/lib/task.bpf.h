/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * task.bpf.h - the current task: tid, pid namespaces, 32-bit syscalls.
 *
 * Part of the one object: included by socktrace.bpf.c, after the files
 * listed before it there, which it uses.
 */
#ifndef __ST_TASK_BPF_H
#define __ST_TASK_BPF_H

/* ---- pid namespaces: pids as the tracer's namespace numbers them ----------
 *
 * The helpers and task->tgid give init-namespace pids; a tracer in a PID
 * namespace (a container) knows its own namespace's: -p, the command it runs,
 * its getpid(). A task's struct pid holds one number per level, numbers[L]
 * in the level-L namespace the task is in, so a task of a namespace nested in
 * the tracer's has a number in the tracer's too. A task with none there (the
 * host's, another container's) is invisible to the tracer: pid 0, and never
 * traced (docs/faults.md, "PID namespaces").
 *
 * cfg.pidns_inum is 0 when the tracer is in the init namespace: every branch
 * on it is pruned by the verifier, the pids are the helpers' own, for free.
 * Else pidns_probe, run once by the loader in the tracer's own context before
 * anything is attached, finds the tracer's level and namespace.
 */
u32 pidns_level; /* the tracer's namespace's level (0: init) */
u64 pidns;       /* its struct pid_namespace *: compared, never followed */

/* The number of `pid` (whose own level is `level`) in the tracer's namespace, or 0. */
static __always_inline u32 pid_nr_in_ns(struct pid *pid, u32 level)
{
	struct upid up = {};
	u32 at = pidns_level;

	if (!pid || level < at)
		return 0;
	bpf_probe_read_kernel(&up, sizeof(up),
			      (void *)pid + bpf_core_field_offset(pid->numbers) +
				      at * bpf_core_type_size(struct upid));
	return (u64)up.ns == pidns ? up.nr : 0;
}

/* A task's tgid (its leader's pid) or tid in the tracer's namespace: probe reads. */
static __always_inline u32 task_tgid_in_ns(struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, group_leader, thread_pid);

	return pid_nr_in_ns(pid, BPF_CORE_READ(pid, level));
}

static __always_inline u32 task_tid_in_ns(struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, thread_pid);

	return pid_nr_in_ns(pid, BPF_CORE_READ(pid, level));
}

/*
 * For tgid_traced: a tgid the tracer sees, or, for a task it cannot see, the
 * tracer's own, which tgid_traced refuses like the tracer itself (so the init
 * namespace's path has no test of its own for invisible tasks).
 */
static __always_inline u32 seen_or_self(u32 tgid)
{
	return tgid ? tgid : cfg.self_tgid;
}

/* A task's tgid as the tracer sees it (for tgid_traced), given the init namespace's. */
static __always_inline u32 task_tgid_seen(struct task_struct *task, u32 tgid)
{
	return cfg.pidns_inum ? seen_or_self(task_tgid_in_ns(task)) : tgid;
}

/* The current task's tgid as the tracer sees it (for tgid_traced). */
static __always_inline u32 current_tgid_seen(void)
{
	if (!cfg.pidns_inum)
		return bpf_get_current_pid_tgid() >> 32;
	if (HAVE_TASK_BTF) {
		struct pid *pid = bpf_get_current_task_btf()->group_leader->thread_pid;

		return seen_or_self(pid_nr_in_ns(pid, pid->level));
	}
	return seen_or_self(task_tgid_in_ns((struct task_struct *)bpf_get_current_task()));
}

/*
 * Never attached: the loader runs it once (BPF_PROG_TEST_RUN) when cfg.pidns_inum
 * is set, in its own thread. Finds the level of the tracer's namespace (the
 * last number of its pid), checks it is the namespace asked for and that the
 * tracer's tgid there is cfg.self_tgid (getpid()); returns level + 1, or 0.
 */
SEC("raw_tp")
int pidns_probe(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	u32 level = BPF_CORE_READ(pid, level);
	struct upid up = {};

	bpf_probe_read_kernel(&up, sizeof(up),
			      (void *)pid + bpf_core_field_offset(pid->numbers) +
				      level * bpf_core_type_size(struct upid));
	if (BPF_CORE_READ(up.ns, ns.inum) != cfg.pidns_inum)
		return 0;
	pidns_level = level;
	pidns = (u64)up.ns;
	return task_tgid_in_ns(task) == cfg.self_tgid ? level + 1 : 0;
}

static __always_inline u32 current_tid(void)
{
	return (u32)bpf_get_current_pid_tgid();
}

/* Whether the current syscall is a 32-bit one (x86 ia32 emulation). */
static __always_inline bool current_ia32(void)
{
#if defined(__TARGET_ARCH_x86)
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	if (bpf_core_field_exists(task->thread_info.status))
		return BPF_CORE_READ(task, thread_info.status) & TS_COMPAT;
#endif
	return false;
}

#endif /* __ST_TASK_BPF_H */
