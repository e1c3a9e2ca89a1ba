/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * maps.bpf.h - every map of the object, and the types of their values.
 *
 * The loader finds maps by name (BPFObject), resizes some before load and
 * fills the filters before attach; the programs only use them.
 *
 * Part of the one object: included by socktrace.bpf.c, after the files
 * listed before it there, which it uses.
 */
#ifndef __ST_MAPS_BPF_H
#define __ST_MAPS_BPF_H

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* resized by the loader */
} events SEC(".maps");

/*
 * Records not made, by cause and kind (enum st_loss_cause): counted, never
 * silent. One shared u64 per slot, added to atomically, mapped read-only into
 * the tracer (BPF_F_MMAPABLE, 5.5+): it reads them on every wakeup with plain
 * loads, no bpf(2) call. Losses are rare, so the shared cache line costs
 * nothing where nothing is lost.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
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

struct inflight {
	u64 start_ns;
	u64 create_start_ns; /* __sock_create entry (function rungs) */
	u64 create_end_ns;   /* __sock_create return */
	u64 inode;
	u64 inode2;
	u64 uptr;            /* socketpair: user int[2]; kprobe: struct socket ** */
	int kind;            /* ST_KIND_SOCKET, _SOCKETPAIR or _ACCEPT; 0: no call */
	int family, type, protocol;
	int create_ret;
	int resolved_type, resolved_protocol;
	int fd, fd2;
	u16 peer_family, peer_port; /* accept: the new socket's peer */
	u8 peer_addr[16];
	u8 via;              /* enum st_via */
	u8 direct;           /* io_uring direct descriptor: ret is a slot, not an fd */
	/* failure cause (issue 22): lib/cause.bpf.h */
	u8 lsm;              /* enum st_lsm: the first module hook that refused */
	u8 finished;         /* the kind a function-rung exit emitted (seccomp test at sys_exit) */
	u16 cause_bits;      /* ST_CAUSE_* */
	int fd_limit, open_fds;
	u64 cap_effective;
	char module[ST_MODULE_LEN]; /* request_module() during the call */
	u64 sk;              /* accept: the new struct sock, read at emit (peer.bpf.h) */
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
 * Sockets born under tracing (inode -> family): only these get release records,
 * and an entry lives exactly as long as its socket (freed by the release,
 * whatever made it: the bookkeeping of a week-long service stays bounded).
 * A plain hash, not an LRU: an LRU would evict silently, a full hash refuses
 * the insert and the release it would have made is counted (ST_LOSS_BIRTHS_FULL).
 * Not preallocated: a busy host's live sockets cost memory only while they live.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 20);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, u64);
	__type(value, int);
} births SEC(".maps");

/*
 * Tracepoint rung: a close(2) whose file another holder still shared at the
 * call, by thread: looked at again when the call returns (release.bpf.h), in
 * case that holder dropped its reference meanwhile (an exit racing a close).
 */
struct shared_close {
	u64 file;
	u64 inode;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, u32);
	__type(value, struct shared_close);
} shared_closes SEC(".maps");

/*
 * Tracepoint rung: the close-on-exec sockets a thread's execve will close, by
 * task (the task_struct survives de_thread, unlike its tid): read at the
 * call, checked at sched_process_exec (the files are then released, their
 * last fput queued until the return to user space), freed at its exit.
 */
#define ST_EXEC_SLOTS 16
struct exec_closing {
	u32 count;
	u32 pad;
	u64 file[ST_EXEC_SLOTS];
	u64 inode[ST_EXEC_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, u64);
	__type(value, struct exec_closing);
} exec_closing SEC(".maps");

/*
 * Tracepoint rung: the sockets an exiting process still shared with another
 * holder at its exit walk (struct exec_closing's layout: file and inode), by
 * task: looked at again when the task leaves the CPU for the last time.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, u64);
	__type(value, struct exec_closing);
} exit_shared SEC(".maps");

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

/* Processes holding a socket whose address matched (tgid -> 1): filters.bpf.h. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, u32);
	__type(value, u8);
} matched_procs SEC(".maps");

/* Births held back until their socket's address matches (inode -> record). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, u64);
	__type(value, struct st_socket);
} held SEC(".maps");

/*
 * One socket record's worth of scratch per CPU: a held birth is built here,
 * not on the stack (st_socket is 312 bytes since issue 21, and an io_uring
 * completion already keeps its op's state there: 512 bytes in all).
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct st_socket);
} held_scratch SEC(".maps");

/* ---- bind, connect, listen, shutdown (hooks/lifecycle.bpf.h) -------------- */

/* A bind/connect/listen/shutdown in flight, per thread (its call slot). */
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

/* ---- io_uring (hooks/io_uring.bpf.h): ops remembered at submission ------- */

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

/* One record of `kind` not made, for `cause` (enum st_loss_cause). */
static __always_inline void count_drop(u32 cause, u32 kind)
{
	u32 slot = cause * ST_KIND_SLOTS + (kind & (ST_KIND_SLOTS - 1));
	u64 *n = bpf_map_lookup_elem(&drops, &slot);

	if (n)
		__sync_fetch_and_add(n, 1);
}

#endif /* __ST_MAPS_BPF_H */
