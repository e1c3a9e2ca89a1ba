/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * socktrace.h - the one definition of what the BPF program sends to user space.
 *
 * Included by bpf/socktrace.bpf.c (after vmlinux.h) and imported by Swift as the
 * CSocktrace module. Plain C types only, no includes, explicit padding: both
 * compilers (clang -target bpf and the host's) must lay these out identically.
 * Tests/SocktraceCoreTests/LayoutTests.swift pins the sizes.
 *
 * Every record starts with struct st_header; `kind` says which struct follows,
 * `size` is sizeof that struct, so a reader can check before it reads.
 */
#ifndef SOCKTRACE_H
#define SOCKTRACE_H

#define ST_COMM_LEN 16
#define ST_PATH_LEN 256
#define ST_ARGS_LEN 256
#define ST_MAX_PIDS 1024
#define ST_MAX_FILTER 64 /* entries per --comm/--uid/--netns/--cgroup filter */
#define ST_ADDR_LEN 128 /* sizeof(struct sockaddr_storage) */
#define ST_LOCAL_LEN 112 /* a socket's own address: sockaddr_in/_in6/_un (110), padded to 8 */

/* Record kinds (st_header.kind). */
enum st_kind {
	ST_KIND_SOCKET = 1,     /* socket(2), or a kernel-internal __sock_create */
	ST_KIND_SOCKETPAIR = 2, /* socketpair(2): two sockets, two fds */
	ST_KIND_ACCEPT = 3,     /* accept(2)/accept4(2): a connected socket */
	ST_KIND_RELEASE = 4,    /* a socket born under tracing went away */
	ST_KIND_FORK = 5,       /* a traced process forked (or cloned a thread) */
	ST_KIND_EXEC = 6,       /* a traced process called execve */
	ST_KIND_EXIT = 7,       /* a traced process (thread group) exited */
	ST_KIND_BIND = 8,       /* bind(2): struct st_sockop with the address */
	ST_KIND_CONNECT = 9,    /* connect(2): struct st_sockop with the address */
	ST_KIND_LISTEN = 10,    /* listen(2): struct st_sockop, arg = backlog */
	ST_KIND_SHUTDOWN = 11,  /* shutdown(2): struct st_sockop, arg = how */
	ST_KIND_CONNECTED = 12, /* a connect(2) that returned EINPROGRESS ended */
};

/*
 * Why a record was not made (the `drops` map): the per-CPU array's index is
 * cause * ST_KIND_SLOTS + kind, so every loss is counted by cause and kind.
 */
enum st_loss_cause {
	ST_LOSS_RING_FULL = 0,        /* bpf_ringbuf_reserve failed: the reader is behind */
	ST_LOSS_TRACED_FULL = 1,      /* a forked child could not join `traced`: not followed */
	ST_LOSS_BIRTHS_FULL = 2,      /* a socket could not be remembered: no release record */
	ST_LOSS_INFLIGHT_FULL = 3,    /* a call could not be tracked: no record for it */
	ST_LOSS_KCREATE_FULL = 4,     /* a kernel __sock_create could not be tracked */
	ST_LOSS_UNRECORDED_BIRTH = 5, /* the release of a socket whose birth was lost */
	ST_LOSS_WALK_FULL = 6,        /* an exec closed more traced sockets than its note holds */
	ST_LOSS_FILTER_FULL = 7,      /* --port/--address maps (matched, held) full */
	ST_LOSS_OPFLIGHT_FULL = 8,    /* a bind/connect/listen/shutdown could not be tracked */
	ST_LOSS_PENDING_FULL = 9,     /* a non-blocking connect's outcome cannot be followed */
	ST_LOSS_KERNEL_CAUSES = 10,
};
#define ST_KIND_SLOTS 16 /* record kinds 0..15 */
#define ST_LOSS_SLOTS (ST_LOSS_KERNEL_CAUSES * ST_KIND_SLOTS)
/* births value bit: the birth record was lost, so its release is counted, not sent */
#define ST_BIRTH_LOST (1 << 30)

/* Which attach rung produced a record (st_socket.probe). */
enum st_probe {
	ST_PROBE_TRACEPOINT = 1,
	ST_PROBE_KPROBE = 2,
	ST_PROBE_FENTRY = 3,
};

/* How a socket was asked for (st_socket.via): the entry into the kernel. */
enum st_via {
	ST_VIA_UNKNOWN = 0,
	ST_VIA_SYSCALL = 1,    /* the native syscall: socket(2), socketpair(2), accept[4](2) */
	ST_VIA_IA32 = 2,       /* the 32-bit x86 syscall (int $0x80, sysenter) of the same name */
	ST_VIA_SOCKETCALL = 3, /* 32-bit socketcall(2) multiplexer */
	ST_VIA_IO_URING = 4,   /* io_uring IORING_OP_SOCKET / IORING_OP_ACCEPT */
	ST_VIA_KERNEL = 5,     /* __sock_create(kern=1): no syscall */
	ST_VIA_SNAPSHOT = 6,   /* open when tracing began: made by the tracer from /proc */
};

/* io_uring tracepoint signatures this kernel has (st_config.io_uring_form). */
enum st_io_uring_form {
	ST_URING_NONE = 0,     /* not traced (no io_uring, or a signature not known here) */
	ST_URING_SQE_CTX = 1,  /* io_uring_submit_sqe(ctx, req, opcode, user_data, ...) (5.10..5.19) */
	ST_URING_SQE_REQ = 2,  /* io_uring_submit_sqe(req, force_nonblock) (6.0..6.3) */
	ST_URING_REQ = 3,      /* io_uring_submit_req(req) (6.4..) */
};

/* io_uring_complete's signature (st_config.io_uring_complete). */
enum st_io_uring_complete {
	ST_URING_CQE_ARGS = 0,   /* (ctx, req, user_data, res, cflags[, extra1, extra2]) */
	ST_URING_CQE_PTR = 1,    /* (ctx, req, cqe) */
	ST_URING_CQE_NO_REQ = 2, /* (ctx, user_data, res, cflags) (5.10) */
};

/* Where a failed socket() failed (st_socket.failed_stage). */
enum st_stage {
	ST_STAGE_UNKNOWN = 0,    /* failed, but the rung cannot tell where */
	ST_STAGE_SYS_SOCKET = 1, /* __sys_socket itself (bad type flags): no __sock_create */
	ST_STAGE_SOCK_CREATE = 2, /* __sock_create: family, type, protocol, LSM, create */
	ST_STAGE_SOCK_MAP_FD = 3, /* sock_map_fd: fd allocation or file, socket released */
};

/* st_socket.cause_bits (failure cause, issue 22) */
#define ST_CAUSE_SECCOMP (1u << 0)     /* sys_exit without sys_enter in a task with a seccomp filter */
#define ST_CAUSE_NO_ARGS (1u << 1)     /* seccomp: family/type/protocol could not be read (no bpf_task_pt_regs) */
#define ST_CAUSE_LSM_SEEN (1u << 2)    /* the rung watched security_socket_create/post_create return */
#define ST_CAUSE_LSM_REFUSED (1u << 3) /* one of them returned an error */
#define ST_CAUSE_HAS_CAPS (1u << 4)    /* cap_effective was read */
#define ST_CAUSE_CAPS_NET_NS (1u << 5) /* ... and they are the caps in the user namespace owning its netns */
#define ST_CAUSE_FD_FIGURES (1u << 6)  /* fd_limit and open_fds were read */
#define ST_CAUSE_FDS_CAPPED (1u << 7)  /* open_fds stopped at ST_FD_WORDS words: at least that many */
#define ST_MODULE_LEN 32
#define ST_FD_WORDS 256 /* open_fds words counted: 16384 fds */

/* Which security module refused (st_socket.lsm): its socket_create or
 * socket_post_create hook returned the error. */
enum st_lsm {
	ST_LSM_NONE = 0, /* none seen (or the rung cannot tell) */
	ST_LSM_APPARMOR = 1,
	ST_LSM_SELINUX = 2,
	ST_LSM_BPF = 3,
	ST_LSM_SMACK = 4,
};

/* How a socket's end was seen (st_release.how). */
enum st_release_how {
	ST_RELEASE_SOCK = 1,        /* __sock_release: the kernel freed the socket */
	/* Tracepoint rung: how the last reference left its last fd table. */
	ST_RELEASE_CLOSE = 2,       /* close(2) */
	ST_RELEASE_DUP = 3,         /* dup2/dup3 over the fd */
	ST_RELEASE_CLOSE_RANGE = 4, /* close_range(2) */
	ST_RELEASE_EXEC = 5,        /* execve: the fd was close-on-exec */
	ST_RELEASE_EXIT = 6,        /* the process exited holding it */
};

/* st_sockop.bits */
#define ST_OP_UNTRACED_BIRTH (1u << 0) /* the socket was born before tracing (or unseen) */
#define ST_OP_HAS_ADDR (1u << 1)       /* addr/addr_len hold the address as passed */

/* st_socket.bits */
#define ST_BIT_KERNEL (1u << 0)       /* kern=1: a socket the kernel made for itself */
#define ST_BIT_HAS_STAGES (1u << 1)   /* sock_create_ns / sock_map_fd_ns are measured */
#define ST_BIT_HAS_INODE (1u << 2)    /* inode (and resolved type/protocol) were read */
#define ST_BIT_HAS_STAGE_INFO (1u << 3) /* failed_stage is meaningful for this rung */
#define ST_BIT_DIRECT (1u << 4)       /* io_uring direct descriptor: a fixed-file slot, no fd */

struct st_header {
	unsigned short kind;
	unsigned short size;
	unsigned int cpu;
	unsigned long long ts_ns; /* bpf_ktime_get_boot_ns() at the record's end */
	unsigned int pid;         /* tgid */
	unsigned int tid;
	unsigned int ppid;        /* real_parent's tgid */
	unsigned int uid;
	unsigned int gid;
	unsigned int netns;       /* network namespace inode */
	unsigned long long cgroup_id;
	char comm[ST_COMM_LEN];
};

/* One socket birth: socket(), socketpair() or accept(). Joined in the kernel. */
struct st_socket {
	struct st_header h;
	int family;
	int type;              /* as requested, with SOCK_NONBLOCK/SOCK_CLOEXEC */
	int protocol;          /* as requested */
	int resolved_type;     /* sock->type, -1 if unknown */
	int resolved_protocol; /* sk->sk_protocol, -1 if unknown */
	int ret;               /* syscall result: fd (0 for socketpair) or -errno */
	int fd2;               /* socketpair: the second fd; accept: listening fd; else -1 */
	unsigned int bits;     /* ST_BIT_* */
	unsigned long long inode;  /* socket inode (socket:[N]) or 0 */
	unsigned long long inode2; /* socketpair: second inode; accept: listener's */
	unsigned long long duration_ns;    /* entry to exit of the whole call */
	unsigned long long sock_create_ns; /* __sock_create, entry to return */
	unsigned long long sock_map_fd_ns; /* sock_map_fd: __sock_create return to exit */
	unsigned char probe;        /* enum st_probe */
	unsigned char failed_stage; /* enum st_stage */
	unsigned char pad[2];
	int fd;                /* the new fd (socketpair: the first), or -1 */
	/* accept: the peer, read from the new socket (AF_INET/AF_INET6), else 0 */
	unsigned short peer_family;
	unsigned short peer_port;      /* host byte order */
	unsigned char peer_addr[16];   /* IPv4 in the first 4 bytes, or IPv6 */
	unsigned char via;             /* enum st_via */
	unsigned char pad2[3];
	/* failure cause (issue 22): what only the kernel can tell about why a
	 * call failed; the cause itself is decided in user space from these, the
	 * arguments and the errno (Sources/SocktraceCore/Decode/FailureCause.swift). */
	unsigned long long cap_effective; /* the task's effective capabilities (ST_CAUSE_HAS_CAPS) */
	int fd_limit;                 /* EMFILE: RLIMIT_NOFILE's soft limit then, else -1 */
	int open_fds;                 /* EMFILE: bits set in the fd table's open_fds, else -1 */
	unsigned short cause_bits;    /* ST_CAUSE_* */
	unsigned char lsm;            /* enum st_lsm: the security module that refused */
	unsigned char pad3[5];
	char module[ST_MODULE_LEN];   /* request_module()'s name during the call, or "" */
	/* local address and peer (issue 21) */
	unsigned long long peer_inode; /* accept (unix): the connecting socket's inode, else 0 */
	unsigned int peer_pid;         /* accept: the process at the other end, 0 if unknown */
	unsigned short local_len;      /* bytes of `local` used; 0: not read */
	unsigned char state;           /* via snapshot: the TCP state (1 ESTABLISHED .. 12), else 0 */
	unsigned char pad4;
	char peer_comm[ST_COMM_LEN];   /* peer_pid's command name, when the kernel had it */
	unsigned char local[ST_LOCAL_LEN]; /* the socket's own address, as getsockname(2) gives it */
};

/*
 * A call on an existing socket: bind, connect, listen, shutdown. Keyed by the
 * socket's inode, the join key to its birth record.
 */
struct st_sockop {
	struct st_header h;
	unsigned long long inode;       /* 0 when fd held no socket */
	unsigned long long duration_ns; /* entry to exit of the call */
	int fd;
	int ret;                  /* 0 or -errno */
	int arg;                  /* listen: backlog; shutdown: how; else 0 */
	unsigned int addr_len;    /* bind/connect: the addrlen argument */
	unsigned int bits;        /* ST_OP_* */
	int family;               /* the socket's family, from the kernel, or -1 */
	int type;                 /* the socket's type, from the kernel, or -1 */
	unsigned int pad;
	unsigned char addr[ST_ADDR_LEN]; /* the sockaddr as passed, addr_len bytes */
	/* local address and peer (issue 21) */
	unsigned long long peer_inode; /* connect (unix): the socket reached, 0 if unknown */
	unsigned int peer_pid;         /* connect: the process at the other end, 0 if unknown */
	unsigned short local_len;      /* bytes of `local` used; 0: not read */
	unsigned char pad2[2];
	char peer_comm[ST_COMM_LEN];
	unsigned char local[ST_LOCAL_LEN]; /* read after the call, as getsockname(2) gives it */
};

/*
 * The outcome of a non-blocking connect: the TCP handshake finished (state
 * ESTABLISHED, error 0) or failed (error = the socket's error). The header is
 * the connect(2) caller's, written when the call returned.
 */
struct st_connected {
	struct st_header h;
	unsigned long long inode;
	unsigned long long duration_ns; /* connect(2) entry to the outcome */
	int error;                      /* 0 or a positive errno */
	int state;                      /* the TCP state reached */
	/* local address and peer (issue 21) */
	unsigned short local_len;       /* bytes of `local` used; 0: not read */
	unsigned char pad[6];
	unsigned char local[ST_LOCAL_LEN]; /* the source address and port the connect got */
};

struct st_release {
	struct st_header h;
	unsigned long long inode;
	unsigned int how; /* enum st_release_how */
	int family;       /* -1 if unknown */
};

struct st_fork {
	struct st_header h;
	unsigned int child_pid; /* child's tgid */
	unsigned int child_tid;
};

struct st_exec {
	struct st_header h;
	unsigned int args_len;  /* bytes of args used: NUL-separated argv */
	unsigned int args_truncated;
	char filename[ST_PATH_LEN];
	char args[ST_ARGS_LEN];
};

struct st_exit {
	struct st_header h;
	int exit_code; /* the wait status byte: code << 8 | signal */
	unsigned int pad;
};

/*
 * Load-time settings, written by the loader into .rodata before load so the
 * verifier prunes what is switched off.
 */
struct st_config {
	unsigned int self_tgid;         /* never trace the tracer */
	unsigned char filter_pids;      /* only tgids in the `traced` map */
	unsigned char follow;           /* add children of traced tgids to `traced` */
	unsigned char lifecycle;        /* emit fork/exec/exit and release records */
	unsigned char release_by_refs;  /* tracepoint rung: a release is the last fd reference going */
	unsigned long long wake_every_record; /* 1: wake the reader per record, 0: when the ring was empty */
	/* --port / --address: only sockets whose address matched (see `matched`) */
	unsigned char filter_ports;     /* ports in `filter_ports` */
	unsigned char filter_nets;      /* IPv4/IPv6 prefixes in `filter_nets` */
	unsigned char filter_paths;     /* unix names in `filter_paths` */
	unsigned char io_uring_form;    /* enum st_io_uring_form of this kernel */
	unsigned char io_uring_complete; /* enum st_io_uring_complete of this kernel */
	unsigned char pad2[3];
	/* --comm/--uid/--netns/--cgroup/--container: which processes (process_wanted) */
	unsigned char filter_comm;      /* comms in `filter_comms` */
	unsigned char filter_uid;       /* uids in `filter_uids` */
	unsigned char filter_netns;     /* netns inodes in `filter_netns` */
	unsigned char only_failed;      /* --failed: only socket births that failed */
	unsigned int filter_cgroups;    /* entries of `filter_cgroups` in use; 0: off */
	/* --family/--type: which socket births (socket_wanted); 0: all */
	unsigned long long families;    /* bit N: family N */
	unsigned int types;             /* bit N: type N (flags removed) */
	unsigned int pad3;
	/* the tracer's pid namespace (inode) when it is not the init one, else 0:
	 * pids are then translated to it (bpf "pid namespaces") */
	unsigned int pidns_inum;
	/* metrics only (--metrics, no record output): count in the kernel
	 * (bpf/lib/kmetrics.bpf.h), send no record */
	unsigned char metrics_only;
	unsigned char pad4[3];
};

#define ST_UNIX_PATH_LEN 108

/* A key of the `filter_nets` LPM trie: family tag (4 or 6), then the address. */
struct st_net_key {
	unsigned int prefixlen; /* 8 + the prefix's bits */
	unsigned char data[17];
	unsigned char pad[3];
};

/* A key of `filter_paths`: sun_path up to its NUL (abstract: all bytes given). */
struct st_path_key {
	unsigned char path[ST_UNIX_PATH_LEN];
};

#endif /* SOCKTRACE_H */
