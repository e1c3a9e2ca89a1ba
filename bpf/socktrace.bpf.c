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
 * socketpair(2), accept(2), bind, connect, listen and shutdown likewise: their
 * kernel functions (__sys_socketpair, __sys_accept4, __sys_bind, ...) on rungs
 * 1 and 2, so no syscall tracepoint puts every task's syscalls on the slow
 * path there; their syscall tracepoints on rung 3. Process lifecycle at the
 * sched tracepoints (tp_btf).
 *
 * Other ways in (docs/hooks.md, "Every path to a new socket"):
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

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * The one object, in pieces read one at a time. Order matters (C: defined
 * before used): each file uses only the ones above it.
 */
#include "lib/layout.bpf.h"    /* _Static_assert: socktrace.h's record layout */
#include "lib/config.bpf.h"    /* constants, cfg (.rodata), HAVE_TASK_BTF */
#include "lib/maps.bpf.h"      /* every map and its value type; count_drop */
#include "lib/task.bpf.h"      /* current tid, pid namespaces, ia32 syscall */
#include "lib/fdtable.bpf.h"   /* fd -> file -> socket, inode, peer */
#include "lib/peer.bpf.h"      /* own address, the other end (issue 21) */
#include "lib/filters.bpf.h"   /* process, socket and address filters */
#include "lib/births.bpf.h"    /* sockets born under tracing: who gets a release record */
#include "lib/cause.bpf.h"     /* why a call failed: the kernel's side (issue 22) */
#include "lib/kmetrics.bpf.h"  /* metrics only: counted in the kernel, not sent */
#include "lib/record.bpf.h"    /* reserve/submit, header, fill_socket, emit_call */
#include "lib/inflight.bpf.h"  /* a thread's call slot: start_call, finish_call */

#include "hooks/cause.bpf.h"            /* module_request, security_socket_create: why it failed */
#include "hooks/socket_functions.bpf.h" /* fentry/kprobe: __sys_socket, __sock_create */
#include "hooks/syscalls.bpf.h"         /* tracepoints: socket, socketpair, accept */
#include "hooks/lifecycle.bpf.h"        /* bind, connect, listen, shutdown, inet state */
#include "hooks/call_functions.bpf.h"   /* fentry/kprobe: __sys_socketpair, __sys_accept4, __sys_bind, ... */
#include "hooks/io_uring.bpf.h"         /* IORING_OP_SOCKET, IORING_OP_ACCEPT */
#include "hooks/ia32.bpf.h"             /* 32-bit x86 syscalls (x86 only) */
#include "hooks/release.bpf.h"          /* __sock_release; close(2), dup2/dup3 */
#include "hooks/release_walk.bpf.h"     /* close_range, execve, exit: fd-table walks */
#include "hooks/process.bpf.h"          /* fork, exec, exit */
