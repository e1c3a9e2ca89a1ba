/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ia32.bpf.h - 32-bit x86 socket syscalls (int $0x80, socketcall).
 *
 * Part of the one object: included by socktrace.bpf.c, after the files
 * listed before it there, which it uses.
 */
#ifndef __ST_IA32_BPF_H
#define __ST_IA32_BPF_H

/* ---- 32-bit x86 syscalls: raw_syscalls sys_enter/sys_exit -------------------
 *
 * int $0x80 / sysenter -> do_int80_syscall_32 / do_fast_syscall_32 (TS_COMPAT)
 *   socket(359) -> __ia32_sys_socket -> __sys_socket
 *   socketpair(360), accept4(364), socketcall(102) -> __sys_socketpair, ...
 * The syscalls:* tracepoints ignore 32-bit syscalls on x86-64
 * (ARCH_TRACE_IGNORE_COMPAT_SYSCALLS); raw_syscalls sees every syscall of every
 * process, so these programs first compare the number, then the ABI.
 * socket() on a function rung is seen by __sys_socket, which adds its stages.
 * x86 only: elsewhere the object has no such programs.
 */
#if defined(__TARGET_ARCH_x86)
static __always_inline bool ia32_socket_nr(long nr)
{
	return nr == NR32_SOCKETCALL || nr == NR32_SOCKET || nr == NR32_SOCKETPAIR ||
	       nr == NR32_ACCEPT4;
}

static __always_inline void ia32_enter(long nr, u32 a0, u32 a1, u32 a2, u32 a3)
{
	u32 tid = current_tid();
	struct inflight *f;
	u32 args[4] = {a0, a1, a2, a3};
	u8 via = ST_VIA_IA32;
	int call = nr == NR32_SOCKET ? SYS_SOCKET : nr == NR32_SOCKETPAIR ? SYS_SOCKETPAIR : SYS_ACCEPT4;

	if (nr == NR32_SOCKETCALL) {
		/* socketcall(call, u32 *args): socket and accept take 3, the others 4 */
		call = a0;
		if (call != SYS_SOCKET && call != SYS_SOCKETPAIR && call != SYS_ACCEPT &&
		    call != SYS_ACCEPT4)
			return;
		args[3] = 0;
		if (bpf_probe_read_user(args, 3 * sizeof(u32), (void *)(u64)a1) ||
		    ((call == SYS_SOCKETPAIR || call == SYS_ACCEPT4) &&
		     bpf_probe_read_user(&args[3], sizeof(u32), (void *)(u64)a1 + 12)))
			return;
		via = ST_VIA_SOCKETCALL;
	}
	if (call == SYS_SOCKET)
		start_call(ST_KIND_SOCKET, args[0], args[1], args[2]);
	else if (call == SYS_SOCKETPAIR)
		start_call(ST_KIND_SOCKETPAIR, args[0], args[1], args[2]);
	else
		accept_enter(args[0], call == SYS_ACCEPT4 ? args[3] : 0);
	f = bpf_map_lookup_elem(&inflight, &tid);
	if (!f)
		return;
	f->via = via;
	if (call == SYS_SOCKETPAIR)
		f->uptr = args[3];
}

SEC("raw_tp/sys_enter")
int raw_ia32_enter(struct bpf_raw_tracepoint_args *ctx)
{
	long nr = ctx->args[1];
	struct pt_regs *regs;

	if (!ia32_socket_nr(nr) || !current_ia32() || !current_traced())
		return 0;
	/* i386 arguments: ebx, ecx, edx, esi */
	regs = (struct pt_regs *)ctx->args[0];
	ia32_enter(nr, BPF_CORE_READ(regs, bx), BPF_CORE_READ(regs, cx), BPF_CORE_READ(regs, dx),
		   BPF_CORE_READ(regs, si));
	return 0;
}

SEC("raw_tp/sys_exit")
int raw_ia32_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	long ret = ctx->args[1];
	u32 tid;
	struct inflight *f;

	if (!ia32_socket_nr(BPF_CORE_READ(regs, orig_ax)))
		return 0;
	tid = current_tid();
	f = bpf_map_lookup_elem(&inflight, &tid);
	if (!f || (f->via != ST_VIA_IA32 && f->via != ST_VIA_SOCKETCALL))
		return 0;
	if (f->kind == ST_KIND_SOCKET)
		socket_exit(ret);
	else if (f->kind == ST_KIND_SOCKETPAIR)
		socketpair_exit(ret, ST_PROBE_TRACEPOINT);
	else
		accept_exit(ret, ST_PROBE_TRACEPOINT);
	return 0;
}
#endif /* __TARGET_ARCH_x86 */

#endif /* __ST_IA32_BPF_H */
