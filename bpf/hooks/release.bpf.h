/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * release.bpf.h - a socket born under tracing goes away: one release record,
 * by whoever dropped its last reference.
 *
 * Part of the one object: included by socktrace.bpf.c, after the files
 * listed before it there, which it uses.
 */
#ifndef __ST_RELEASE_BPF_H
#define __ST_RELEASE_BPF_H

/* ---- socket release -------------------------------------------------------- */

static __always_inline void emit_release(u64 inode, u32 how)
{
	int *entry = bpf_map_lookup_elem(&births, &inode);
	struct st_release *e;
	int family;

	if (!entry)
		return; /* not born under tracing */
	family = *entry;
	/*
	 * The release is claimed by deleting the birth: of two droppers that
	 * both saw themselves last at the same moment (tracepoint rung: a close
	 * and its own second look), one record.
	 */
	if (bpf_map_delete_elem(&births, &inode))
		return;
	if (address_filter() && !socket_matched(inode)) {
		bpf_map_delete_elem(&held, &inode); /* it never matched: nothing was said of it */
		return;
	}
	if (family & ST_BIRTH_LOST) {
		count_drop(ST_LOSS_UNRECORDED_BIRTH, ST_KIND_RELEASE);
		return;
	}
	e = reserve(ST_KIND_RELEASE, sizeof(*e));
	if (e) {
		fill_header(&e->h, ST_KIND_RELEASE, sizeof(*e));
		e->inode = inode;
		e->how = how;
		e->family = family;
		submit(e, sizeof(*e));
	}
	if (address_filter())
		bpf_map_delete_elem(&matched, &inode);
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
 * ---- tracepoint rung: the last reference leaving its last fd table ---------
 *
 * No hook sees __sock_release here, and close(2) of one fd is not the end of
 * a socket that fork, dup or SCM_RIGHTS shared: the socket dies when its
 * file's last reference goes (sock_close, from __fput). Each way an fd table
 * drops a file is hooked, and the file's reference count says whether that
 * entry was the last one:
 *
 *   close(2)                      sys_enter_close       file_close_fd -> filp_close -> fput
 *   dup2/dup3 over an open fd     sys_enter_dup2/dup3   do_dup2 -> filp_close(tofree)
 *   close_range(2)                sys_enter_close_range __range_close          } fd-table walks:
 *   execve, close-on-exec fds     sys_enter_execve(at)  begin_new_exec ->      } release_walk.bpf.h
 *                                 + sched_process_exec  do_close_on_exec       } (bpf_loop, 5.17+)
 *   exit                          sched_process_exit    do_exit -> exit_files  }
 *
 * fput queues the real release (__fput) as task work, run on the way back to
 * user space, so the count read at these points is exact for the caller;
 * what drops a last reference elsewhere (another thread's syscall still
 * holding the file, an SCM_RIGHTS message discarded in flight, io_uring's
 * close) is a blind spot of this rung (AttachPlan, `release_elsewhere`).
 */

/* References to an open file: 0 once the last one went away. */
static __always_inline long file_refs(struct file *file)
{
	struct file___ref *ref = (void *)file;
	struct file___count *count = (void *)file;

	if (bpf_core_field_exists(ref->f_ref)) {
		/* file_ref_t (6.13+): 0 is one reference, negative released or dead */
		long long refs = BPF_CORE_READ(ref, f_ref.refcnt.counter);

		return refs < 0 ? 0 : refs + 1;
	}
	return BPF_CORE_READ(count, f_count.counter);
}

/*
 * A file leaves an fd table of this process: a socket born under tracing
 * whose only reference that entry held is released now, by this process.
 * Returns the inode of a socket born under tracing that another fd, process
 * or message still holds (for a second look: see note_shared_close), else 0.
 * A global function: verified once, whatever walk calls it.
 */
__attribute__((noinline)) u64 release_file_if_last(u64 file_ptr, u32 how)
{
	struct file *file = (struct file *)file_ptr;
	struct socket *sock = file_socket(file);
	u64 inode;

	if (!sock)
		return 0;
	inode = socket_inode(sock);
	if (file_refs(file) == 1) {
		emit_release(inode, how);
		return 0;
	}
	return bpf_map_lookup_elem(&births, &inode) ? inode : 0;
}

/*
 * close(2) of a shared socket is not its release, unless the other holders
 * let go while it ran: a child exiting with its copy checks at
 * sched_process_exit, before exit_files drops it, so a parent's close and a
 * child's exit at the same moment each see the other's reference. The file
 * is looked at again at sys_exit_close: a count of 0 there means the last
 * reference went during the call (fput's __fput, and the file with it, waits
 * for the task work of whoever dropped last). Noted only for a socket born
 * under tracing (release_file_if_last's inode), the only kind a release is
 * made for.
 */
static __always_inline void note_shared_close(struct file *file, u64 inode)
{
	struct shared_close note = { .file = (u64)file, .inode = inode };
	u32 tid = (u32)bpf_get_current_pid_tgid();

	bpf_map_update_elem(&shared_closes, &tid, &note, BPF_ANY);
}

SEC("tracepoint/syscalls/sys_enter_close")
int tp_enter_close(struct syscall_enter_ctx *ctx)
{
	struct file *file = fd_file(ctx->args[0]);
	u64 shared;

	if (!file)
		return 0;
	shared = release_file_if_last((u64)file, ST_RELEASE_CLOSE);
	if (shared)
		note_shared_close(file, shared);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_close")
int tp_exit_close(struct syscall_exit_ctx *ctx)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	struct shared_close *note = bpf_map_lookup_elem(&shared_closes, &tid);

	if (!note)
		return 0;
	if (file_refs((struct file *)note->file) == 0)
		emit_release(note->inode, ST_RELEASE_CLOSE);
	bpf_map_delete_elem(&shared_closes, &tid);
	return 0;
}

/* dup2/dup3(old, new): an open `new` is closed, once `old` is known good. */
static __always_inline void dup_over(int oldfd, int newfd)
{
	struct file *file;

	if (oldfd == newfd || !fd_file(oldfd))
		return;
	file = fd_file(newfd);
	if (file)
		release_file_if_last((u64)file, ST_RELEASE_DUP);
}

SEC("tracepoint/syscalls/sys_enter_dup2")
int tp_enter_dup2(struct syscall_enter_ctx *ctx)
{
	dup_over(ctx->args[0], ctx->args[1]);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_dup3")
int tp_enter_dup3(struct syscall_enter_ctx *ctx)
{
	dup_over(ctx->args[0], ctx->args[1]);
	return 0;
}

/*
 * The sockets a task's note in `notes` holds (an exec's close-on-exec ones,
 * an exit's shared ones: release_walk.bpf.h) whose file's count fell to 0
 * were released by that task, the current one; the note goes.
 */
static __always_inline void release_noted(void *notes, u64 task, u32 how)
{
	struct exec_closing *note = bpf_map_lookup_elem(notes, &task);

	if (!note)
		return;
	for (u32 i = 0; i < ST_EXEC_SLOTS && i < note->count; i++) {
		if (file_refs((struct file *)note->file[i]) == 0)
			emit_release(note->inode[i], how);
	}
	bpf_map_delete_elem(notes, &task);
}

/* An exec went through (sched_process_exec): what its call noted. */
static __always_inline void release_at_exec(void)
{
	release_noted(&exec_closing, bpf_get_current_task(), ST_RELEASE_EXEC);
}

#endif /* __ST_RELEASE_BPF_H */
