/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * filters.bpf.h - which processes, sockets and addresses are traced.
 *
 * Predicates only: the maps they read are in maps.bpf.h; mark_matched,
 * which sends a held birth, is in record.bpf.h.
 *
 * Part of the one object: included by socktrace.bpf.c, after the files
 * listed before it there, which it uses.
 */
#ifndef __ST_FILTERS_BPF_H
#define __ST_FILTERS_BPF_H

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

/*
 * --family, --type, --failed: whether a socket is recorded, its birth and
 * everything it does (ret >= 0 for a socket that exists: none with --failed).
 * No map.
 */
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

/* Whether --family, --type or --failed is on. */
static __always_inline bool socket_selection(void)
{
	return cfg.only_failed || cfg.families || cfg.types;
}

static __always_inline bool current_traced(void)
{
	return tgid_traced(current_tgid_seen());
}

/* ---- --port and --address: only sockets whose address matched ------------- */

static __always_inline bool address_filter(void)
{
	return cfg.filter_ports || cfg.filter_nets || cfg.filter_paths;
}

static __always_inline bool socket_matched(u64 inode)
{
	return inode && bpf_map_lookup_elem(&matched, &inode);
}

/*
 * With --port/--address, the processes holding a matching socket (init
 * namespace tgid -> 1): they alone get fork, exec and exit records, so a
 * machine-wide filter does not record every process on the machine. A
 * process joins when it makes, accepts or uses a matching socket, or is
 * forked by one that holds some; it leaves at exit.
 */
static __always_inline bool process_matched(u32 tgid)
{
	return bpf_map_lookup_elem(&matched_procs, &tgid) != NULL;
}

static __always_inline void add_matched_process(u32 tgid)
{
	u8 one = 1;

	if (!process_matched(tgid) && bpf_map_update_elem(&matched_procs, &tgid, &one, BPF_ANY) != 0)
		count_drop(ST_LOSS_FILTER_FULL, 0); /* its process records cannot be kept */
}

static __always_inline void remember_matched_process(void)
{
	add_matched_process(bpf_get_current_pid_tgid() >> 32);
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

/*
 * An inet endpoint against --port and --address: every kind given must match
 * (AND across kinds, OR within one), as for the process filters. A unix-only
 * --address matches no inet endpoint.
 */
static __always_inline bool inet_matches(u16 family, u16 port, const u8 *addr)
{
	if (cfg.filter_ports && !port_matches(port))
		return false;
	if (cfg.filter_nets)
		return net_matches(family, addr);
	return cfg.filter_ports && !cfg.filter_paths;
}

/* A sockaddr as passed to bind/connect, against --port and --address. */
static __always_inline bool sockaddr_matches(const u8 *addr, u32 len)
{
	u16 family = *(const u16 *)addr;

	if (len < 2)
		return false;
	if (family == AF_INET || family == AF_INET6)
		return inet_matches(family, bpf_ntohs(*(const u16 *)(addr + 2)),
				    family == AF_INET ? addr + 4 : addr + 8);
	/* A unix name has no port: with --port it cannot match (kinds AND). */
	if (family == AF_UNIX && cfg.filter_paths && !cfg.filter_ports) {
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

#endif /* __ST_FILTERS_BPF_H */
