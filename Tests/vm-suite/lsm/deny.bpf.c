// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * deny.bpf.c - a BPF LSM program for the VM suite (issue 22): refuses
 * socket(AF_INET, SOCK_DGRAM, 254) with -EPERM at security_socket_create, so
 * socktrace's `lsm` cause and its module name (`bpf`) can be checked. No other
 * call asks for protocol 254 (without this program: EPROTONOSUPPORT).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("lsm/socket_create")
int BPF_PROG(st_deny_socket, int family, int type, int protocol, int kern, int ret)
{
	if (ret)
		return ret;
	if (!kern && family == 2 && (type & 0xf) == 2 && protocol == 254)
		return -1; /* -EPERM */
	return 0;
}
