// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * socktrace.bpf.c - one record per socket birth, joined in the kernel.
 *
 * The path being traced (net/socket.c):
 *
 *   socket(2) -> __sys_socket(family, type, protocol)
 *     flags check               -EINVAL here never reaches __sock_create
 *     __sock_create(net, family, type, protocol, &sock, kern=0)
 *       sock_alloc, security_socket_create, pf->create (inet_create, ...),
 *       security_socket_post_create
 *     sock_map_fd(sock, flags)  inlined into __sys_socket on 6.1 .. 6.18:
 *       get_unused_fd_flags, sock_alloc_file, fd_install
 *
 * Three rungs see this path, the loader enables exactly one (Attach/AttachPlan):
 *   fentry/fexit  __sys_socket and __sock_create: stages, failed stage, kernel sockets
 *   kprobe        the same functions through kprobe/kretprobe
 *   tracepoint    syscalls/sys_{enter,exit}_socket: the whole call only; the
 *                 socket and inode are read from the task's fd table at exit
 *
 * socketpair(2) and accept(2) are traced at their syscall tracepoints on every
 * rung, process lifecycle at the sched tracepoints (tp_btf).
 *
 * Other ways in (README "Every path to a new socket"):
 *   io_uring IORING_OP_SOCKET (__sys_socket_file) and IORING_OP_ACCEPT
 *     (do_accept): tp_btf io_uring_submit_* remembers the op by (ring,
 *     user_data), io_uring_complete turns its cqe into the record.
 *   32-bit x86 syscalls (int $0x80: socket, socketpair, accept4, socketcall):
 *     the syscalls:* tracepoints skip them, raw_syscalls sys_enter/exit do not.
 *     __sys_socket sees socket() from either ABI.
 *
 * State for a call in flight is kept per thread in `inflight`; the exit hook
 * emits the record and deletes the entry on every path.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "socktrace.h"

#define EINVAL 22
#define EEXIST 17
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define SOCK_NONBLOCK 04000 /* O_NONBLOCK on x86 and arm64 */
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

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Load-time settings: written by the loader into .rodata before load. */
const volatile struct st_config cfg = {};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* resized by the loader */
} events SEC(".maps");

/* Records not made, by cause and kind (enum st_loss_cause): counted, never silent. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ST_LOSS_SLOTS);
	__type(key, u32);
	__type(value, u64);
} drops SEC(".maps");

/*
 * Traced thread groups (tgid -> 1), filled before attach, grown by follow.
 * Tgids as the tracer's pid namespace numbers them (user space fills it).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_MAX_PIDS * 8);
	__type(key, u32);
	__type(value, u8);
} traced SEC(".maps");

enum inflight_kind { IF_SOCKET = 1, IF_SOCKETPAIR, IF_ACCEPT };

struct inflight {
	u64 start_ns;
	u64 create_start_ns; /* __sock_create entry (function rungs) */
	u64 create_end_ns;   /* __sock_create return */
	u64 inode;
	u64 inode2;
	u64 uptr;            /* socketpair: user int[2]; kprobe: struct socket ** */
	int kind;
	int family, type, protocol;
	int create_ret;
	int resolved_type, resolved_protocol;
	int fd, fd2;
	u16 peer_family, peer_port; /* accept: the new socket's peer */
	u8 peer_addr[16];
	u8 via;              /* enum st_via */
	u8 direct;           /* io_uring direct descriptor: ret is a slot, not an fd */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, u32); /* tid */
	__type(value, struct inflight);
} inflight SEC(".maps");

/* Kernel-internal __sock_create (kern=1) in flight, by tid: entry time and res. */
struct kcreate {
	u64 start_ns;
	u64 res;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, u32);
	__type(value, struct kcreate);
} kcreate SEC(".maps");

/*
 * Sockets born under tracing (inode -> family): only these get release records.
 * A plain hash, not an LRU: an LRU would evict silently, a full hash refuses
 * the insert and the release it would have made is counted (ST_LOSS_BIRTHS_FULL).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, u64);
	__type(value, int);
} births SEC(".maps");

/*
 * Thread groups holding sockets born under tracing (tgid -> 1), children of
 * such a fork included: on the tracepoint rung close(2) of every other process
 * on the machine costs this one lookup, not a walk of its fd table. Keyed by
 * init-namespace tgids (the helper's, unique machine-wide, never translated):
 * only the kernel side fills and reads it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, u32);
	__type(value, u8);
} owners SEC(".maps");

/*
 * How many `owners` tgids share each value of a tgid's low 16 bits. Zero
 * proves a process owns nothing: an array lookup the verifier inlines, no
 * hashing, so close(2) of a process that never made a traced socket costs a
 * few instructions. Non-zero sends it to `owners`.
 */
#define ST_OWNER_HINTS 65536
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ST_OWNER_HINTS);
	__type(key, u32);
	__type(value, u32);
} owner_hints SEC(".maps");

static __always_inline u32 *owner_hint(u32 tgid)
{
	u32 slot = tgid & (ST_OWNER_HINTS - 1);

	return bpf_map_lookup_elem(&owner_hints, &slot);
}

/* Whether tgid may hold sockets born under tracing (false is certain). */
static __always_inline bool maybe_owner(u32 tgid)
{
	u32 *hint = owner_hint(tgid);

	return hint && *hint && bpf_map_lookup_elem(&owners, &tgid);
}

/* --comm (16-byte comms), --uid, --netns (inodes): filled before attach. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_MAX_FILTER);
	__type(key, char[ST_COMM_LEN]);
	__type(value, u8);
} filter_comms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_MAX_FILTER);
	__type(key, u32);
	__type(value, u8);
} filter_uids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_MAX_FILTER);
	__type(key, u32);
	__type(value, u8);
} filter_netns SEC(".maps");

/* --cgroup/--container: v2 cgroup directories (fds), each with everything below it. */
struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, ST_MAX_FILTER);
	__type(key, u32);
	__type(value, u32);
} filter_cgroups SEC(".maps");

/* ---- shared helpers ------------------------------------------------------ */

/*
 * Whether bpf_get_current_task_btf() exists (5.11+), decided by libbpf at load
 * against the running kernel's BTF: a constant, so the verifier prunes the
 * other branch. Direct BTF loads cost a few ns each; the fallback pays a
 * probe-read helper call per pointer followed.
 */
#define HAVE_TASK_BTF bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task_btf)

/* ---- pid namespaces: pids as the tracer's namespace numbers them ----------
 *
 * The helpers and task->tgid give init-namespace pids; a tracer in a PID
 * namespace (a container) knows its own namespace's: -p, the command it runs,
 * its getpid(). A task's struct pid holds one number per level, numbers[L]
 * in the level-L namespace the task is in, so a task of a namespace nested in
 * the tracer's has a number in the tracer's too. A task with none there (the
 * host's, another container's) is invisible to the tracer: pid 0, and never
 * traced (README "PID namespaces").
 *
 * cfg.pidns_inum is 0 when the tracer is in the init namespace: every branch
 * on it is pruned by the verifier, the pids are the helpers' own, for free.
 * Else pidns_probe, run once by the loader in the tracer's own context before
 * anything is attached, finds the tracer's level and namespace.
 */
u32 pidns_level; /* the tracer's namespace's level (0: init) */
u64 pidns;       /* its struct pid_namespace *: compared, never followed */

/* The number of `pid` (whose own level is `level`) in the tracer's namespace, or 0. */
static __always_inline u32 pid_nr_in_ns(struct pid *pid, u32 level)
{
	struct upid up = {};
	u32 at = pidns_level;

	if (!pid || level < at)
		return 0;
	bpf_probe_read_kernel(&up, sizeof(up),
			      (void *)pid + bpf_core_field_offset(pid->numbers) +
				      at * bpf_core_type_size(struct upid));
	return (u64)up.ns == pidns ? up.nr : 0;
}

/* A task's tgid (its leader's pid) or tid in the tracer's namespace: probe reads. */
static __always_inline u32 task_tgid_in_ns(struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, group_leader, thread_pid);

	return pid_nr_in_ns(pid, BPF_CORE_READ(pid, level));
}

static __always_inline u32 task_tid_in_ns(struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, thread_pid);

	return pid_nr_in_ns(pid, BPF_CORE_READ(pid, level));
}

/*
 * For tgid_traced: a tgid the tracer sees, or, for a task it cannot see, the
 * tracer's own, which tgid_traced refuses like the tracer itself (so the init
 * namespace's path has no test of its own for invisible tasks).
 */
static __always_inline u32 seen_or_self(u32 tgid)
{
	return tgid ? tgid : cfg.self_tgid;
}

/* A task's tgid as the tracer sees it (for tgid_traced), given the init namespace's. */
static __always_inline u32 task_tgid_seen(struct task_struct *task, u32 tgid)
{
	return cfg.pidns_inum ? seen_or_self(task_tgid_in_ns(task)) : tgid;
}

/* The current task's tgid as the tracer sees it (for tgid_traced). */
static __always_inline u32 current_tgid_seen(void)
{
	if (!cfg.pidns_inum)
		return bpf_get_current_pid_tgid() >> 32;
	if (HAVE_TASK_BTF) {
		struct pid *pid = bpf_get_current_task_btf()->group_leader->thread_pid;

		return seen_or_self(pid_nr_in_ns(pid, pid->level));
	}
	return seen_or_self(task_tgid_in_ns((struct task_struct *)bpf_get_current_task()));
}

/*
 * Never attached: the loader runs it once (BPF_PROG_TEST_RUN) when cfg.pidns_inum
 * is set, in its own thread. Finds the level of the tracer's namespace (the
 * last number of its pid), checks it is the namespace asked for and that the
 * tracer's tgid there is cfg.self_tgid (getpid()); returns level + 1, or 0.
 */
SEC("raw_tp")
int pidns_probe(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	u32 level = BPF_CORE_READ(pid, level);
	struct upid up = {};

	bpf_probe_read_kernel(&up, sizeof(up),
			      (void *)pid + bpf_core_field_offset(pid->numbers) +
				      level * bpf_core_type_size(struct upid));
	if (BPF_CORE_READ(up.ns, ns.inum) != cfg.pidns_inum)
		return 0;
	pidns_level = level;
	pidns = (u64)up.ns;
	return task_tgid_in_ns(task) == cfg.self_tgid ? level + 1 : 0;
}


/*
 * The current task against --uid, --comm, --netns and --cgroup/--container:
 * AND across kinds, OR within one. Each kind that is on costs one map lookup
 * (a cgroup: one ancestry check per directory given); the verifier prunes the
 * kinds that are off (cfg is const).
 */
static __always_inline bool process_wanted(void)
{
	if (cfg.filter_uid) {
		u32 uid = (u32)bpf_get_current_uid_gid();

		if (!bpf_map_lookup_elem(&filter_uids, &uid))
			return false;
	}
	if (cfg.filter_comm) {
		char comm[ST_COMM_LEN] = {};

		bpf_get_current_comm(comm, sizeof(comm));
		if (!bpf_map_lookup_elem(&filter_comms, comm))
			return false;
	}
	if (cfg.filter_netns) {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		u32 inum = BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);

		if (!bpf_map_lookup_elem(&filter_netns, &inum))
			return false;
	}
	if (cfg.filter_cgroups) {
		bool under = false;

		for (u32 i = 0; i < ST_MAX_FILTER && i < cfg.filter_cgroups; i++) {
			if (bpf_current_task_under_cgroup(&filter_cgroups, i) == 1) {
				under = true;
				break;
			}
		}
		if (!under)
			return false;
	}
	return true;
}

/*
 * Whether to trace `tgid` (as the tracer sees it: task_tgid_seen): always the
 * current task's (fork: the parent).
 */
static __always_inline bool tgid_traced(u32 tgid)
{
	if (tgid == cfg.self_tgid)
		return false;
	if (cfg.filter_pids && !bpf_map_lookup_elem(&traced, &tgid))
		return false;
	return process_wanted();
}

/* --family, --type, --failed: whether a socket birth is recorded. No map. */
static __always_inline bool socket_wanted(int family, int type, long ret)
{
	if (cfg.only_failed && ret >= 0)
		return false;
	if (cfg.families && (family < 0 || family > 63 || !(cfg.families & (1ULL << family))))
		return false;
	if (cfg.types && !(cfg.types & (1u << (type & 0xf))))
		return false;
	return true;
}

static __always_inline bool current_traced(void)
{
	return tgid_traced(current_tgid_seen());
}

static __always_inline u32 current_tid(void)
{
	return (u32)bpf_get_current_pid_tgid();
}

/* One record of `kind` not made, for `cause` (enum st_loss_cause). */
static __always_inline void count_drop(u32 cause, u32 kind)
{
	u32 slot = cause * ST_KIND_SLOTS + (kind & (ST_KIND_SLOTS - 1));
	u64 *n = bpf_map_lookup_elem(&drops, &slot);

	if (n)
		__sync_fetch_and_add(n, 1);
}

static __always_inline void *reserve(u32 kind, u32 size)
{
	void *rec = bpf_ringbuf_reserve(&events, size, 0);

	if (!rec)
		count_drop(ST_LOSS_RING_FULL, kind);
	return rec;
}

/*
 * Wake the reader for a record that lands in an empty ring, and for no other:
 * flags 0 let the kernel wake only when the consumer has caught up to this
 * record, so a lone event is delivered at once. A storm stays batched because
 * the reader, after each drain, lets records gather for a short window before
 * it waits again: records landing meanwhile find the ring non-empty and wake
 * nobody, so a storm costs at most one wakeup (an irq_work) per window.
 * cfg.wake_every_record forces a wakeup per record (a diagnostic).
 */
static __always_inline void submit(void *rec, u32 size)
{
	bpf_ringbuf_submit(rec, cfg.wake_every_record ? BPF_RB_FORCE_WAKEUP : 0);
}

static __always_inline void fill_header_at(struct st_header *h, u16 kind, u16 size, u64 now)
{
	u64 id = bpf_get_current_pid_tgid();
	u64 ugid = bpf_get_current_uid_gid();

	h->kind = kind;
	h->size = size;
	h->cpu = bpf_get_smp_processor_id();
	h->ts_ns = now;
	h->pid = id >> 32;
	h->tid = (u32)id;
	if (HAVE_TASK_BTF) {
		struct task_struct *task = bpf_get_current_task_btf();

		h->ppid = task->real_parent->tgid;
		h->netns = task->nsproxy->net_ns->ns.inum;
		if (cfg.pidns_inum) { /* as the tracer's namespace sees them */
			struct pid *leader = task->group_leader->thread_pid;
			struct pid *thread = task->thread_pid;
			struct pid *parent = task->real_parent->group_leader->thread_pid;

			h->pid = pid_nr_in_ns(leader, leader->level);
			h->tid = pid_nr_in_ns(thread, thread->level);
			h->ppid = pid_nr_in_ns(parent, parent->level);
		}
	} else {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();

		h->ppid = BPF_CORE_READ(task, real_parent, tgid);
		h->netns = BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
		if (cfg.pidns_inum) {
			h->pid = task_tgid_in_ns(task);
			h->tid = task_tid_in_ns(task);
			h->ppid = task_tgid_in_ns(BPF_CORE_READ(task, real_parent));
		}
	}
	h->uid = (u32)ugid;
	h->gid = ugid >> 32;
	h->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

static __always_inline void fill_header(struct st_header *h, u16 kind, u16 size)
{
	fill_header_at(h, kind, size, bpf_ktime_get_boot_ns());
}

/* The struct file behind fd in the current task's table, or NULL. */
static __always_inline struct file *fd_file(int fd)
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
		return NULL;
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	return file;
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

static __always_inline void remember_owner(u32 tgid)
{
	u32 *hint = owner_hint(tgid);
	u8 one = 1;
	long err;

	if (!hint)
		return;
	if (*hint && bpf_map_lookup_elem(&owners, &tgid))
		return; /* a lookup is cheaper than an update that changes nothing */
	/* Full only past 65536 live socket-owning processes: their closes go unseen. */
	err = bpf_map_update_elem(&owners, &tgid, &one, BPF_NOEXIST);
	if (err == 0)
		__sync_fetch_and_add(hint, 1); /* only the insert that made the entry counts */
	else if (err != -EEXIST)
		count_drop(ST_LOSS_OWNERS_FULL, ST_KIND_RELEASE);
}

/* A thread group is gone: it owns nothing any more (its hint goes down once). */
static __always_inline void forget_owner(u32 tgid)
{
	u32 *hint = owner_hint(tgid);

	if (hint && *hint && bpf_map_delete_elem(&owners, &tgid) == 0)
		__sync_fetch_and_add(hint, -1);
}

/* lost: the birth record was lost; its release is then counted, not sent. */
static __always_inline void remember_birth(u64 inode, int family, bool lost)
{
	int value = lost ? family | ST_BIRTH_LOST : family;

	if (!cfg.lifecycle || !inode)
		return;
	if (bpf_map_update_elem(&births, &inode, &value, BPF_ANY))
		count_drop(ST_LOSS_BIRTHS_FULL, ST_KIND_RELEASE);
	remember_owner(bpf_get_current_pid_tgid() >> 32);
}

/* Whether the current syscall is a 32-bit one (x86 ia32 emulation). */
static __always_inline bool current_ia32(void)
{
#if defined(__TARGET_ARCH_x86)
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	if (bpf_core_field_exists(task->thread_info.status))
		return BPF_CORE_READ(task, thread_info.status) & TS_COMPAT;
#endif
	return false;
}

/*
 * A thread's slot in `inflight`, made on its first socket call and reused by
 * every later one (a lookup and stores, not an update of the hash and a
 * delete per call); handle_exit frees it when the thread exits. Every field
 * is set here: a slot holds its last call until the next.
 */
static __always_inline struct inflight *start_call(int kind, int family, int type, int protocol)
{
	u32 tid = current_tid();
	struct inflight *f;

	if (!current_traced())
		return NULL;
	f = bpf_map_lookup_elem(&inflight, &tid);
	/* A 32-bit socket() that the ia32 hook began (it knows socketcall from a
	 * direct call): __sys_socket adds its stages to that record. */
	if (f && f->kind == kind && (f->via == ST_VIA_IA32 || f->via == ST_VIA_SOCKETCALL) &&
	    !f->create_start_ns)
		return f;
	if (!f) {
		struct inflight fresh = {};

		bpf_map_update_elem(&inflight, &tid, &fresh, BPF_NOEXIST);
		f = bpf_map_lookup_elem(&inflight, &tid);
		if (!f) {
			count_drop(ST_LOSS_INFLIGHT_FULL, kind == IF_SOCKET ? ST_KIND_SOCKET :
						     kind == IF_SOCKETPAIR ? ST_KIND_SOCKETPAIR : ST_KIND_ACCEPT);
			return NULL;
		}
	}
	f->start_ns = bpf_ktime_get_boot_ns();
	f->create_start_ns = 0;
	f->create_end_ns = 0;
	f->inode = 0;
	f->inode2 = 0;
	f->uptr = 0;
	f->kind = kind;
	f->family = family;
	f->type = type;
	f->protocol = protocol;
	f->create_ret = 0;
	f->resolved_type = -1;
	f->resolved_protocol = -1;
	f->fd = 0;
	f->fd2 = -1;
	f->peer_family = 0;
	f->peer_port = 0;
	__builtin_memset(f->peer_addr, 0, sizeof(f->peer_addr));
	f->via = current_ia32() ? ST_VIA_IA32 : ST_VIA_SYSCALL;
	f->direct = 0;
	return f;
}

/* ---- --port and --address: only sockets whose address matched ------------- */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, u16); /* port, host order */
	__type(value, u8);
} filter_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct st_net_key);
	__type(value, u8);
} filter_nets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct st_path_key);
	__type(value, u8);
} filter_paths SEC(".maps");

/* Sockets whose address matched (inode -> 1): every record of theirs is kept. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, u64);
	__type(value, u8);
} matched SEC(".maps");

/* Births held back until their socket's address matches (inode -> record). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, u64);
	__type(value, struct st_socket);
} held SEC(".maps");

static __always_inline bool address_filter(void)
{
	return cfg.filter_ports || cfg.filter_nets || cfg.filter_paths;
}

static __always_inline bool socket_matched(u64 inode)
{
	return inode && bpf_map_lookup_elem(&matched, &inode);
}

static __always_inline bool port_matches(u16 port)
{
	return cfg.filter_ports && bpf_map_lookup_elem(&filter_ports, &port);
}

/* An inet address (4 or 16 bytes at addr) against the --address prefixes. */
static __always_inline bool net_matches(u16 family, const u8 *addr)
{
	struct st_net_key key = {};

	if (!cfg.filter_nets)
		return false;
	if (family == AF_INET) {
		key.prefixlen = 8 + 32;
		key.data[0] = 4;
		__builtin_memcpy(&key.data[1], addr, 4);
	} else {
		key.prefixlen = 8 + 128;
		key.data[0] = 6;
		__builtin_memcpy(&key.data[1], addr, 16);
	}
	return bpf_map_lookup_elem(&filter_nets, &key) != NULL;
}

/* A sockaddr as passed to bind/connect, against --port and --address. */
static __always_inline bool sockaddr_matches(const u8 *addr, u32 len)
{
	u16 family = *(const u16 *)addr;

	if (len < 2)
		return false;
	if (family == AF_INET || family == AF_INET6) {
		if (port_matches(bpf_ntohs(*(const u16 *)(addr + 2))))
			return true;
		return net_matches(family, family == AF_INET ? addr + 4 : addr + 8);
	}
	if (family == AF_UNIX && cfg.filter_paths) {
		struct st_path_key key = {};
		bool abstract = addr[2] == 0;

		for (int i = 0; i < ST_UNIX_PATH_LEN; i++) {
			u8 byte = addr[2 + i];

			if ((u32)i + 2 >= len || (!abstract && byte == 0))
				break;
			key.path[i] = byte;
		}
		return bpf_map_lookup_elem(&filter_paths, &key) != NULL;
	}
	return false;
}

/* A socket matched: its held birth goes out first, then everything it does. */
static __always_inline void mark_matched(u64 inode)
{
	struct st_socket *birth, *e;
	u8 one = 1;

	if (!inode || bpf_map_lookup_elem(&matched, &inode))
		return;
	if (bpf_map_update_elem(&matched, &inode, &one, BPF_ANY) != 0)
		count_drop(ST_LOSS_FILTER_FULL, 0); /* its later records cannot be kept */
	birth = bpf_map_lookup_elem(&held, &inode);
	if (!birth)
		return;
	e = reserve(birth->h.kind, sizeof(*e));
	if (e) {
		__builtin_memcpy(e, birth, sizeof(*e));
		submit(e, sizeof(*e));
	}
	bpf_map_delete_elem(&held, &inode);
}

/* The record of a socket-creating call, from its state in flight. */
static __always_inline void fill_socket(struct st_socket *e, int kind, struct inflight *f, long ret,
					u8 probe, bool stages, u64 now)
{
	fill_header_at(&e->h, kind, sizeof(*e), now);
	e->family = f->family;
	e->type = f->type;
	e->protocol = f->protocol;
	e->ret = ret;
	e->fd = ret >= 0 ? (kind == ST_KIND_SOCKETPAIR ? f->fd : ret) : -1;
	e->fd2 = f->fd2;
	e->probe = probe;
	e->via = f->via;
	__builtin_memset(e->pad2, 0, sizeof(e->pad2));
	e->duration_ns = now - f->start_ns;
	e->resolved_type = f->resolved_type;
	e->resolved_protocol = f->resolved_protocol;
	e->bits = 0;
	if (f->direct) { /* io_uring direct descriptor: a fixed-file slot, no fd */
		e->fd = -1;
		e->bits |= ST_BIT_DIRECT;
	}
	if (ret >= 0) {
		e->inode = f->inode;
		e->inode2 = f->inode2;
		if (f->inode)
			e->bits |= ST_BIT_HAS_INODE;
	} else {
		e->inode = 0;
		e->inode2 = kind == ST_KIND_ACCEPT ? f->inode2 : 0;
	}
	e->peer_family = f->peer_family;
	e->peer_port = f->peer_port;
	__builtin_memcpy(e->peer_addr, f->peer_addr, sizeof(e->peer_addr));
	e->sock_create_ns = 0;
	e->sock_map_fd_ns = 0;
	e->failed_stage = ST_STAGE_UNKNOWN;
	if (stages) {
		e->bits |= ST_BIT_HAS_STAGE_INFO;
		if (f->create_end_ns) {
			e->bits |= ST_BIT_HAS_STAGES;
			e->sock_create_ns = f->create_end_ns - f->create_start_ns;
			e->sock_map_fd_ns = now - f->create_end_ns;
		}
		if (ret < 0) {
			if (!f->create_end_ns)
				e->failed_stage = ST_STAGE_SYS_SOCKET;
			else if (f->create_ret < 0)
				e->failed_stage = ST_STAGE_SOCK_CREATE;
			else
				e->failed_stage = ST_STAGE_SOCK_MAP_FD;
		}
	}
}

/*
 * With --port/--address a new socket has no address yet: its birth is held in
 * `held` until a bind or connect matches (then it goes out first), and
 * dropped with the socket otherwise. An accepted socket is kept when its
 * listener matched or its peer does.
 */
static __always_inline bool birth_kept(int kind, struct inflight *f, long ret, u8 probe, bool stages,
				       u64 now)
{
	struct st_socket rec = {};

	if (!address_filter())
		return true;
	if (ret < 0)
		return false; /* no socket, so never an address */
	if (kind == ST_KIND_ACCEPT)
		return socket_matched(f->inode2) || port_matches(f->peer_port) ||
		       ((f->peer_family == AF_INET || f->peer_family == AF_INET6) &&
			net_matches(f->peer_family, f->peer_addr));
	fill_socket(&rec, kind, f, ret, probe, stages, now);
	if (bpf_map_update_elem(&held, &f->inode, &rec, BPF_ANY) != 0)
		count_drop(ST_LOSS_FILTER_FULL, kind); /* the birth is lost if its socket matches later */
	if (kind == ST_KIND_SOCKETPAIR && f->inode2)
		bpf_map_update_elem(&held, &f->inode2, &rec, BPF_ANY);
	return false;
}

/* Emit the one record of a socket-creating call. */
static __always_inline void emit_call(int kind, struct inflight *f, long ret, u8 probe, bool stages)
{
	u64 now = bpf_ktime_get_boot_ns();
	struct st_socket *e;

	if (!socket_wanted(f->family, f->type, ret))
		return;
	if (!birth_kept(kind, f, ret, probe, stages, now)) {
		if (ret >= 0) { /* held: its release is decided by the filter */
			remember_birth(f->inode, f->family, false);
			if (kind == ST_KIND_SOCKETPAIR)
				remember_birth(f->inode2, f->family, false);
		}
		return;
	}
	e = reserve(kind, sizeof(*e));
	/*
	 * One test of e, right here: a second one is a branch 6.1's verifier
	 * cannot prune for ring-buffer memory, and it then sees the record leak.
	 * A lost birth's release is lost with it: remembered, to be counted.
	 */
	if (!e) {
		if (ret >= 0) {
			remember_birth(f->inode, f->family, true);
			if (kind == ST_KIND_SOCKETPAIR)
				remember_birth(f->inode2, f->family, true);
		}
		return;
	}
	if (ret >= 0) {
		remember_birth(f->inode, f->family, false);
		if (kind == ST_KIND_SOCKETPAIR)
			remember_birth(f->inode2, f->family, false);
	}
	fill_socket(e, kind, f, ret, probe, stages, now);
	submit(e, sizeof(*e));
	if (address_filter())
		mark_matched(f->inode); /* an accepted socket of a matched listener */
}

/* Emit the one record of a socket-creating call, then free its slot. */
static __always_inline void finish_call(int kind, struct inflight *f, long ret, u8 probe,
					bool stages)
{
	emit_call(kind, f, ret, probe, stages);
	f->kind = 0; /* done: the slot waits for the thread's next call */
}

/* ---- rung 1: fentry/fexit ------------------------------------------------ */

SEC("fentry/__sys_socket")
int BPF_PROG(fentry_sys_socket, int family, int type, int protocol)
{
	start_call(IF_SOCKET, family, type, protocol);
	return 0;
}

SEC("fexit/__sys_socket")
int BPF_PROG(fexit_sys_socket, int family, int type, int protocol, int ret)
{
	u32 tid = current_tid();
	struct inflight *f = bpf_map_lookup_elem(&inflight, &tid);

	if (f && f->kind == IF_SOCKET)
		finish_call(ST_KIND_SOCKET, f, ret, ST_PROBE_FENTRY, true);
	return 0;
}

/* __sock_create entry: a stage of an in-flight socket(), or a kernel socket. */
static __always_inline void sock_create_enter(int kern, u64 res)
{
	u32 tid = current_tid();
	struct inflight *f = bpf_map_lookup_elem(&inflight, &tid);

	if (f && f->kind == IF_SOCKET && !kern) {
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
	struct kcreate *k;
	struct st_socket *e;

	if (f && f->kind == IF_SOCKET && !kern) {
		f->create_end_ns = bpf_ktime_get_boot_ns();
		f->create_ret = ret;
		if (ret == 0)
			read_socket(f, sock);
		return;
	}
	k = bpf_map_lookup_elem(&kcreate, &tid);
	if (!k)
		return;
	if (!socket_wanted(BPF_CORE_READ(sock, sk, __sk_common.skc_family), BPF_CORE_READ(sock, type), ret))
		goto out;
	/* A socket the kernel made for itself: no syscall, no fd. */
	e = reserve(ST_KIND_SOCKET, sizeof(*e));
	if (e) {
		u64 now = bpf_ktime_get_boot_ns();

		fill_header(&e->h, ST_KIND_SOCKET, sizeof(*e));
		/* A kernel socket belongs to the namespace it was made for (unshare
		 * makes them for the new one while the task still sits in the old). */
		if (ret == 0)
			e->h.netns = BPF_CORE_READ(sock, sk, __sk_common.skc_net.net, ns.inum);
		e->family = BPF_CORE_READ(sock, sk, __sk_common.skc_family);
		e->type = BPF_CORE_READ(sock, type);
		e->protocol = -1;
		e->resolved_type = ret == 0 ? e->type : -1;
		e->resolved_protocol = ret == 0 ? BPF_CORE_READ(sock, sk, sk_protocol) : -1;
		e->ret = ret;
		e->fd = -1;
		e->fd2 = -1;
		e->inode = ret == 0 ? socket_inode(sock) : 0;
		e->inode2 = 0;
		e->duration_ns = now - k->start_ns;
		e->sock_create_ns = now - k->start_ns;
		e->sock_map_fd_ns = 0;
		e->probe = probe;
		e->via = ST_VIA_KERNEL;
		__builtin_memset(e->pad2, 0, sizeof(e->pad2));
		e->failed_stage = ret < 0 ? ST_STAGE_SOCK_CREATE : ST_STAGE_UNKNOWN;
		e->bits = ST_BIT_KERNEL | ST_BIT_HAS_STAGE_INFO | ST_BIT_HAS_STAGES |
			  (e->inode ? ST_BIT_HAS_INODE : 0);
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
	start_call(IF_SOCKET, family, type, protocol);
	return 0;
}

SEC("kretprobe/__sys_socket")
int BPF_KRETPROBE(kretprobe_sys_socket, int ret)
{
	u32 tid = current_tid();
	struct inflight *f = bpf_map_lookup_elem(&inflight, &tid);

	if (f && f->kind == IF_SOCKET)
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

	if (f && f->kind == IF_SOCKET) {
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

/* ---- rung 3: syscall tracepoints ----------------------------------------- */

SEC("tracepoint/syscalls/sys_enter_socket")
int tp_enter_socket(struct syscall_enter_ctx *ctx)
{
	start_call(IF_SOCKET, ctx->args[0], ctx->args[1], ctx->args[2]);
	return 0;
}

/* sock_map_fd has installed the file by now: read the socket from the fd table. */
static __always_inline void socket_exit(long ret)
{
	u32 tid = current_tid();
	struct inflight *f = bpf_map_lookup_elem(&inflight, &tid);

	if (!f || f->kind != IF_SOCKET)
		return;
	if (ret >= 0)
		read_socket(f, fd_socket(ret));
	finish_call(ST_KIND_SOCKET, f, ret, ST_PROBE_TRACEPOINT, false);
}

SEC("tracepoint/syscalls/sys_exit_socket")
int tp_exit_socket(struct syscall_exit_ctx *ctx)
{
	socket_exit(ctx->ret);
	return 0;
}

/* ---- socketpair(2) and accept(2): syscall tracepoints on every rung -------- */

SEC("tracepoint/syscalls/sys_enter_socketpair")
int tp_enter_socketpair(struct syscall_enter_ctx *ctx)
{
	struct inflight *f;

	f = start_call(IF_SOCKETPAIR, ctx->args[0], ctx->args[1], ctx->args[2]);
	if (f)
		f->uptr = ctx->args[3];
	return 0;
}

static __always_inline void socketpair_exit(long ret)
{
	u32 tid = current_tid();
	struct inflight *f = bpf_map_lookup_elem(&inflight, &tid);
	int fds[2] = {-1, -1};

	if (!f || f->kind != IF_SOCKETPAIR)
		return;
	if (ret == 0 && bpf_probe_read_user(fds, sizeof(fds), (void *)f->uptr) == 0) {
		struct socket *second = fd_socket(fds[1]);

		read_socket(f, fd_socket(fds[0]));
		f->inode2 = second ? socket_inode(second) : 0;
		f->fd = fds[0];
		f->fd2 = fds[1];
	}
	finish_call(ST_KIND_SOCKETPAIR, f, ret, ST_PROBE_TRACEPOINT, false);
}

SEC("tracepoint/syscalls/sys_exit_socketpair")
int tp_exit_socketpair(struct syscall_exit_ctx *ctx)
{
	socketpair_exit(ctx->ret);
	return 0;
}

static __always_inline void accept_enter(int listen_fd, int flags)
{
	struct inflight *f;
	struct socket *listener;

	f = start_call(IF_ACCEPT, 0, 0, 0);
	if (!f)
		return;
	listener = fd_socket(listen_fd);
	f->fd2 = listen_fd;
	if (listener) {
		f->inode2 = socket_inode(listener);
		f->family = BPF_CORE_READ(listener, sk, __sk_common.skc_family);
		/* accept4's SOCK_NONBLOCK/SOCK_CLOEXEC are the new socket's flags. */
		f->type = BPF_CORE_READ(listener, type) | flags;
		f->protocol = BPF_CORE_READ(listener, sk, sk_protocol);
	}
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

static __always_inline void accept_exit(long ret)
{
	u32 tid = current_tid();
	struct inflight *f = bpf_map_lookup_elem(&inflight, &tid);

	if (!f || f->kind != IF_ACCEPT)
		return;
	if (ret >= 0) {
		struct socket *sock = fd_socket(ret);

		read_socket(f, sock);
		read_peer(f, sock);
	}
	finish_call(ST_KIND_ACCEPT, f, ret, ST_PROBE_TRACEPOINT, false);
}

SEC("tracepoint/syscalls/sys_enter_accept4")
int tp_enter_accept4(struct syscall_enter_ctx *ctx)
{
	accept_enter(ctx->args[0], ctx->args[3]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int tp_exit_accept4(struct syscall_exit_ctx *ctx)
{
	accept_exit(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_accept")
int tp_enter_accept(struct syscall_enter_ctx *ctx)
{
	accept_enter(ctx->args[0], 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int tp_exit_accept(struct syscall_exit_ctx *ctx)
{
	accept_exit(ctx->ret);
	return 0;
}

/* ---- what a socket became: bind, connect, listen, shutdown ---------------- */

/*
 * Syscall tracepoints on every rung: the address is copied from user memory at
 * entry (as passed), the socket's inode is read from the fd table at exit, so
 * each record joins its socket's birth (or says the socket was born before).
 */
struct opflight {
	u64 start_ns;
	int kind; /* ST_KIND_BIND .. ST_KIND_SHUTDOWN */
	int fd;
	int arg;
	u32 addr_len;
	u8 addr[ST_ADDR_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, u32); /* tid */
	__type(value, struct opflight);
} opflight SEC(".maps");

#define SOCK_STREAM 1
#define O_NONBLOCK 04000
#define EINPROGRESS 115
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_CLOSE 7

/*
 * A non-blocking TCP connect in flight, by struct sock: made at connect(2)
 * entry, because on loopback the handshake can end before the call returns.
 * The outcome is emitted once both the call has returned EINPROGRESS and the
 * handshake has ended, by whichever side comes last. (The two sides run on
 * the same CPU when the handshake ends inside the call, as on loopback; on a
 * real network the answer arrives long after the call returned.)
 */
struct pending_connect {
	struct st_header h; /* the connect record's, once the call returned */
	u64 inode;
	u64 start_ns;
	u64 outcome_ns; /* when the handshake ended, 0 while it has not */
	int error;
	int state;
	u32 returned; /* connect(2) returned EINPROGRESS */
	u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, u64); /* struct sock * */
	__type(value, struct pending_connect);
} pending_connects SEC(".maps");

static __always_inline void op_enter(int kind, int fd, int arg, const void *uaddr, u32 addr_len)
{
	u32 tid = current_tid();
	struct opflight *f;

	if (!current_traced())
		return;
	f = bpf_map_lookup_elem(&opflight, &tid); /* the thread's slot, as in start_call */
	if (!f) {
		struct opflight fresh = {};

		bpf_map_update_elem(&opflight, &tid, &fresh, BPF_NOEXIST);
		f = bpf_map_lookup_elem(&opflight, &tid);
		if (!f) {
			count_drop(ST_LOSS_OPFLIGHT_FULL, kind);
			return;
		}
	}
	f->start_ns = bpf_ktime_get_boot_ns();
	f->kind = kind;
	f->fd = fd;
	f->arg = arg;
	f->addr_len = addr_len;
	__builtin_memset(f->addr, 0, sizeof(f->addr));
	if (uaddr && addr_len) {
		u32 len = addr_len > ST_ADDR_LEN ? ST_ADDR_LEN : addr_len;

		/* ST_ADDR_LEN is a power of two: the mask bounds len for the verifier. */
		bpf_probe_read_user(f->addr, ((len - 1) & (ST_ADDR_LEN - 1)) + 1, uaddr);
	}
}

/* A non-blocking connect on a TCP socket is followed to its outcome. */
static __always_inline void watch_connect(int fd, u64 start_ns)
{
	struct pending_connect p = {};
	struct file *file = fd_file(fd);
	struct socket *sock;
	u64 sk;
	u16 family;

	if (!file || !(BPF_CORE_READ(file, f_flags) & O_NONBLOCK))
		return;
	sock = file_socket(file);
	if (!sock || BPF_CORE_READ(sock, type) != SOCK_STREAM)
		return;
	sk = (u64)BPF_CORE_READ(sock, sk);
	family = BPF_CORE_READ((struct sock *)sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return;
	p.start_ns = start_ns;
	p.inode = socket_inode(sock);
	if (bpf_map_update_elem(&pending_connects, &sk, &p, BPF_ANY) != 0)
		count_drop(ST_LOSS_PENDING_FULL, ST_KIND_CONNECTED); /* its outcome cannot be followed */
}

static __always_inline void emit_connected(struct pending_connect *p)
{
	struct st_connected *e;

	if (address_filter() && !socket_matched(p->inode))
		return;
	e = reserve(ST_KIND_CONNECTED, sizeof(*e));
	if (!e)
		return;
	e->h = p->h;
	e->h.kind = ST_KIND_CONNECTED;
	e->h.size = sizeof(*e);
	e->h.ts_ns = p->outcome_ns;
	e->inode = p->inode;
	e->duration_ns = p->outcome_ns - p->start_ns;
	e->error = p->error;
	e->state = p->state;
	submit(e, sizeof(*e));
}

static __always_inline void op_exit(int kind, long ret)
{
	u32 tid = current_tid();
	struct opflight *f = bpf_map_lookup_elem(&opflight, &tid);
	struct pending_connect *p = NULL;
	struct st_sockop *e;
	struct socket *sock;
	u64 sk = 0, now, inode;

	if (!f || f->kind != kind)
		return;
	sock = fd_socket(f->fd);
	if (kind == ST_KIND_CONNECT && sock) {
		sk = (u64)BPF_CORE_READ(sock, sk);
		p = bpf_map_lookup_elem(&pending_connects, &sk);
	}
	if (address_filter() && sock) {
		inode = socket_inode(sock);

		/* bind and connect can make a socket match; listen and shutdown only follow */
		if ((kind == ST_KIND_BIND || kind == ST_KIND_CONNECT) &&
		    sockaddr_matches(f->addr, f->addr_len))
			mark_matched(inode);
		if (!socket_matched(inode))
			goto out;
	} else if (address_filter()) {
		goto out;
	}
	e = reserve(kind, sizeof(*e));
	if (!e)
		goto out;
	now = bpf_ktime_get_boot_ns();
	fill_header_at(&e->h, kind, sizeof(*e), now);
	inode = sock ? socket_inode(sock) : 0;
	e->inode = inode;
	e->duration_ns = now - f->start_ns;
	e->fd = f->fd;
	e->ret = ret;
	e->arg = f->arg;
	e->addr_len = f->addr_len;
	e->family = sock ? BPF_CORE_READ(sock, sk, __sk_common.skc_family) : -1;
	e->type = sock ? BPF_CORE_READ(sock, type) : -1;
	e->bits = f->addr_len ? ST_OP_HAS_ADDR : 0;
	/* the key on the stack: 6.1 takes no ring-buffer memory as a map key */
	if (inode && !bpf_map_lookup_elem(&births, &inode))
		e->bits |= ST_OP_UNTRACED_BIRTH;
	e->pad = 0;
	__builtin_memcpy(e->addr, f->addr, sizeof(e->addr));
	if (p && ret == -EINPROGRESS) {
		p->h = e->h;
		p->returned = 1;
	}
	submit(e, sizeof(*e));
out:
	if (p) {
		if (ret != -EINPROGRESS)
			bpf_map_delete_elem(&pending_connects, &sk);
		else if (p->outcome_ns) {
			emit_connected(p); /* the handshake ended inside the call */
			bpf_map_delete_elem(&pending_connects, &sk);
		}
	}
	f->kind = 0;
}

SEC("tracepoint/syscalls/sys_enter_bind")
int tp_enter_bind(struct syscall_enter_ctx *ctx)
{
	op_enter(ST_KIND_BIND, ctx->args[0], 0, (const void *)ctx->args[1], ctx->args[2]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_bind")
int tp_exit_bind(struct syscall_exit_ctx *ctx)
{
	op_exit(ST_KIND_BIND, ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_connect")
int tp_enter_connect(struct syscall_enter_ctx *ctx)
{
	u32 tid = current_tid();
	struct opflight *f;

	op_enter(ST_KIND_CONNECT, ctx->args[0], 0, (const void *)ctx->args[1], ctx->args[2]);
	f = bpf_map_lookup_elem(&opflight, &tid);
	if (f && f->kind == ST_KIND_CONNECT)
		watch_connect(f->fd, f->start_ns);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int tp_exit_connect(struct syscall_exit_ctx *ctx)
{
	op_exit(ST_KIND_CONNECT, ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_listen")
int tp_enter_listen(struct syscall_enter_ctx *ctx)
{
	op_enter(ST_KIND_LISTEN, ctx->args[0], ctx->args[1], NULL, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_listen")
int tp_exit_listen(struct syscall_exit_ctx *ctx)
{
	op_exit(ST_KIND_LISTEN, ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_shutdown")
int tp_enter_shutdown(struct syscall_enter_ctx *ctx)
{
	op_enter(ST_KIND_SHUTDOWN, ctx->args[0], ctx->args[1], NULL, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_shutdown")
int tp_exit_shutdown(struct syscall_exit_ctx *ctx)
{
	op_exit(ST_KIND_SHUTDOWN, ctx->ret);
	return 0;
}

/*
 * Every TCP state change on the machine passes here (often in softirq, on
 * behalf of no particular task): one lookup, and only a connect being
 * followed goes further. SYN_SENT -> ESTABLISHED is success; -> CLOSE carries
 * the socket's error (ECONNREFUSED, ETIMEDOUT, ...).
 */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(handle_inet_state, struct sock *sk, int oldstate, int newstate)
{
	u64 key = (u64)sk;
	struct pending_connect *p;

	if (oldstate != TCP_SYN_SENT)
		return 0;
	p = bpf_map_lookup_elem(&pending_connects, &key);
	if (!p)
		return 0;
	p->outcome_ns = bpf_ktime_get_boot_ns();
	p->state = newstate;
	p->error = newstate == TCP_ESTABLISHED ? 0 : BPF_CORE_READ(sk, sk_err);
	if (!p->returned)
		return 0; /* connect(2) still in flight: it emits both records */
	emit_connected(p);
	bpf_map_delete_elem(&pending_connects, &key);
	return 0;
}

/* ---- io_uring: IORING_OP_SOCKET and IORING_OP_ACCEPT, on every rung ---------
 *
 * io_uring_enter(2) -> io_submit_sqe: trace io_uring_submit_sqe / _submit_req
 *   IORING_OP_SOCKET: io_socket -> __sys_socket_file -> __sock_create (kern=0)
 *     -> fd_install (or a fixed-file slot)
 *   IORING_OP_ACCEPT: io_accept -> do_accept -> fd_install (multishot: one cqe
 *     with IORING_CQE_F_MORE per connection)
 * -> io_uring_complete (cqe res = fd or -errno), inline, from task work or an
 *   io-wq worker thread of the same process.
 * No syscall tracepoint and no __sys_socket sees these. The op is remembered
 * at submission by (ring, user_data) and emitted at each completion. The
 * tracepoints' arguments changed over time: cfg.io_uring_form (from the
 * kernel's BTF, by the loader) says which signature this kernel has.
 */
struct uring_key {
	u64 ring;
	u64 user_data;
};

struct uring_op {
	struct inflight f;
	u32 refs; /* submissions with this key not yet completed */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct uring_key);
	__type(value, struct uring_op);
} uring_ops SEC(".maps");

/* The listening socket of an accept from the file it was submitted on. */
static __always_inline void uring_listener(struct inflight *f, struct file *file, int fd)
{
	struct socket *listener;
	struct inode *inode = BPF_CORE_READ(file, f_inode);

	if (!file || (BPF_CORE_READ(inode, i_mode) & S_IFMT) != S_IFSOCK)
		return;
	listener = (struct socket *)BPF_CORE_READ(file, private_data);
	f->fd2 = fd;
	f->inode2 = socket_inode(listener);
	f->family = BPF_CORE_READ(listener, sk, __sk_common.skc_family);
	f->type = BPF_CORE_READ(listener, type);
	f->protocol = BPF_CORE_READ(listener, sk, sk_protocol);
}

static __always_inline void uring_submit(u64 ring, u64 user_data, u8 opcode, struct io_kiocb *req)
{
	struct uring_key key = {.ring = ring, .user_data = user_data};
	struct uring_op op = {}, *old;

	if (opcode != IORING_OP_SOCKET && opcode != IORING_OP_ACCEPT)
		return;
	if (!current_traced())
		return;
	old = bpf_map_lookup_elem(&uring_ops, &key);
	if (old) {
		old->refs++; /* same ring and user_data in flight twice: rare, unlocked */
		return;
	}
	op.refs = 1;
	op.f.kind = opcode == IORING_OP_SOCKET ? IF_SOCKET : IF_ACCEPT;
	op.f.via = ST_VIA_IO_URING;
	op.f.start_ns = bpf_ktime_get_boot_ns();
	op.f.resolved_type = -1;
	op.f.resolved_protocol = -1;
	op.f.fd2 = -1;
	if (cfg.io_uring_form == ST_URING_SQE_CTX) {
		/* 5.x: the file is assigned before the tracepoint; op data in a union */
		if (opcode == IORING_OP_ACCEPT)
			uring_listener(&op.f, BPF_CORE_READ(req, file), -1);
	} else {
		/* 6.x: prep has filled the op data in req->cmd; the file comes at issue */
		void *cmd = (void *)req + bpf_core_field_offset(req->cmd);

		if (opcode == IORING_OP_SOCKET) {
			struct io_socket *sk = cmd;

			op.f.family = BPF_CORE_READ(sk, domain);
			op.f.type = BPF_CORE_READ(sk, type);
			op.f.protocol = BPF_CORE_READ(sk, protocol);
			op.f.direct = BPF_CORE_READ(sk, file_slot) != 0;
		} else {
			struct io_accept *acc = cmd;
			int fd = BPF_CORE_READ(req, cqe.fd);

			uring_listener(&op.f, fd_file(fd), fd);
			op.f.direct = BPF_CORE_READ(acc, file_slot) != 0;
		}
	}
	bpf_map_update_elem(&uring_ops, &key, &op, BPF_ANY);
}

/* A submission known only by its request: ring, user_data and opcode read from it. */
static __always_inline void uring_submit_request(struct io_kiocb *req)
{
	uring_submit((u64)BPF_CORE_READ(req, ctx), BPF_CORE_READ(req, cqe.user_data),
		     BPF_CORE_READ(req, opcode), req);
}

/* io_uring_submit_sqe(ctx, req, opcode, user_data, flags, ...) or (req, force_nonblock). */
SEC("tp_btf/io_uring_submit_sqe")
int tp_io_uring_submit_sqe(u64 *ctx)
{
	if (cfg.io_uring_form == ST_URING_SQE_CTX)
		uring_submit(ctx[0], ctx[3], (u8)ctx[2], (struct io_kiocb *)ctx[1]);
	else
		uring_submit_request((struct io_kiocb *)ctx[0]);
	return 0;
}

SEC("tp_btf/io_uring_submit_req")
int tp_io_uring_submit_req(u64 *ctx)
{
	uring_submit_request((struct io_kiocb *)ctx[0]);
	return 0;
}

/*
 * io_uring_complete(ctx, req, user_data, res, cflags[, extra1, extra2]),
 * (ctx, req, cqe) or (ctx, user_data, res, cflags): one record per cqe of a
 * remembered op.
 */
SEC("tp_btf/io_uring_complete")
int tp_io_uring_complete(u64 *ctx)
{
	struct uring_key key = {.ring = ctx[0]};
	struct uring_op *op;
	struct inflight f;
	int res;
	u32 cflags;

	if (cfg.io_uring_complete == ST_URING_CQE_PTR) {
		struct io_uring_cqe *cqe = (struct io_uring_cqe *)ctx[2];

		key.user_data = BPF_CORE_READ(cqe, user_data);
		res = BPF_CORE_READ(cqe, res);
		cflags = BPF_CORE_READ(cqe, flags);
	} else if (cfg.io_uring_complete == ST_URING_CQE_NO_REQ) {
		key.user_data = ctx[1];
		res = (int)ctx[2];
		cflags = (u32)ctx[3];
	} else {
		key.user_data = ctx[2];
		res = (int)ctx[3];
		cflags = (u32)ctx[4];
	}
	op = bpf_map_lookup_elem(&uring_ops, &key);
	if (!op)
		return 0;
	f = op->f;
	f.fd = res;
	if (res >= 0 && !f.direct) {
		struct file *file = fd_file(res);

		read_socket(&f, fd_socket(res));
		/* accept: the flags the new fd was given, as the fd table has them */
		if (f.kind == IF_ACCEPT && file) {
			f.type &= ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (BPF_CORE_READ(file, f_flags) & SOCK_NONBLOCK)
				f.type |= SOCK_NONBLOCK;
			if (fd_cloexec(res))
				f.type |= SOCK_CLOEXEC;
		}
		if (f.kind == IF_ACCEPT && f.family == 0 && f.inode) {
			struct socket *sock = fd_socket(res);

			f.family = BPF_CORE_READ(sock, sk, __sk_common.skc_family);
			f.type = f.resolved_type;
			f.protocol = f.resolved_protocol;
		}
	}
	emit_call(f.kind == IF_SOCKET ? ST_KIND_SOCKET : ST_KIND_ACCEPT, &f, res, ST_PROBE_TRACEPOINT,
		  false);
	if (!(cflags & IORING_CQE_F_MORE) && op->refs-- <= 1)
		bpf_map_delete_elem(&uring_ops, &key);
	return 0;
}

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
		start_call(IF_SOCKET, args[0], args[1], args[2]);
	else if (call == SYS_SOCKETPAIR)
		start_call(IF_SOCKETPAIR, args[0], args[1], args[2]);
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
	if (f->kind == IF_SOCKET)
		socket_exit(ret);
	else if (f->kind == IF_SOCKETPAIR)
		socketpair_exit(ret);
	else
		accept_exit(ret);
	return 0;
}
#endif /* __TARGET_ARCH_x86 */

/* ---- socket release -------------------------------------------------------- */

static __always_inline void emit_release(u64 inode, u32 how)
{
	int *family = bpf_map_lookup_elem(&births, &inode);
	struct st_release *e;

	if (!family)
		return; /* not born under tracing */
	if (address_filter() && !socket_matched(inode)) {
		bpf_map_delete_elem(&held, &inode); /* it never matched: nothing was said of it */
		goto out;
	}
	if (*family & ST_BIRTH_LOST) {
		count_drop(ST_LOSS_UNRECORDED_BIRTH, ST_KIND_RELEASE);
		goto out;
	}
	e = reserve(ST_KIND_RELEASE, sizeof(*e));
	if (e) {
		fill_header(&e->h, ST_KIND_RELEASE, sizeof(*e));
		e->inode = inode;
		e->how = how;
		e->family = *family;
		submit(e, sizeof(*e));
	}
	if (address_filter())
		bpf_map_delete_elem(&matched, &inode);
out:
	bpf_map_delete_elem(&births, &inode);
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
 * Tracepoint rung: no hook sees the socket die, so close(2) of an fd holding a
 * socket born under tracing stands for it (labelled "close", not "release").
 * Emitted at entry: close(2) gives up the fd whatever it returns, so there is
 * nothing to wait for at exit.
 */
SEC("tracepoint/syscalls/sys_enter_close")
int tp_enter_close(struct syscall_enter_ctx *ctx)
{
	u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct socket *sock;

	if (!maybe_owner(tgid))
		return 0; /* holds no socket born under tracing: nothing to release */
	sock = fd_socket(ctx->args[0]);
	if (sock)
		emit_release(socket_inode(sock), ST_RELEASE_CLOSE);
	return 0;
}

/* ---- process lifecycle: sched tracepoints with BTF-typed arguments --------- */

SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	u32 ptgid = BPF_CORE_READ(parent, tgid); /* init namespace: `owners` */
	u32 ctgid = BPF_CORE_READ(child, tgid);
	u32 ctid, seen;
	struct st_fork *e;
	u8 one = 1;

	if (ctgid == ptgid || !tgid_traced(task_tgid_seen(parent, ptgid)))
		return 0; /* a new thread, or not ours */
	/* The child of a visible parent is visible: its namespace or one below. */
	seen = cfg.pidns_inum ? task_tgid_in_ns(child) : ctgid;
	if (cfg.filter_pids && cfg.follow && bpf_map_update_elem(&traced, &seen, &one, BPF_ANY))
		count_drop(ST_LOSS_TRACED_FULL, ST_KIND_FORK); /* a child not followed */
	if (!cfg.lifecycle)
		return 0;
	/* The child holds copies of the parent's sockets: its closes count too. */
	if (maybe_owner(ptgid))
		remember_owner(ctgid);
	e = reserve(ST_KIND_FORK, sizeof(*e));
	if (!e)
		return 0;
	fill_header(&e->h, ST_KIND_FORK, sizeof(*e));
	ctid = cfg.pidns_inum ? task_tid_in_ns(child) : BPF_CORE_READ(child, pid);
	e->child_pid = seen;
	e->child_tid = ctid;
	submit(e, sizeof(*e));
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	struct mm_struct *mm;
	struct st_exec *e;
	unsigned long start, end, len;

	if (!cfg.lifecycle || !current_traced())
		return 0;
	e = reserve(ST_KIND_EXEC, sizeof(*e));
	if (!e)
		return 0;
	fill_header(&e->h, ST_KIND_EXEC, sizeof(*e));
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), BPF_CORE_READ(bprm, filename));
	mm = BPF_CORE_READ(task, mm);
	start = BPF_CORE_READ(mm, arg_start);
	end = BPF_CORE_READ(mm, arg_end);
	len = end > start ? end - start : 0;
	e->args_truncated = len > ST_ARGS_LEN;
	if (len > ST_ARGS_LEN)
		len = ST_ARGS_LEN;
	e->args_len = 0;
	/* ST_ARGS_LEN is a power of two: the mask bounds len for the verifier. */
	if (len && bpf_probe_read_user(e->args, ((len - 1) & (ST_ARGS_LEN - 1)) + 1,
				       (void *)start) == 0)
		e->args_len = len;
	submit(e, sizeof(*e));
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *task)
{
	u32 tgid = BPF_CORE_READ(task, tgid); /* init namespace: `owners` */
	u32 tid = BPF_CORE_READ(task, pid);   /* init namespace: the call slots' key */
	u32 seen;
	struct st_exit *e;

	/* Every exiting thread frees its call slots (a lookup when it has none). */
	bpf_map_delete_elem(&inflight, &tid);
	bpf_map_delete_elem(&opflight, &tid);

	/* One record per thread group: signal->live reached 0 before this tracepoint. */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	forget_owner(tgid); /* traced now or not: a comm filter may have changed its mind */
	seen = task_tgid_seen(task, tgid);
	if (!tgid_traced(seen))
		return 0;
	if (cfg.lifecycle) {
		e = reserve(ST_KIND_EXIT, sizeof(*e));
		if (e) {
			fill_header(&e->h, ST_KIND_EXIT, sizeof(*e));
			e->exit_code = BPF_CORE_READ(task, exit_code);
			e->pad = 0;
			submit(e, sizeof(*e));
		}
	}
	/* A dead tgid may be reused by an unrelated process: stop tracing it. */
	if (cfg.filter_pids)
		bpf_map_delete_elem(&traced, &seen);
	return 0;
}
