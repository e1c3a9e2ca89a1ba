/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * call_functions.bpf.h - socketpair, accept, bind, connect, listen, shutdown at
 * the kernel functions their syscalls call: rungs 1 (fentry/fexit) and 2
 * (kprobe/kretprobe).
 *
 * Why not the syscall tracepoints there: attaching any syscall tracepoint sets
 * SYSCALL_WORK_SYSCALL_TRACEPOINT on every task, so every syscall of every
 * process (a bystander's open() and close() too) takes the traced slow path.
 * These functions are entered only by the calls they stand for. The
 * tracepoint rung keeps the syscall tracepoints (syscalls.bpf.h,
 * lifecycle.bpf.h); the loader enables one set or the other (AttachPlan).
 *
 * The kernel call paths (net/socket.c; the same in 5.10, 6.1, 6.12 and 7.2,
 * checked in each one's BTF):
 *   socketpair(2)        -> __sys_socketpair(family, type, protocol, usockvec)
 *   accept(2), accept4(2) -> __sys_accept4(fd, upeer_sockaddr, upeer_addrlen, flags)
 *                           -> __sys_accept4_file (5.10) / do_accept (5.19+)
 *   bind(2)              -> __sys_bind(fd, umyaddr, addrlen)
 *   connect(2)           -> __sys_connect(fd, uservaddr, addrlen)
 *   listen(2)            -> __sys_listen(fd, backlog)
 *   shutdown(2)          -> __sys_shutdown(fd, how)
 * 32-bit x86 (int $0x80: __ia32_sys_*, and socketcall(2): __compat_sys_socketcall)
 * reaches the same functions, so a 32-bit call is recorded here too (via
 * `ia32`, or `socketcall` when the ia32 hook began it: start_call joins it).
 *
 * io_uring never passes here, so nothing is counted twice: IORING_OP_ACCEPT
 * calls do_accept (5.19+) or __sys_accept4_file (before), IORING_OP_CONNECT
 * __sys_connect_file, IORING_OP_SHUTDOWN __sys_shutdown_sock, IORING_OP_BIND
 * and IORING_OP_LISTEN (6.11+) __sys_bind_socket and __sys_listen_socket.
 *
 * At each function's return the new fds are installed (fd_install runs
 * before __sys_socketpair and __sys_accept4 return) and the user's fd pair
 * written, so the exits read the fd table as the syscall exits do.
 *
 * Part of the one object: included by socktrace.bpf.c, after the files
 * listed before it there, which it uses.
 */
#ifndef __ST_CALL_FUNCTIONS_BPF_H
#define __ST_CALL_FUNCTIONS_BPF_H

static __always_inline void socketpair_enter(int family, int type, int protocol, u64 usockvec)
{
	struct inflight *f = start_call(ST_KIND_SOCKETPAIR, family, type, protocol);

	if (f)
		f->uptr = usockvec;
}

/* connect: the call, and a non-blocking TCP connect followed to its outcome. */
static __always_inline void connect_enter(int fd, const void *uaddr, u32 addr_len)
{
	u32 tid = current_tid();
	struct opflight *f;

	op_enter(ST_KIND_CONNECT, fd, 0, uaddr, addr_len);
	f = bpf_map_lookup_elem(&opflight, &tid);
	if (f && f->kind == ST_KIND_CONNECT) {
		watch_connect(f->fd, f->start_ns);
		note_connecting(f->fd); /* issue 21: the client of a later accept (peer.bpf.h) */
	}
}

/* ---- rung 1: fentry/fexit ------------------------------------------------ */

/*
 * `int __user *usockvec` is read from the trampoline's argument array, not
 * the context: 5.10's verifier refuses a pointer argument to anything but a
 * struct ("arg3 type INT is not a struct"; int pointers are allowed since 5.17).
 */
SEC("fentry/__sys_socketpair")
int BPF_PROG(fentry_sys_socketpair, int family, int type, int protocol)
{
	u64 usockvec = 0;

	bpf_probe_read_kernel(&usockvec, sizeof(usockvec), (void *)ctx + 3 * sizeof(u64));
	socketpair_enter(family, type, protocol, usockvec);
	return 0;
}

SEC("fexit/__sys_socketpair")
int BPF_PROG(fexit_sys_socketpair, int family, int type, int protocol, u64 usockvec_unused, int ret)
{
	socketpair_exit(ret, ST_PROBE_FENTRY);
	return 0;
}

SEC("fentry/__sys_accept4")
int BPF_PROG(fentry_sys_accept4, int fd, void *upeer_sockaddr, u64 upeer_addrlen_unused, int flags)
{
	accept_enter(fd, flags);
	return 0;
}

SEC("fexit/__sys_accept4")
int BPF_PROG(fexit_sys_accept4, int fd, void *upeer_sockaddr, u64 upeer_addrlen_unused, int flags,
	     int ret)
{
	accept_exit(ret, ST_PROBE_FENTRY);
	return 0;
}

SEC("fentry/__sys_bind")
int BPF_PROG(fentry_sys_bind, int fd, void *umyaddr, int addrlen)
{
	op_enter(ST_KIND_BIND, fd, 0, umyaddr, addrlen);
	return 0;
}

SEC("fexit/__sys_bind")
int BPF_PROG(fexit_sys_bind, int fd, void *umyaddr, int addrlen, int ret)
{
	op_exit(ST_KIND_BIND, ret);
	return 0;
}

SEC("fentry/__sys_connect")
int BPF_PROG(fentry_sys_connect, int fd, void *uservaddr, int addrlen)
{
	connect_enter(fd, uservaddr, addrlen);
	return 0;
}

SEC("fexit/__sys_connect")
int BPF_PROG(fexit_sys_connect, int fd, void *uservaddr, int addrlen, int ret)
{
	op_exit(ST_KIND_CONNECT, ret);
	return 0;
}

SEC("fentry/__sys_listen")
int BPF_PROG(fentry_sys_listen, int fd, int backlog)
{
	op_enter(ST_KIND_LISTEN, fd, backlog, NULL, 0);
	return 0;
}

SEC("fexit/__sys_listen")
int BPF_PROG(fexit_sys_listen, int fd, int backlog, int ret)
{
	op_exit(ST_KIND_LISTEN, ret);
	return 0;
}

SEC("fentry/__sys_shutdown")
int BPF_PROG(fentry_sys_shutdown, int fd, int how)
{
	op_enter(ST_KIND_SHUTDOWN, fd, how, NULL, 0);
	return 0;
}

SEC("fexit/__sys_shutdown")
int BPF_PROG(fexit_sys_shutdown, int fd, int how, int ret)
{
	op_exit(ST_KIND_SHUTDOWN, ret);
	return 0;
}

/* ---- rung 2: kprobe/kretprobe --------------------------------------------
 *
 * A kretprobe holds one instance per call in flight, maxactive of them
 * (perf's kprobe PMU: max(10, 2 * possible CPUs)); a return beyond that is
 * missed by the kernel (the probe's nmissed). accept and a blocking connect
 * can wait long, so on this rung more than that many threads blocked at once
 * in them lose the records of the extra calls.
 */

SEC("kprobe/__sys_socketpair")
int BPF_KPROBE(kprobe_sys_socketpair, int family, int type, int protocol, int *usockvec)
{
	socketpair_enter(family, type, protocol, (u64)usockvec);
	return 0;
}

SEC("kretprobe/__sys_socketpair")
int BPF_KRETPROBE(kretprobe_sys_socketpair, int ret)
{
	socketpair_exit(ret, ST_PROBE_KPROBE);
	return 0;
}

SEC("kprobe/__sys_accept4")
int BPF_KPROBE(kprobe_sys_accept4, int fd, void *upeer_sockaddr, int *upeer_addrlen, int flags)
{
	accept_enter(fd, flags);
	return 0;
}

SEC("kretprobe/__sys_accept4")
int BPF_KRETPROBE(kretprobe_sys_accept4, int ret)
{
	accept_exit(ret, ST_PROBE_KPROBE);
	return 0;
}

SEC("kprobe/__sys_bind")
int BPF_KPROBE(kprobe_sys_bind, int fd, void *umyaddr, int addrlen)
{
	op_enter(ST_KIND_BIND, fd, 0, umyaddr, addrlen);
	return 0;
}

SEC("kretprobe/__sys_bind")
int BPF_KRETPROBE(kretprobe_sys_bind, int ret)
{
	op_exit(ST_KIND_BIND, ret);
	return 0;
}

SEC("kprobe/__sys_connect")
int BPF_KPROBE(kprobe_sys_connect, int fd, void *uservaddr, int addrlen)
{
	connect_enter(fd, uservaddr, addrlen);
	return 0;
}

SEC("kretprobe/__sys_connect")
int BPF_KRETPROBE(kretprobe_sys_connect, int ret)
{
	op_exit(ST_KIND_CONNECT, ret);
	return 0;
}

SEC("kprobe/__sys_listen")
int BPF_KPROBE(kprobe_sys_listen, int fd, int backlog)
{
	op_enter(ST_KIND_LISTEN, fd, backlog, NULL, 0);
	return 0;
}

SEC("kretprobe/__sys_listen")
int BPF_KRETPROBE(kretprobe_sys_listen, int ret)
{
	op_exit(ST_KIND_LISTEN, ret);
	return 0;
}

SEC("kprobe/__sys_shutdown")
int BPF_KPROBE(kprobe_sys_shutdown, int fd, int how)
{
	op_enter(ST_KIND_SHUTDOWN, fd, how, NULL, 0);
	return 0;
}

SEC("kretprobe/__sys_shutdown")
int BPF_KRETPROBE(kretprobe_sys_shutdown, int ret)
{
	op_exit(ST_KIND_SHUTDOWN, ret);
	return 0;
}

#endif /* __ST_CALL_FUNCTIONS_BPF_H */
