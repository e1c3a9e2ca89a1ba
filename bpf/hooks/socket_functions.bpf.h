/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * socket_functions.bpf.h - __sys_socket and __sock_create: rungs 1 and 2.
 *
 * The same hooks through fentry/fexit (rung 1) and kprobe/kretprobe (rung 2):
 * socket(2)'s stages and failed stage, and sockets the kernel makes for itself.
 *
 * Part of the one object: included by socktrace.bpf.c, after the files
 * listed before it there, which it uses.
 */
#ifndef __ST_SOCKET_FUNCTIONS_BPF_H
#define __ST_SOCKET_FUNCTIONS_BPF_H

/* ---- rung 1: fentry/fexit ------------------------------------------------ */

SEC("fentry/__sys_socket")
int BPF_PROG(fentry_sys_socket, int family, int type, int protocol)
{
	start_call(ST_KIND_SOCKET, family, type, protocol);
	return 0;
}

SEC("fexit/__sys_socket")
int BPF_PROG(fexit_sys_socket, int family, int type, int protocol, int ret)
{
	u32 tid = current_tid();
	struct inflight *f = bpf_map_lookup_elem(&inflight, &tid);

	if (f && f->kind == ST_KIND_SOCKET)
		finish_call(ST_KIND_SOCKET, f, ret, ST_PROBE_FENTRY, true);
	return 0;
}

/* __sock_create entry: a stage of an in-flight socket(), or a kernel socket. */
static __always_inline void sock_create_enter(int kern, u64 res)
{
	u32 tid = current_tid();
	struct inflight *f = bpf_map_lookup_elem(&inflight, &tid);

	if (f && f->kind == ST_KIND_SOCKET && !kern) {
		f->create_start_ns = bpf_ktime_get_boot_ns();
		f->uptr = res;
		return;
	}
	if (kern && current_traced()) {
		struct kcreate k = {.start_ns = bpf_ktime_get_boot_ns(), .res = res};

		if (bpf_map_update_elem(&kcreate, &tid, &k, BPF_ANY))
			count_drop(ST_LOSS_KCREATE_FULL, ST_KIND_SOCKET);
	}
}

/* __sock_create return: ret, and the socket it made when it succeeded. */
static __always_inline void sock_create_exit(int kern, int ret, struct socket *sock, u8 probe)
{
	u32 tid = current_tid();
	struct inflight *f = bpf_map_lookup_elem(&inflight, &tid);
	struct inflight kf = {};
	struct kcreate *k;
	struct st_socket *e;
	u64 now;

	if (f && f->kind == ST_KIND_SOCKET && !kern) {
		f->create_end_ns = bpf_ktime_get_boot_ns();
		f->create_ret = ret;
		if (ret == 0)
			read_socket(f, sock);
		return;
	}
	k = bpf_map_lookup_elem(&kcreate, &tid);
	if (!k)
		return;
	kf.family = BPF_CORE_READ(sock, sk, __sk_common.skc_family);
	kf.type = BPF_CORE_READ(sock, type);
	if (!socket_wanted(kf.family, kf.type, ret))
		goto out;
	/*
	 * A socket the kernel made for itself: no syscall, no fd. Its call is
	 * __sock_create alone, so it is its own only stage (sock_map_fd: 0).
	 */
	now = bpf_ktime_get_boot_ns();
	kf.start_ns = k->start_ns;
	kf.create_start_ns = k->start_ns;
	kf.create_end_ns = now;
	kf.create_ret = ret;
	kf.protocol = -1;
	kf.resolved_type = ret == 0 ? kf.type : -1;
	kf.resolved_protocol = ret == 0 ? BPF_CORE_READ(sock, sk, sk_protocol) : -1;
	kf.inode = ret == 0 ? socket_inode(sock) : 0;
	kf.fd2 = -1;
	kf.via = ST_VIA_KERNEL;
	if (cfg.metrics_only) { /* counted, never sent (kmetrics.bpf.h) */
		km_birth(ST_KIND_SOCKET, &kf, ret, true, now);
		goto out;
	}
	e = reserve(ST_KIND_SOCKET, sizeof(*e));
	if (e) {
		fill_socket(e, ST_KIND_SOCKET, &kf, ret, probe, true, now);
		e->fd = -1; /* ret is 0, not an fd */
		e->bits |= ST_BIT_KERNEL;
		/* A kernel socket belongs to the namespace it was made for (unshare
		 * makes them for the new one while the task still sits in the old). */
		if (ret == 0)
			e->h.netns = BPF_CORE_READ(sock, sk, __sk_common.skc_net.net, ns.inum);
		submit(e, sizeof(*e));
	}
out:
	bpf_map_delete_elem(&kcreate, &tid);
}

SEC("fentry/__sock_create")
int BPF_PROG(fentry_sock_create, void *net, int family, int type, int protocol, void *res,
	     int kern)
{
	sock_create_enter(kern, 0);
	return 0;
}

/*
 * `struct socket **res` cannot be read from the fexit context (the verifier
 * rejects pointer-to-pointer arguments): take it as a raw u64 with
 * bpf_get_func_arg() (5.17+), or before that straight from the trampoline's
 * argument array, which is what that helper reads too.
 */
SEC("fexit/__sock_create")
int BPF_PROG(fexit_sock_create, void *net, int family, int type, int protocol, void *res_unused,
	     int kern, int ret)
{
	u64 res = 0;
	struct socket *sock = NULL;

	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_func_arg))
		bpf_get_func_arg(ctx, 4, &res);
	else
		bpf_probe_read_kernel(&res, sizeof(res), (void *)ctx + 4 * sizeof(u64));
	if (ret == 0 && res)
		bpf_probe_read_kernel(&sock, sizeof(sock), (void *)res);
	sock_create_exit(kern, ret, sock, ST_PROBE_FENTRY);
	return 0;
}

/* ---- rung 2: kprobe/kretprobe -------------------------------------------- */

SEC("kprobe/__sys_socket")
int BPF_KPROBE(kprobe_sys_socket, int family, int type, int protocol)
{
	start_call(ST_KIND_SOCKET, family, type, protocol);
	return 0;
}

SEC("kretprobe/__sys_socket")
int BPF_KRETPROBE(kretprobe_sys_socket, int ret)
{
	u32 tid = current_tid();
	struct inflight *f = bpf_map_lookup_elem(&inflight, &tid);

	if (f && f->kind == ST_KIND_SOCKET)
		finish_call(ST_KIND_SOCKET, f, ret, ST_PROBE_KPROBE, true);
	return 0;
}

/*
 * Six arguments: libbpf 1.1's BPF_KPROBE and PT_REGS_PARM* stop at five, so
 * the sixth register is named here per architecture (x86-64 r9, arm64 x5).
 */
#if defined(__TARGET_ARCH_x86)
#define ST_PT_REGS_PARM6(x) (__PT_REGS_CAST(x)->r9)
#elif defined(__TARGET_ARCH_arm64)
#define ST_PT_REGS_PARM6(x) (__PT_REGS_CAST(x)->regs[5])
#endif

SEC("kprobe/__sock_create")
int kprobe_sock_create(struct pt_regs *ctx)
{
	u64 res = PT_REGS_PARM5(ctx);
	int kern = (int)ST_PT_REGS_PARM6(ctx);

	sock_create_enter(kern, res);
	return 0;
}

/* A kretprobe sees no arguments: read *res through the pointer saved at entry. */
SEC("kretprobe/__sock_create")
int BPF_KRETPROBE(kretprobe_sock_create, int ret)
{
	u32 tid = current_tid();
	struct inflight *f = bpf_map_lookup_elem(&inflight, &tid);
	struct kcreate *k;
	struct socket *sock = NULL;
	u64 res = 0;
	int kern = 0;

	if (f && f->kind == ST_KIND_SOCKET) {
		res = f->uptr;
	} else if ((k = bpf_map_lookup_elem(&kcreate, &tid))) {
		res = k->res;
		kern = 1;
	} else {
		return 0;
	}
	if (ret == 0 && res)
		bpf_probe_read_kernel(&sock, sizeof(sock), (void *)res);
	sock_create_exit(kern, ret, sock, ST_PROBE_KPROBE);
	return 0;
}

#endif /* __ST_SOCKET_FUNCTIONS_BPF_H */
