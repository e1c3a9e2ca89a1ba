/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * vmlinux.h - the few kernel types socktrace reads, for CO-RE.
 *
 * Not a dump of the kernel's BTF: only the fields the program touches, each
 * struct marked preserve_access_index so libbpf relocates every access against
 * the running kernel's BTF at load time. Field order and padding here do not
 * matter; names and types do. Add a field here before reading it.
 */
#ifndef __VMLINUX_H__
#define __VMLINUX_H__

typedef signed char __s8;
typedef unsigned char __u8;
typedef short __s16;
typedef unsigned short __u16;
typedef int __s32;
typedef unsigned int __u32;
typedef long long __s64;
typedef unsigned long long __u64;
typedef __u8 u8;
typedef __s16 s16;
typedef __u16 u16;
typedef __s32 s32;
typedef __u32 u32;
typedef __s64 s64;
typedef __u64 u64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef _Bool bool;
enum { false = 0, true = 1 };
typedef int pid_t;

/* UAPI constants (include/uapi/linux/bpf.h): stable ABI, not relocated. */
enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_CGROUP_ARRAY = 8,
	BPF_MAP_TYPE_LRU_HASH = 9,
	BPF_MAP_TYPE_LPM_TRIE = 11,
	BPF_MAP_TYPE_RINGBUF = 27,
};
enum { BPF_ANY = 0, BPF_NOEXIST = 1, BPF_EXIST = 2 };
enum { BPF_F_NO_PREALLOC = 1, BPF_F_MMAPABLE = 1024 };
enum { BPF_RB_NO_WAKEUP = 1, BPF_RB_FORCE_WAKEUP = 2 };
enum { BPF_RB_AVAIL_DATA = 0 };
/* Only to ask, through CO-RE, whether the running kernel has a helper
 * (bpf_core_enum_value_exists): bpf_get_current_task_btf is 5.11+,
 * bpf_task_pt_regs 5.15+, bpf_get_func_arg 5.17+. */
enum bpf_func_id {
	BPF_FUNC_get_current_task_btf = 158,
	BPF_FUNC_task_pt_regs = 175,
	BPF_FUNC_get_func_arg = 183,
};

struct bpf_raw_tracepoint_args {
	u64 args[0];
};

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

/*
 * Registers at a kprobe, per architecture (the build passes __TARGET_ARCH_*):
 * the kernel's own names, used by PT_REGS_PARM*() and read with CO-RE.
 */
#if defined(__TARGET_ARCH_x86)
struct pt_regs {
	unsigned long bx, cx, dx, si, di, bp, ax, r8, r9, r10, orig_ax, ip, sp;
};

/* x86 keeps TS_COMPAT here while a 32-bit syscall runs (in_ia32_syscall()). */
struct thread_info {
	u32 status;
};
#elif defined(__TARGET_ARCH_arm64)
/* arm64's struct pt_regs begins with (a union holding) struct user_pt_regs. */
struct user_pt_regs {
	u64 regs[31];
	u64 sp;
	u64 pc;
	u64 pstate;
};
#else
#error "socktrace's BPF program knows x86 and arm64 registers: define __TARGET_ARCH_x86 or __TARGET_ARCH_arm64"
#endif

typedef struct {
	int counter;
} atomic_t;

struct ns_common {
	unsigned int inum;
};

struct user_namespace; /* compared, never followed */

struct net {
	struct ns_common ns;
	struct user_namespace *user_ns; /* owns the netns: ns_capable() asks here */
};

struct nsproxy {
	struct net *net_ns;
};

struct inode {
	unsigned short i_mode;
	unsigned long i_ino;
};

struct file {
	struct inode *f_inode;
	unsigned int f_flags;
	void *private_data;
};

typedef struct {
	long long counter;
} atomic64_t;

/* A file's reference count: file_ref_t f_ref since 6.13 (0 is one reference,
 * negative once released), atomic_long_t f_count before (0 once released). */
typedef struct {
	atomic64_t refcnt;
} file_ref_t;

struct file___ref {
	file_ref_t f_ref;
};

struct file___count {
	atomic64_t f_count;
};

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
	unsigned long *close_on_exec;
	unsigned long *open_fds; /* the fds alloc_fd counts as taken */
};

struct files_struct {
	atomic_t count;
	struct fdtable *fdt;
};

struct rlimit {
	unsigned long rlim_cur;
	unsigned long rlim_max;
};

struct signal_struct {
	atomic_t live;
	struct rlimit rlim[16]; /* RLIM_NLIMITS */
};

/* u32[2] before 6.3, one u64 since: 8 bytes either way, read by offset. */
typedef struct {
	u64 val;
} kernel_cap_t;

struct cred {
	kernel_cap_t cap_effective;
	struct user_namespace *user_ns;
};

/* CONFIG_SECCOMP: mode 2 is SECCOMP_MODE_FILTER. */
struct seccomp {
	int mode;
};

/* A pid namespace, compared by its ns.inum (/proc/PID/ns/pid). */
struct pid_namespace {
	struct ns_common ns;
};

/* One number of a struct pid: nr, as namespace ns numbers it. */
struct upid {
	int nr;
	struct pid_namespace *ns;
};

/*
 * A task's pid in every namespace from the init one (numbers[0]) down to its
 * own (numbers[level]): a flexible array in the kernel, [1] before 6.5.
 */
struct hlist_node {
	struct hlist_node *next, **pprev;
};

struct hlist_head {
	struct hlist_node *first;
};

struct pid {
	unsigned int level;
	struct hlist_head tasks[4]; /* by enum pid_type: the tasks using this pid */
	struct upid numbers[1];
};

struct mm_struct {
	unsigned long arg_start;
	unsigned long arg_end;
};

struct task_struct {
#if defined(__TARGET_ARCH_x86)
	struct thread_info thread_info;
#endif
	unsigned int flags; /* PF_* */
	int exit_state;     /* EXIT_ZOMBIE, EXIT_DEAD: set by exit_notify */
	int pid;
	int tgid;
	int exit_code;
	char comm[16];
	struct task_struct *real_parent;
	struct task_struct *group_leader;
	struct pid *thread_pid;
	struct files_struct *files;
	struct nsproxy *nsproxy;
	struct signal_struct *signal;
	struct mm_struct *mm;
	struct cred *cred; /* const in the kernel: read only */
	struct seccomp seccomp;
	struct hlist_node pid_links[4]; /* by enum pid_type: its place in pid->tasks */
};

typedef struct {
	struct net *net;
} possible_net_t;

struct in6_addr {
	union {
		u8 u6_addr8[16];
	} in6_u;
};

/* skc_daddr .. skc_num sit in anonymous unions in the kernel: CO-RE finds them by name. */
struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	u16 skc_num;
	unsigned short skc_family;
	possible_net_t skc_net;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
};

struct sock {
	struct sock_common __sk_common;
	u16 sk_protocol;
	u16 sk_type;
	int sk_err;
	struct pid *sk_peer_pid;   /* SO_PEERCRED's process (unix: set at connect/listen) */
	struct socket *sk_socket;  /* NULL until accepted (an embryo in the accept queue) */
};

/* af_unix: the bound name, and the other end of a connection. */
struct sockaddr_un {
	unsigned short sun_family;
	char sun_path[108];
};

struct unix_address {
	int len;                    /* bytes of name used, sun_family included */
	struct sockaddr_un name[0]; /* a flexible array ([] on 6.x, [0] before) */
};

struct unix_sock {
	struct sock sk;
	struct unix_address *addr;
	struct sock *peer;
};

struct socket {
	short type;
	struct file *file;
	struct sock *sk;
};

/* SOCK_INODE(): a socket and its inode are allocated together. */
struct socket_alloc {
	struct socket socket;
	struct inode vfs_inode;
};

struct linux_binprm {
	const char *filename;
};

/* io_uring (io_uring/io_uring.c, net.c; fs/io_uring.c before 6.0). */
struct io_ring_ctx;

struct io_cqe {
	u64 user_data;
	s32 res;
	int fd; /* in a union with flags: the sqe's fd until completion */
};

struct io_cmd_data {
	u64 data[8];
};

struct io_kiocb {
	struct file *file;       /* in a union with cmd (6.0+) or the op data (5.x) */
	struct io_cmd_data cmd;  /* 6.0+: the op's data, io_kiocb_to_cmd() */
	u8 opcode;
	struct io_cqe cqe;       /* 6.0+ */
	struct io_ring_ctx *ctx;
};

struct io_uring_cqe {
	u64 user_data;
	s32 res;
	u32 flags;
};

/* The op data of IORING_OP_SOCKET and IORING_OP_ACCEPT, set by their prep. */
struct io_socket {
	struct file *file;
	int domain;
	int type;
	int protocol;
	int flags;
	u32 file_slot;
};

struct io_accept {
	struct file *file;
	int flags;
	u32 file_slot;
};

#pragma clang attribute pop

/* Syscall tracepoint records: fixed layout, see events/syscalls/NAME/format. */
struct syscall_enter_ctx {
	unsigned long long common;
	long id;
	unsigned long args[6];
};

struct syscall_exit_ctx {
	unsigned long long common;
	long id;
	long ret;
};

#endif /* __VMLINUX_H__ */
