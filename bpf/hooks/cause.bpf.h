/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * cause.bpf.h - hooks that see why a socket could not be made (issue 22).
 *
 * While a thread has a socket call in flight (its `inflight` slot):
 *   module_request   __sock_create found no net_families[family] and called
 *                    request_module("net-pf-%d"); inet_create and others ask
 *                    for "net-pf-%d-proto-%d[-type-%d]". The first name asked
 *                    is kept. Every rung, where the kernel has modules.
 *   security_socket_create / security_socket_post_create return
 *                    __sock_create's LSM checks, before and after pf->create:
 *                    non-zero is an LSM's refusal. Function-hook rungs.
 *   <module>_socket_create / _post_create return
 *                    each module's own hook (apparmor, selinux, the BPF LSM's
 *                    bpf_lsm_*, smack): the first that returned an error
 *                    names the module that refused. Function-hook rungs.
 *
 * Part of the one object: included by socktrace.bpf.c, after the files
 * listed before it there, which it uses.
 */
#ifndef __ST_CAUSE_HOOKS_BPF_H
#define __ST_CAUSE_HOOKS_BPF_H

/* The current thread's socket call in flight, or NULL. */
static __always_inline struct inflight *call_in_flight(void)
{
	u32 tid = current_tid();
	struct inflight *f = bpf_map_lookup_elem(&inflight, &tid);

	return f && f->kind ? f : NULL;
}

SEC("tp_btf/module_request")
int BPF_PROG(tp_module_request, char *name, bool wait, unsigned long ip)
{
	struct inflight *f = call_in_flight();

	if (f && !f->module[0])
		bpf_probe_read_kernel_str(f->module, sizeof(f->module), name);
	return 0;
}

/* security_socket_create/post_create returned: kern=1 is a kernel socket, not the call's. */
static __always_inline void lsm_verdict(int kern, int ret)
{
	struct inflight *f = call_in_flight();

	if (!f || kern)
		return;
	f->cause_bits |= ST_CAUSE_LSM_SEEN;
	if (ret)
		f->cause_bits |= ST_CAUSE_LSM_REFUSED;
}

/* One module's socket hook returned: the first refusal names the module. */
static __always_inline void lsm_module_verdict(u8 module, int kern, int ret)
{
	struct inflight *f = call_in_flight();

	if (f && !kern && ret && f->lsm == ST_LSM_NONE)
		f->lsm = module;
}

/*
 * fexit: (int family, int type, int protocol, int kern) for *_socket_create,
 * (struct socket *sock, int family, int type, int protocol, int kern) for
 * *_socket_post_create. kretprobe: the return value only (kern unknown, 0).
 */
#define ST_LSM_CREATE_HOOKS(fn, module)                                                   \
	SEC("fexit/" #fn)                                                                 \
	int BPF_PROG(fexit_##fn, int family, int type, int protocol, int kern, int ret)   \
	{                                                                                 \
		lsm_module_verdict(module, kern, ret);                                    \
		return 0;                                                                 \
	}                                                                                 \
	SEC("kretprobe/" #fn)                                                             \
	int BPF_KRETPROBE(kretprobe_##fn, int ret)                                        \
	{                                                                                 \
		lsm_module_verdict(module, 0, ret);                                       \
		return 0;                                                                 \
	}

#define ST_LSM_POST_CREATE_HOOKS(fn, module)                                              \
	SEC("fexit/" #fn)                                                                 \
	int BPF_PROG(fexit_##fn, void *sock, int family, int type, int protocol, int kern, \
		     int ret)                                                             \
	{                                                                                 \
		lsm_module_verdict(module, kern, ret);                                    \
		return 0;                                                                 \
	}                                                                                 \
	SEC("kretprobe/" #fn)                                                             \
	int BPF_KRETPROBE(kretprobe_##fn, int ret)                                        \
	{                                                                                 \
		lsm_module_verdict(module, 0, ret);                                       \
		return 0;                                                                 \
	}

SEC("fexit/security_socket_create")
int BPF_PROG(fexit_security_socket_create, int family, int type, int protocol, int kern, int ret)
{
	lsm_verdict(kern, ret);
	return 0;
}

SEC("kretprobe/security_socket_create")
int BPF_KRETPROBE(kretprobe_security_socket_create, int ret)
{
	lsm_verdict(0, ret);
	return 0;
}

SEC("fexit/security_socket_post_create")
int BPF_PROG(fexit_security_socket_post_create, void *sock, int family, int type, int protocol,
	     int kern, int ret)
{
	lsm_verdict(kern, ret);
	return 0;
}

SEC("kretprobe/security_socket_post_create")
int BPF_KRETPROBE(kretprobe_security_socket_post_create, int ret)
{
	lsm_verdict(0, ret);
	return 0;
}

ST_LSM_CREATE_HOOKS(apparmor_socket_create, ST_LSM_APPARMOR)
ST_LSM_POST_CREATE_HOOKS(apparmor_socket_post_create, ST_LSM_APPARMOR)
ST_LSM_CREATE_HOOKS(selinux_socket_create, ST_LSM_SELINUX)
ST_LSM_POST_CREATE_HOOKS(selinux_socket_post_create, ST_LSM_SELINUX)
ST_LSM_CREATE_HOOKS(bpf_lsm_socket_create, ST_LSM_BPF)
ST_LSM_POST_CREATE_HOOKS(bpf_lsm_socket_post_create, ST_LSM_BPF)
ST_LSM_POST_CREATE_HOOKS(smack_socket_post_create, ST_LSM_SMACK)

#endif /* __ST_CAUSE_HOOKS_BPF_H */
