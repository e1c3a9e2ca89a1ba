/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * fdtable.bpf.h - from an fd to its file, its socket, the socket's inode and peer.
 *
 * Part of the one object: included by socktrace.bpf.c, after the files
 * listed before it there, which it uses.
 */
#ifndef __ST_FDTABLE_BPF_H
#define __ST_FDTABLE_BPF_H

/*
 * The struct file behind fd in the current task's table, or 0. A global
 * function (verified once per program, see current_ppid_netns): its address
 * comes back as a number, read with BPF_CORE_READ like any probe-read pointer.
 */
__attribute__((noinline)) u64 current_fd_file(int fd)
{
	struct file **fds;
	struct file *file = NULL;
	unsigned int max_fds;

	if (HAVE_TASK_BTF) {
		struct fdtable *fdt = bpf_get_current_task_btf()->files->fdt;

		max_fds = fdt->max_fds;
		fds = fdt->fd;
	} else {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);

		max_fds = BPF_CORE_READ(fdt, max_fds);
		fds = BPF_CORE_READ(fdt, fd);
	}
	if (fd < 0 || (unsigned int)fd >= max_fds)
		return 0;
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	return (u64)file;
}

/* The struct file behind fd in the current task's table, or NULL. */
static __always_inline struct file *fd_file(int fd)
{
	return (struct file *)current_fd_file(fd);
}

/* Whether fd is close-on-exec in the current task's table. */
static __always_inline bool fd_cloexec(int fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	unsigned long *bits = BPF_CORE_READ(task, files, fdt, close_on_exec);
	unsigned long word = 0;

	if (fd < 0)
		return false;
	bpf_probe_read_kernel(&word, sizeof(word), &bits[fd / (8 * sizeof(word))]);
	return (word >> (fd % (8 * sizeof(word)))) & 1;
}

/* A socket's inode number, the N in /proc/PID/fd/X -> socket:[N]. */
static __always_inline u64 socket_inode(struct socket *sock)
{
	return BPF_CORE_READ((struct socket_alloc *)sock, vfs_inode.i_ino);
}

/* Fill type, protocol (resolved when 0 was asked) and inode from a socket. */
static __always_inline void read_socket(struct inflight *f, struct socket *sock)
{
	if (!sock)
		return;
	f->inode = socket_inode(sock);
	/* The kernel resolves only a protocol of 0; the type is always as asked. */
	f->resolved_protocol = f->protocol ? f->protocol : BPF_CORE_READ(sock, sk, sk_protocol);
}

/*
 * The socket behind an open file, or NULL when it is no socket (close(2) sees every
 * kind of file: only a socket inode's private_data is a struct socket).
 */
static __always_inline struct socket *file_socket(struct file *file)
{
	struct inode *inode;

	if (!file)
		return NULL;
	inode = BPF_CORE_READ(file, f_inode);
	if ((BPF_CORE_READ(inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	return (struct socket *)BPF_CORE_READ(file, private_data);
}

static __always_inline struct socket *fd_socket(int fd)
{
	return file_socket(fd_file(fd));
}

/* The peer of a connected inet socket, from the kernel (no user memory). */
static __always_inline void read_peer(struct inflight *f, struct socket *sock)
{
	struct sock *sk;
	u16 family;

	if (!sock)
		return;
	sk = BPF_CORE_READ(sock, sk);
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family == AF_INET) {
		__be32 addr = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		__builtin_memcpy(f->peer_addr, &addr, sizeof(addr));
	} else if (family == AF_INET6) {
		BPF_CORE_READ_INTO(&f->peer_addr, sk, __sk_common.skc_v6_daddr);
	} else {
		return;
	}
	f->peer_family = family;
	f->peer_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
}

#endif /* __ST_FDTABLE_BPF_H */
