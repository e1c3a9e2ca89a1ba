// st-loader: proves socktrace.bpf.o (built for arm64) loads, attaches and
// records inside an arm64 kernel. Cross-compiled statically against Debian's
// arm64 libbpf; run by arm64-init.sh in the arm64 VM.
//
// usage: st-loader OBJECT
// For each rung (fentry, kprobe, tracepoint) the programs socktrace's attach
// plan would load for it (Attach/AttachPlan.swift) are loaded together with the
// common ones (socketpair, accept, io_uring, process lifecycle) and attached;
// then this process makes a socket() and an io_uring IORING_OP_SOCKET and
// reads its own records back from the ring buffer: kind, via, fd and the inode
// fstat() reports. One PASS/FAIL line per check, last "N passed, N failed".
#define _GNU_SOURCE
#include <errno.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "socktrace.h"
#include "socktrace_probes.h"

static int passed, failed;

static int check(int ok, const char *what, const char *rung, const char *detail) {
	printf("%s arm64 %s: %s%s%s\n", ok ? "PASS" : "FAIL", rung, what, ok ? "" : ": ",
	       ok ? "" : detail);
	fflush(stdout);
	ok ? passed++ : failed++;
	return ok;
}

// As AttachPlan plans each rung: socketpair, accept, bind, connect, listen and
// shutdown at their kernel functions on the function rungs, at their syscall
// tracepoints on the tracepoint rung.
static const char *common[] = {"handle_fork", "handle_exec", "handle_exit", "handle_inet_state",
			       "tp_io_uring_complete", NULL};
static const char *fentry[] = {"fentry_sys_socket", "fexit_sys_socket", "fentry_sock_create",
			       "fexit_sock_create", "fentry_sock_release", "fentry_sys_socketpair",
			       "fexit_sys_socketpair", "fentry_sys_accept4", "fexit_sys_accept4",
			       "fentry_sys_bind", "fexit_sys_bind", "fentry_sys_connect",
			       "fexit_sys_connect", "fentry_sys_listen", "fexit_sys_listen",
			       "fentry_sys_shutdown", "fexit_sys_shutdown", NULL};
static const char *kprobe[] = {"kprobe_sys_socket", "kretprobe_sys_socket", "kprobe_sock_create",
			       "kretprobe_security_socket_create", "kretprobe_sock_create", "kprobe_sock_release", "kprobe_sys_socketpair",
			       "kretprobe_sys_socketpair", "kprobe_sys_accept4", "kretprobe_sys_accept4",
			       "kprobe_sys_bind", "kretprobe_sys_bind", "kprobe_sys_connect",
			       "kretprobe_sys_connect", "kprobe_sys_listen", "kretprobe_sys_listen",
			       "kprobe_sys_shutdown", "kretprobe_sys_shutdown", NULL};
static const char *tracepoint[] = {"tp_enter_socket", "tp_exit_socket", "tp_enter_close",
				   "tp_enter_socketpair", "tp_exit_socketpair", "tp_enter_accept4",
				   "tp_exit_accept4", "tp_enter_accept", "tp_exit_accept",
				   "tp_enter_bind", "tp_exit_bind", "tp_enter_connect", "tp_exit_connect",
				   "tp_enter_listen", "tp_exit_listen", "tp_enter_shutdown",
				   "tp_exit_shutdown", NULL};

static int listed(const char *const *names, const char *name) {
	for (; *names; names++)
		if (!strcmp(*names, name)) return 1;
	return 0;
}

// io_uring's submit tracepoint and cqe form, classified as KernelProbes.swift does.
static int uring_form(int *complete) {
	struct st_tracepoint_params c, r, q;
	int socket_op, ia32;
	if (st_btf_other_paths(&c, &r, &q, &socket_op, &ia32)) return ST_URING_NONE;
	*complete = c.count == 3 && c.kinds[0] == 1 && c.kinds[1] == 1 && c.kinds[2] == 1
			    ? ST_URING_CQE_PTR
		    : c.count == 4 && c.kinds[1] == 2 ? ST_URING_CQE_NO_REQ
						      : ST_URING_CQE_ARGS;
	if (c.count < 0) return ST_URING_NONE;
	if (r.count >= 1 && r.kinds[0] == 1) return ST_URING_REQ;
	if (q.count >= 4 && q.kinds[0] == 1 && q.kinds[1] == 1 && q.kinds[2] == 2 && q.kinds[3] == 2)
		return ST_URING_SQE_CTX;
	if (q.count == 2 && q.kinds[0] == 1) return ST_URING_SQE_REQ;
	return ST_URING_NONE;
}

// socktrace's trial fentry on __sys_socket (KernelProbes): 0 or -errno.
static int fentry_trial(void) {
	const char *names[] = {"__sys_socket"};
	int id = 0;
	if (st_btf_find_functions(names, 1, &id)) return -ENOENT;
	return st_fentry_can_attach(id);
}

struct want {
	int fd;
	unsigned long long inode;
	unsigned char via;
	int seen, good;
	char detail[160];
};

static int on_record(void *ctx, void *data, size_t size) {
	struct want *w = ctx;
	const struct st_socket *e = data;
	if (size < sizeof(*e) || e->h.kind != ST_KIND_SOCKET || e->h.pid != (unsigned)getpid() ||
	    e->fd != w->fd || e->via != w->via)
		return 0;
	w->seen++;
	w->good = e->inode == w->inode && e->ret == w->fd;
	snprintf(w->detail, sizeof(w->detail), "record fd %d inode %llu ret %d probe %u (want inode %llu)",
		 e->fd, e->inode, e->ret, e->probe, w->inode);
	return 0;
}

static unsigned long long inode_of(int fd) {
	struct stat st;
	return fstat(fd, &st) ? 0 : (unsigned long long)st.st_ino;
}

// One IORING_OP_SOCKET by the raw syscalls: the new fd, or -errno.
static int uring_socket(void) {
	struct io_uring_params p = {0};
	int ring = (int)syscall(__NR_io_uring_setup, 4, &p);
	if (ring < 0) return -errno;
	char *sq = mmap(NULL, p.sq_off.array + p.sq_entries * 4, PROT_READ | PROT_WRITE, MAP_SHARED,
			ring, IORING_OFF_SQ_RING);
	char *cq = mmap(NULL, p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe),
			PROT_READ | PROT_WRITE, MAP_SHARED, ring, IORING_OFF_CQ_RING);
	struct io_uring_sqe *sqes = mmap(NULL, p.sq_entries * sizeof(*sqes), PROT_READ | PROT_WRITE,
					 MAP_SHARED, ring, IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) return -ENOMEM;
	unsigned tail = *(unsigned *)(sq + p.sq_off.tail), mask = *(unsigned *)(sq + p.sq_off.ring_mask);
	memset(&sqes[tail & mask], 0, sizeof(*sqes));
	sqes[tail & mask].opcode = IORING_OP_SOCKET;
	sqes[tail & mask].fd = AF_INET;
	sqes[tail & mask].off = SOCK_STREAM;
	sqes[tail & mask].user_data = 42;
	((unsigned *)(sq + p.sq_off.array))[tail & mask] = tail & mask;
	__atomic_store_n((unsigned *)(sq + p.sq_off.tail), tail + 1, __ATOMIC_RELEASE);
	if (syscall(__NR_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0) return -errno;
	unsigned head = *(unsigned *)(cq + p.cq_off.head);
	struct io_uring_cqe *cqe = (struct io_uring_cqe *)(cq + p.cq_off.cqes) +
				   (head & *(unsigned *)(cq + p.cq_off.ring_mask));
	return cqe->res;
}

static void expect_record(struct ring_buffer *rb, struct want *w, const char *what, const char *rung) {
	for (int i = 0; i < 20 && !w->seen; i++) ring_buffer__poll(rb, 100);
	char detail[200];
	snprintf(detail, sizeof(detail), "%d records; %s", w->seen, w->detail);
	check(w->seen == 1 && w->good, what, rung, detail);
}

static void run_rung(const char *path, const char *rung, const char *const *own) {
	char detail[256];
	struct bpf_link *links[64];
	int attached = 0;
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	if (!check(obj != NULL, "open object", rung, strerror(errno))) return;
	int complete = 0, form = uring_form(&complete);
	check(form != ST_URING_NONE, "io_uring tracepoints classified from BTF", rung, "none known");
	struct bpf_program *prog;
	int wanted = 0, own_wanted = 0, own_attached = 0, attach_errno = 0;
	// socktrace's own trial (KernelProbes): a refused fentry rung is passed over.
	int trial = own == fentry ? fentry_trial() : 0;
	bpf_object__for_each_program(prog, obj) {
		const char *name = bpf_program__name(prog);
		int on = listed(own, name) || listed(common, name) ||
			 (form == ST_URING_REQ && !strcmp(name, "tp_io_uring_submit_req")) ||
			 ((form == ST_URING_SQE_CTX || form == ST_URING_SQE_REQ) &&
			  !strcmp(name, "tp_io_uring_submit_sqe"));
		bpf_program__set_autoload(prog, on);
		wanted += on;
		own_wanted += listed(own, name);
	}
	struct bpf_map *rodata = bpf_object__find_map_by_name(obj, ".rodata");
	struct st_config cfg = {.self_tgid = 0, .io_uring_form = form, .io_uring_complete = complete};
	size_t size = 0;
	const void *init = rodata ? bpf_map__initial_value(rodata, &size) : NULL;
	if (init && size >= sizeof(cfg) && size < 4096) { // cfg is the only .rodata variable, at 0
		char copy[4096];
		memcpy(copy, init, size);
		memcpy(copy, &cfg, sizeof(cfg));
		bpf_map__set_initial_value(rodata, copy, size);
	}
	int err = bpf_object__load(obj);
	snprintf(detail, sizeof(detail), "%s (%s)", strerror(-err), st_libbpf_last_warning());
	if (!check(err == 0, "load (verifier accepts every program)", rung, detail)) goto out;
	bpf_object__for_each_program(prog, obj) {
		if (attached >= 64) break;
		if (!bpf_program__autoload(prog)) continue;
		struct bpf_link *link = bpf_program__attach(prog);
		if (libbpf_get_error(link)) {
			attach_errno = errno;
			printf("INFO arm64 %s: attach %s failed: %s (%d)\n", rung, bpf_program__name(prog),
			       strerror(errno), errno);
			continue;
		}
		own_attached += listed(own, bpf_program__name(prog));
		links[attached++] = link;
	}
	if (trial) {
		// This kernel refuses the rung: the trial must say so exactly as attach does.
		snprintf(detail, sizeof(detail), "trial %d, attach errno %d, %d of %d attached", trial,
			 attach_errno, attached, wanted);
		check(own_attached == 0 && -trial == attach_errno && attached == wanted - own_wanted,
		      "rung refused by this kernel, as socktrace's trial fentry reports (the plan passes over it); the rest attach",
		      rung, detail);
	} else {
		snprintf(detail, sizeof(detail), "%d of %d", attached, wanted);
		check(attached == wanted && wanted > 0, "attach every program", rung, detail);
	}
	struct want w = {.via = ST_VIA_SYSCALL};
	struct ring_buffer *rb =
		ring_buffer__new(bpf_map__fd(bpf_object__find_map_by_name(obj, "events")), on_record, &w, NULL);
	if (!check(rb != NULL, "ring buffer", rung, strerror(errno))) goto out;
	w.fd = socket(AF_INET, SOCK_STREAM, 0);
	w.inode = inode_of(w.fd);
	if (!trial)
		expect_record(rb, &w, "socket() recorded once with fd and inode", rung);
	close(w.fd);
	struct want u = {.via = ST_VIA_IO_URING};
	ring_buffer__free(rb);
	rb = ring_buffer__new(bpf_map__fd(bpf_object__find_map_by_name(obj, "events")), on_record, &u, NULL);
	u.fd = uring_socket();
	u.inode = u.fd >= 0 ? inode_of(u.fd) : 0;
	snprintf(detail, sizeof(detail), "res %d", u.fd);
	if (check(u.fd >= 0, "io_uring IORING_OP_SOCKET made a socket", rung, detail))
		expect_record(rb, &u, "io_uring socket recorded once with fd and inode", rung);
	ring_buffer__free(rb);
out:
	for (int i = 0; i < attached; i++) bpf_link__destroy(links[i]); // detach
	bpf_object__close(obj);
}

int main(int argc, char **argv) {
	if (argc != 2) {
		fprintf(stderr, "usage: st-loader OBJECT\n");
		return 2;
	}
	st_libbpf_set_logging(getenv("ST_VERBOSE") != NULL);
	check(st_vmlinux_btf_available() == 0, "kernel BTF", "kernel", "no /sys/kernel/btf/vmlinux");
	run_rung(argv[1], "fentry", fentry);
	run_rung(argv[1], "kprobe", kprobe);
	run_rung(argv[1], "tracepoint", tracepoint);
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
