/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * layout.bpf.h - the record layout shared with user space, checked here.
 *
 * socktrace.h is compiled twice: by clang -target bpf for this object and by
 * the host compiler for the Swift reader. Its records must be laid out the
 * same on both sides; the host side is pinned by
 * Tests/SocktraceCoreTests/LayoutTests.swift, and this side by these
 * asserts, so a field that moves fails the BPF compile itself. Keep the two
 * lists the same.
 *
 * Part of the one object: included by socktrace.bpf.c, after the files
 * listed before it there, which it uses.
 */
#ifndef __ST_LAYOUT_BPF_H
#define __ST_LAYOUT_BPF_H

#define ST_ASSERT_SIZE(type, size) _Static_assert(sizeof(type) == (size), #type " is not " #size " bytes")
#define ST_ASSERT_OFFSET(type, field, offset)                                                   \
	_Static_assert(__builtin_offsetof(type, field) == (offset),                             \
		       #type "." #field " is not at " #offset)

ST_ASSERT_SIZE(struct st_header, 64);
ST_ASSERT_SIZE(struct st_socket, 224 + 32 + ST_LOCAL_LEN);
ST_ASSERT_SIZE(struct st_sockop, 112 + ST_ADDR_LEN + 32 + ST_LOCAL_LEN);
ST_ASSERT_SIZE(struct st_connected, 96 + ST_LOCAL_LEN);
ST_ASSERT_SIZE(struct st_release, 80);
ST_ASSERT_SIZE(struct st_fork, 72);
ST_ASSERT_SIZE(struct st_exec, 64 + 8 + ST_PATH_LEN + ST_ARGS_LEN);
ST_ASSERT_SIZE(struct st_exit, 72);
ST_ASSERT_SIZE(struct st_config, 56);
ST_ASSERT_SIZE(struct st_net_key, 24);
ST_ASSERT_SIZE(struct st_path_key, ST_UNIX_PATH_LEN);

ST_ASSERT_OFFSET(struct st_header, ts_ns, 8);
ST_ASSERT_OFFSET(struct st_header, cgroup_id, 40);
ST_ASSERT_OFFSET(struct st_header, comm, 48);
ST_ASSERT_OFFSET(struct st_socket, inode, 96);
ST_ASSERT_OFFSET(struct st_socket, probe, 136);
ST_ASSERT_OFFSET(struct st_socket, fd, 140);
ST_ASSERT_OFFSET(struct st_socket, peer_addr, 148);
/* failure cause (issue 22) */
ST_ASSERT_OFFSET(struct st_socket, cap_effective, 168);
ST_ASSERT_OFFSET(struct st_socket, fd_limit, 176);
ST_ASSERT_OFFSET(struct st_socket, cause_bits, 184);
ST_ASSERT_OFFSET(struct st_socket, lsm, 186);
ST_ASSERT_OFFSET(struct st_socket, module, 192);
ST_ASSERT_OFFSET(struct st_sockop, addr, 112);
/* issue 21's block: 8-aligned, after everything older */
ST_ASSERT_OFFSET(struct st_socket, peer_inode, 224);
ST_ASSERT_OFFSET(struct st_socket, local, 256);
ST_ASSERT_OFFSET(struct st_sockop, peer_inode, 240);
ST_ASSERT_OFFSET(struct st_sockop, local, 272);
ST_ASSERT_OFFSET(struct st_connected, local, 96);

#endif /* __ST_LAYOUT_BPF_H */
