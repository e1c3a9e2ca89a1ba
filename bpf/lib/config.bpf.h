/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * config.bpf.h - constants, load-time settings, what this kernel has.
 *
 * The UAPI and kernel constants the programs use (vmlinux.h has types, no
 * macros), each defined once; `cfg`, written by the loader into .rodata.
 *
 * Part of the one object: included by socktrace.bpf.c, after the files
 * listed before it there, which it uses.
 */
#ifndef __ST_CONFIG_BPF_H
#define __ST_CONFIG_BPF_H

/* Kernel and UAPI constants (vmlinux.h carries no #defines). */
#define EINVAL 22
#define EEXIST 17
#define EINPROGRESS 115
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define O_NONBLOCK 04000 /* x86 and arm64 */
#define SOCK_NONBLOCK O_NONBLOCK
#define SOCK_CLOEXEC 02000000
#define TS_COMPAT 0x0002 /* x86 thread_info.status: a 32-bit syscall is running */
#define IORING_OP_ACCEPT 13 /* UAPI opcodes */
#define IORING_OP_SOCKET 45
#define IORING_CQE_F_MORE (1U << 1) /* multishot: more completions follow */
/* i386 syscall numbers (arch/x86/entry/syscalls/syscall_32.tbl) */
#define NR32_SOCKETCALL 102
#define NR32_SOCKET 359
#define NR32_SOCKETPAIR 360
#define NR32_ACCEPT4 364
/* socketcall(2) calls (include/uapi/linux/net.h) */
#define SYS_SOCKET 1
#define SYS_ACCEPT 5
#define SYS_SOCKETPAIR 8
#define SYS_ACCEPT4 18
/* TCP states (include/net/tcp_states.h) */
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_CLOSE 7

/* Load-time settings: written by the loader into .rodata before load. */
const volatile struct st_config cfg = {};

/*
 * Whether bpf_get_current_task_btf() exists (5.11+), decided by libbpf at load
 * against the running kernel's BTF: a constant, so the verifier prunes the
 * other branch. Direct BTF loads cost a few ns each; the fallback pays a
 * probe-read helper call per pointer followed.
 */
#define HAVE_TASK_BTF bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task_btf)

#endif /* __ST_CONFIG_BPF_H */
