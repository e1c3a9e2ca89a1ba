/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * release_walk.bpf.h - tracepoint rung: the releases that walk an fd table.
 *
 * close_range(2), an execve's close-on-exec fds and an exit drop many fds at
 * once. Each walks the table's open_fds bitmap a word (64 fds) at a time with
 * bpf_loop (5.17+): one verified callback, however large the table. Without
 * bpf_loop these programs are not loaded and AttachPlan lists the releases
 * they would make as a blind spot (`release_elsewhere`).
 *
 * Part of the one object: included by socktrace.bpf.c, after the files
 * listed before it there, which it uses.
 */
#ifndef __ST_RELEASE_WALK_BPF_H
#define __ST_RELEASE_WALK_BPF_H

/* A walk: which table, which fds, and what to do with each socket's file. */
struct fd_walk {
	struct file **fds;
	unsigned long *open;
	unsigned long *cloexec; /* execve: only fds marked close-on-exec */
	u32 first, last;
	u32 how;
	u32 full; /* more sockets than its note holds */
	u32 base; /* the fd of bit 0 of the word being walked */
	unsigned long bits; /* its open fds (close-on-exec ones, for execve) */
	struct exec_closing *note; /* execve: its sockets; exit: the shared ones */
};

/* The inode of the socket behind `file` if it was born under tracing, else 0. */
static __always_inline u64 traced_socket_inode(struct file *file)
{
	struct socket *sock = file_socket(file);
	u64 inode;

	if (!sock)
		return 0;
	inode = socket_inode(sock);
	return bpf_map_lookup_elem(&births, &inode) ? inode : 0;
}

/*
 * Remember a socket born under tracing (`inode`, 0 for none) in the walk's
 * note: execve's close-on-exec ones, an exit's shared ones.
 */
static __always_inline void note_socket(struct fd_walk *walk, struct file *file, u64 inode)
{
	struct exec_closing *note = walk->note;
	u32 slot;

	if (!inode || !note)
		return;
	slot = note->count;
	if (slot >= ST_EXEC_SLOTS) {
		walk->full = 1;
		return;
	}
	note->file[slot & (ST_EXEC_SLOTS - 1)] = (u64)file;
	note->inode[slot & (ST_EXEC_SLOTS - 1)] = inode;
	note->count = slot + 1;
}

/*
 * An empty note, to start one in its map: a read-only global, not a 264-byte
 * local, since the walk's call chain (bpf_loop callbacks, release_file_if_last,
 * the header's global function) shares BPF's 512-byte stack with it (6.1
 * refused execve's program at 544 bytes with the pid-namespace path).
 */
static const struct exec_closing empty_note = {};

/* One fd of a non-empty bitmap word: its file, if the fd is open and in range. */
static long walk_bit(u32 bit, void *ctx)
{
	struct fd_walk *walk = ctx;
	u32 fd = walk->base + bit;
	struct file *file = NULL;

	if (!((walk->bits >> bit) & 1) || fd < walk->first || fd > walk->last)
		return 0;
	bpf_probe_read_kernel(&file, sizeof(file), &walk->fds[fd]);
	if (!file)
		return 0;
	if (walk->how == ST_RELEASE_EXEC)
		note_socket(walk, file, traced_socket_inode(file));
	else /* exit: a shared one is looked at again (exit_release_recheck) */
		note_socket(walk, file, release_file_if_last((u64)file, walk->how));
	return 0;
}

/*
 * One bitmap word of the walk (the loop's index counts from first's word):
 * an empty word costs one read; a word with open fds walks its bits with a
 * loop of its own (a callback with no loop inside verifies in a few hundred
 * instructions, where a 64-step loop in it took the verifier seconds).
 */
static long walk_word_at(u32 index, void *ctx)
{
	struct fd_walk *walk = ctx;
	u32 word = walk->first / 64 + index;
	unsigned long bits = 0, marks = ~0UL;

	bpf_probe_read_kernel(&bits, sizeof(bits), &walk->open[word]);
	if (walk->cloexec)
		bpf_probe_read_kernel(&marks, sizeof(marks), &walk->cloexec[word]);
	walk->bits = bits & marks;
	if (!walk->bits)
		return 0;
	walk->base = word * 64;
	bpf_loop(64, walk_bit, walk, 0);
	return 0;
}

/* Walks fds first..last of `fdt` (clamped to the table). */
static __always_inline void walk_fds(struct fdtable *fdt, struct fd_walk *walk)
{
	u32 max_fds = BPF_CORE_READ(fdt, max_fds);

	if (!max_fds || walk->first >= max_fds)
		return;
	if (walk->last >= max_fds)
		walk->last = max_fds - 1;
	walk->fds = BPF_CORE_READ(fdt, fd);
	walk->open = BPF_CORE_READ(fdt, open_fds);
	bpf_loop(walk->last / 64 - walk->first / 64 + 1, walk_word_at, walk, 0);
}

#define CLOSE_RANGE_UNSHARE (1U << 1)
#define CLOSE_RANGE_CLOEXEC (1U << 2)

SEC("tracepoint/syscalls/sys_enter_close_range")
int tp_enter_close_range(struct syscall_enter_ctx *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct files_struct *files = BPF_CORE_READ(task, files);
	struct fd_walk walk = {
		.first = ctx->args[0], .last = ctx->args[1], .how = ST_RELEASE_CLOSE_RANGE,
	};
	u32 flags = ctx->args[2];

	if (flags & CLOSE_RANGE_CLOEXEC)
		return 0; /* only marks them close-on-exec */
	if ((flags & CLOSE_RANGE_UNSHARE) && BPF_CORE_READ(files, count.counter) > 1)
		return 0; /* a private copy is closed: the shared table keeps its references */
	walk_fds(BPF_CORE_READ(files, fdt), &walk);
	return 0;
}

/*
 * execve closes the close-on-exec fds only once it cannot fail: the sockets
 * born under tracing among them are noted at the call (by task: the
 * task_struct survives de_thread, unlike a thread's tid), and checked at
 * sched_process_exec (handle_exec: release_at_exec), where a file whose count
 * fell to 0 was released by this exec.
 */
static __always_inline void exec_note_closing(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct fd_walk walk = { .first = 0, .last = ~0U, .how = ST_RELEASE_EXEC };
	u64 key = (u64)task;

	if (bpf_map_update_elem(&exec_closing, &key, &empty_note, BPF_ANY) != 0) {
		count_drop(ST_LOSS_WALK_FULL, ST_KIND_RELEASE);
		return;
	}
	walk.note = bpf_map_lookup_elem(&exec_closing, &key);
	if (!walk.note)
		return;
	walk.cloexec = BPF_CORE_READ(fdt, close_on_exec);
	walk_fds(fdt, &walk);
	if (walk.full)
		count_drop(ST_LOSS_WALK_FULL, ST_KIND_RELEASE);
	if (!walk.note->count)
		bpf_map_delete_elem(&exec_closing, &key); /* nothing to check at exec */
}

SEC("tracepoint/syscalls/sys_enter_execve")
int tp_enter_execve(struct syscall_enter_ctx *ctx)
{
	exec_note_closing();
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_execveat")
int tp_enter_execveat(struct syscall_enter_ctx *ctx)
{
	exec_note_closing();
	return 0;
}

/* A failed execve closed nothing: forget what it would have (a lookup when it noted none). */
static __always_inline void exec_returned(void)
{
	u64 key = bpf_get_current_task();

	bpf_map_delete_elem(&exec_closing, &key);
}

SEC("tracepoint/syscalls/sys_exit_execve")
int tp_exit_execve(struct syscall_exit_ctx *ctx)
{
	exec_returned();
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_execveat")
int tp_exit_execveat(struct syscall_exit_ctx *ctx)
{
	exec_returned();
	return 0;
}

/*
 * The last thread of a process leaves (signal->live is 0): its fd table goes
 * in exit_files, right after this tracepoint, and with it every file whose
 * only reference it held. Threads of an exit_group leave together, so the
 * table's user count is not waited for: the table dies with the group. A
 * program of its own beside handle_exit, loaded only where bpf_loop is.
 */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(exit_release_walk, struct task_struct *task)
{
	struct fd_walk walk = { .first = 0, .last = ~0U, .how = ST_RELEASE_EXIT };
	u64 key = (u64)task;

	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	if (bpf_map_update_elem(&exit_shared, &key, &empty_note, BPF_ANY) == 0)
		walk.note = bpf_map_lookup_elem(&exit_shared, &key);
	else
		walk.full = 1;
	walk_fds(BPF_CORE_READ(task, files, fdt), &walk);
	if (walk.full)
		count_drop(ST_LOSS_WALK_FULL, ST_KIND_RELEASE);
	if (walk.note && !walk.note->count)
		bpf_map_delete_elem(&exit_shared, &key);
	return 0;
}

/*
 * A socket the exiting process shared at its walk may still be its to
 * release: the other holder may have let go after the walk (a parent closing
 * its copy while the child exits) and before exit_files dropped this one. No
 * tracepoint follows exit_files in do_exit but the task's last switch off the
 * CPU (do_task_dead, exit_state set by exit_notify), where `current` is still
 * the exiting task: a count of 0 there was this process's last reference.
 * The close side has its own second look (tp_exit_close); the release is
 * claimed once (emit_release). Every other switch costs a flag test.
 */
#define PF_EXITING 0x00000004

SEC("tp_btf/sched_switch")
int BPF_PROG(exit_release_recheck, bool preempt, struct task_struct *prev)
{
	if (BPF_CORE_READ(prev, flags) & PF_EXITING && BPF_CORE_READ(prev, exit_state))
		release_noted(&exit_shared, (u64)prev, ST_RELEASE_EXIT);
	return 0;
}

#endif /* __ST_RELEASE_WALK_BPF_H */
