// socktrace-workload: makes known socket calls and prints what it did, one
// JSON object per line on stdout, so tests can compare the tracer's records
// with the truth (pid, tid, fd, errno, and the inode /proc/self/fd/N shows).
//
// usage: socktrace-workload [--gate] SCENARIO...
//   --gate       print {"op":"ready","pid":N} and wait for a line on stdin first
//   scenarios:   inet-stream inet6-dgram unix-nonblock-cloexec raw-icmp netlink
//                bad-family bad-flags bad-protocol emfile socketpair accept
//                accept-eagain (accept4 on a non-blocking listener with nothing
//                  to accept: -1, EAGAIN)
//                thread (runs inet-stream on a new thread)
//                fork (the child runs inet-stream, the parent waits)
//                unshare-net (new network namespace: the kernel's own sockets)
//                hostile-comm (renames itself to quote, backslash, control and
//                  invalid UTF-8 bytes, then runs inet-stream)
//                io-uring-socket io-uring-bad-family (IORING_OP_SOCKET, 5.19+)
//                io-uring-accept (IORING_OP_ACCEPT), io-uring-accept-multishot
//                  (two connections, one multishot sqe, 5.19+)
//                ia32-socket ia32-socketpair ia32-accept4 (int $0x80, the
//                  i386 syscalls), ia32-socketcall (socketcall(SYS_SOCKET))
//                lifecycle (TCP over 127.0.0.1 and ::1, unix path and abstract
//                  servers and clients, a non-blocking connect that succeeds
//                  and one to a closed port: every bind/listen/connect/accept/
//                  shutdown reported with its address, port, fd and inode)
//                lifecycle-port=N (the same, the IPv4 server on port N)
//                pre-socket-bind (binds a socket made before --gate opened)
//                hostile-unix (binds unix names of control bytes, invalid
//                  UTF-8, full length without NUL, abstract with NULs)
//                peers (a server and a client in two processes, over 127.0.0.1,
//                  ::1, a unix path and a unix abstract name: each side prints
//                  its pid, getsockname and getpeername, so both ends are known)
//                hold-peers (a TCP listener on 127.0.0.1 and a socketpair, made
//                  at once, printed with fds and inodes; held until a line on
//                  stdin, then closed: for a tracer started after them)
//                share (issue 19: one socket, many references; each socket's
//                  last reference and who drops it, one "share" line each with
//                  the boot-clock ns just before and after: shared by fork,
//                  dup2'ed to fd 40, passed by SCM_RIGHTS to a child that binds
//                  and listens, close_range(2) over two, a SOCK_CLOEXEC socket
//                  across an exec of this program, a child exiting with three)
//                sleep-ms=N
//                burst=N (N inet-stream socket()+close(), reported as one line)
//                hold-processes=N (N children alive at once, then each makes a
//                  socket and exits; one line: how many were forked)
//                hold-sockets=N (N sockets open at once, over as many child
//                  processes as RLIMIT_NOFILE needs, then all closed by
//                  close(2); one line: how many were opened)
//                causes (issue 22: one failing call per failure cause, each
//                  line with "cause" the expected cause: bad flags, type 12,
//                  family 200, family 19 (AF_ECONET: in range, gone from
//                  every kernel since 3.5), UDP on a stream socket, EMFILE
//                  under RLIMIT_NOFILE 16 (with fd_limit and open_fds), a
//                  raw socket on a thread that dropped CAP_NET_RAW from its
//                  effective set (capset: per thread; EPERM "permission"),
//                  socket(AF_INET, SOCK_DGRAM, 254) ("lsm" where the VM
//                  suite's BPF LSM program refuses it, else
//                  "protocol_unsupported"), then a thread that installs a seccomp filter answering socket()
//                  and socketpair() with EPERM and calls both)
//   --pre-socket  make an AF_INET datagram socket before the gate
// Every record says "via" (syscall, io_uring, ia32, socketcall). A path this
// kernel lacks prints {"op":"unsupported","scenario":...,"errno":N} instead.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <poll.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long gettid_(void) { return syscall(SYS_gettid); }

static unsigned long long inode_of(int fd) {
	char path[64], target[128];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	if (n < 0) return 0;
	target[n] = '\0';
	unsigned long long ino = 0;
	if (sscanf(target, "socket:[%llu]", &ino) != 1) return 0;
	return ino;
}

// How the calls being made enter the kernel: the record's "via".
static const char *via = "syscall";

static void report(const char *op, int family, int type, int protocol, int ret, int err,
		   int fd2, unsigned long long extra_inode) {
	printf("{\"op\":\"%s\",\"via\":\"%s\",\"pid\":%d,\"tid\":%ld,\"family\":%d,\"type\":%d,"
	       "\"protocol\":%d,\"ret\":%d,\"errno\":%d,\"inode\":%llu,\"fd2\":%d,\"inode2\":%llu}\n",
	       op, via, getpid(), gettid_(), family, type, protocol, ret, err,
	       ret >= 0 ? inode_of(ret) : 0ULL, fd2, extra_inode);
	fflush(stdout);
}

static void unsupported(const char *scenario, int err) {
	printf("{\"op\":\"unsupported\",\"scenario\":\"%s\",\"pid\":%d,\"errno\":%d}\n", scenario,
	       getpid(), err);
	fflush(stdout);
}

// One socket() call, reported, then closed.
static void one_socket(int family, int type, int protocol) {
	errno = 0;
	int fd = socket(family, type, protocol);
	int err = fd < 0 ? errno : 0;
	report("socket", family, type, protocol, fd, err, -1, 0);
	if (fd >= 0) close(fd);
}

static void emfile(void) {
	struct rlimit old, low;
	getrlimit(RLIMIT_NOFILE, &old);
	// Lowest free fd must be >= the limit: limit the table to the fds in use.
	int top = dup(0);
	if (top < 0) return;
	close(top);
	low.rlim_cur = (rlim_t)top;
	low.rlim_max = old.rlim_max;
	setrlimit(RLIMIT_NOFILE, &low);
	one_socket(AF_INET, SOCK_DGRAM, 0);
	setrlimit(RLIMIT_NOFILE, &old);
}

static void report_pair(int r, int err, const int sv[2]) {
	printf("{\"op\":\"socketpair\",\"via\":\"%s\",\"pid\":%d,\"tid\":%ld,\"family\":%d,\"type\":%d,"
	       "\"protocol\":0,\"ret\":%d,\"errno\":%d,\"fd\":%d,\"inode\":%llu,\"fd2\":%d,"
	       "\"inode2\":%llu}\n",
	       via, getpid(), gettid_(), AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, r, err, sv[0],
	       r == 0 ? inode_of(sv[0]) : 0ULL, sv[1], r == 0 ? inode_of(sv[1]) : 0ULL);
	fflush(stdout);
	if (r == 0) {
		close(sv[0]);
		close(sv[1]);
	}
}

static void pair(void) {
	int sv[2] = {-1, -1};
	errno = 0;
	int r = socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	int err = r < 0 ? errno : 0;
	report_pair(r, err, sv);
}

// A loopback listener (reported, via the native syscall) and its address.
static int listener(struct sockaddr_in *a) {
	const char *was = via;
	via = "syscall";
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	report("socket", AF_INET, SOCK_STREAM, 0, lfd, lfd < 0 ? errno : 0, -1, 0);
	via = was;
	if (lfd < 0) return -1;
	*a = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(*a);
	if (bind(lfd, (struct sockaddr *)a, sizeof(*a)) || listen(lfd, 4) ||
	    getsockname(lfd, (struct sockaddr *)a, &len)) {
		close(lfd);
		return -1;
	}
	return lfd;
}

// A client connected to a (reported, via the native syscall), or -1.
static int client(const struct sockaddr_in *a) {
	const char *was = via;
	via = "syscall";
	int cfd = socket(AF_INET, SOCK_STREAM, 0);
	report("socket", AF_INET, SOCK_STREAM, 0, cfd, cfd < 0 ? errno : 0, -1, 0);
	via = was;
	if (cfd >= 0 && connect(cfd, (const struct sockaddr *)a, sizeof(*a))) {
		close(cfd);
		return -1;
	}
	return cfd;
}

static void accept_one(void) {
	struct sockaddr_in a;
	int lfd = listener(&a);
	if (lfd < 0) return;
	int cfd = client(&a);
	if (cfd >= 0) {
		errno = 0;
		int afd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		/* accept4's flags are the new socket's: reported as part of its type */
		report("accept", AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0, afd, afd < 0 ? errno : 0, lfd,
		       inode_of(lfd));
		if (afd >= 0) close(afd);
		close(cfd);
	}
	close(lfd);
}

// accept4 on a non-blocking listener nobody connected to: EAGAIN, reported.
static void accept_eagain(void) {
	struct sockaddr_in a;
	int lfd = listener(&a);
	if (lfd < 0) return;
	fcntl(lfd, F_SETFL, O_NONBLOCK);
	errno = 0;
	int afd = accept4(lfd, NULL, NULL, 0);
	report("accept", AF_INET, SOCK_STREAM, 0, afd, afd < 0 ? errno : 0, lfd, inode_of(lfd));
	if (afd >= 0) close(afd);
	close(lfd);
}

// ---- io_uring, by its raw syscalls (no liburing) ----------------------------

struct ring {
	int fd;
	unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
};

static int ring_open(struct ring *r) {
	struct io_uring_params p = {0};
	r->fd = (int)syscall(__NR_io_uring_setup, 8, &p);
	if (r->fd < 0) return -errno;
	size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	char *sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
			IORING_OFF_SQ_RING);
	char *cq = mmap(NULL, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
			IORING_OFF_CQ_RING);
	r->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || r->sqes == MAP_FAILED) {
		close(r->fd);
		return -ENOMEM;
	}
	r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
	r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
	r->sq_array = (unsigned *)(sq + p.sq_off.array);
	r->cq_head = (unsigned *)(cq + p.cq_off.head);
	r->cq_tail = (unsigned *)(cq + p.cq_off.tail);
	r->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	return 0;
}

// Queues one sqe and submits it.
static int ring_submit(struct ring *r, const struct io_uring_sqe *sqe) {
	unsigned tail = *r->sq_tail, i = tail & *r->sq_mask;
	r->sqes[i] = *sqe;
	r->sq_array[i] = i;
	__atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
	return syscall(__NR_io_uring_enter, r->fd, 1, 0, 0, NULL, 0) == 1 ? 0 : -errno;
}

// Waits for the next cqe: its res, and its flags in *flags.
static int ring_wait(struct ring *r, unsigned *flags) {
	unsigned head = *r->cq_head;
	while (head == __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE))
		if (syscall(__NR_io_uring_enter, r->fd, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0 &&
		    errno != EINTR)
			return -errno;
	struct io_uring_cqe *cqe = &r->cqes[head & *r->cq_mask];
	int res = cqe->res;
	if (flags) *flags = cqe->flags;
	__atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
	return res;
}

static void uring_socket(const char *scenario, int family, int type, int protocol) {
	struct ring r;
	int err = ring_open(&r);
	if (err) return unsupported(scenario, -err);
	struct io_uring_sqe sqe = {.opcode = IORING_OP_SOCKET, .fd = family, .off = type,
				   .len = protocol, .user_data = 0x50c4e7};
	int res = ring_submit(&r, &sqe) ? -EIO : ring_wait(&r, NULL);
	if (res == -EINVAL) { /* an unknown opcode: no IORING_OP_SOCKET before 5.19 */
		unsupported(scenario, EINVAL);
	} else {
		via = "io_uring";
		report("socket", family, type, protocol, res < 0 ? -1 : res, res < 0 ? -res : 0, -1, 0);
		via = "syscall";
		if (res >= 0) close(res);
	}
	close(r.fd);
}

// One IORING_OP_ACCEPT (multishot: one sqe, two connections, two cqes).
static void uring_accept(const char *scenario, int multishot) {
	struct ring r;
	struct sockaddr_in a;
	int err = ring_open(&r), n = multishot ? 2 : 1, cfd[2] = {-1, -1};
	if (err) return unsupported(scenario, -err);
	int lfd = listener(&a);
	for (int i = 0; i < n && lfd >= 0; i++) cfd[i] = client(&a);
	struct io_uring_sqe sqe = {.opcode = IORING_OP_ACCEPT, .fd = lfd,
				   .accept_flags = SOCK_CLOEXEC, .user_data = 0xacce97};
	if (multishot) sqe.ioprio = IORING_ACCEPT_MULTISHOT;
	int armed = 0; /* a multishot accept still waits for connections */
	if (lfd >= 0 && ring_submit(&r, &sqe) == 0) {
		armed = multishot;
		for (int i = 0; i < n; i++) {
			unsigned flags = 0;
			int res = ring_wait(&r, &flags);
			if (res == -EINVAL && i == 0) { /* no multishot accept before 5.19 */
				unsupported(scenario, EINVAL);
				armed = 0;
				break;
			}
			via = "io_uring";
			report("accept", AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0, res < 0 ? -1 : res,
			       res < 0 ? -res : 0, lfd, inode_of(lfd));
			via = "syscall";
			if (res >= 0) close(res);
		}
		// Cancel the multishot accept here, so its last cqe (-ECANCELED) is
		// posted by this thread, not by the ring's teardown in a kworker.
		struct io_uring_sqe cancel = {.opcode = IORING_OP_ASYNC_CANCEL, .addr = 0xacce97,
					      .user_data = 0xca9ce1};
		if (armed && ring_submit(&r, &cancel) == 0) {
			for (int i = 0; i < 2; i++) {
				struct io_uring_cqe *cqe = &r.cqes[*r.cq_head & *r.cq_mask];
				unsigned flags = 0;
				int res = ring_wait(&r, &flags);
				if (cqe->user_data != 0xacce97) continue;
				via = "io_uring";
				report("accept", AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0, res < 0 ? -1 : res,
				       res < 0 ? -res : 0, lfd, inode_of(lfd));
				via = "syscall";
			}
		}
	}
	for (int i = 0; i < n; i++)
		if (cfd[i] >= 0) close(cfd[i]);
	close(lfd);
	close(r.fd);
}

// ---- the 32-bit x86 syscall ABI: int $0x80 from this 64-bit process ----------

#if defined(__x86_64__)
// The i386 syscall numbers (arch/x86/entry/syscalls/syscall_32.tbl).
enum { NR32_SOCKETCALL = 102, NR32_SOCKET = 359, NR32_SOCKETPAIR = 360, NR32_ACCEPT4 = 364 };

static long int80(long nr, long a, long b, long c, long d) {
	long ret;
	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d)
			 : "memory", "r8", "r9", "r10", "r11");
	return ret;
}

// Memory a 32-bit syscall can point to: below 4 GiB.
static unsigned *low_memory(void) {
	static unsigned *low;
	if (!low) {
		void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT,
			       -1, 0);
		low = m == MAP_FAILED ? NULL : m;
	}
	return low;
}

static void ia32(const char *scenario) {
	unsigned *low = low_memory();
	long r;
	if (!low) return unsupported(scenario, ENOMEM);
	via = "ia32";
	if (!strcmp(scenario, "ia32-socket")) {
		r = int80(NR32_SOCKET, AF_INET, SOCK_STREAM, 0, 0);
		if (r == -ENOSYS) return via = "syscall", unsupported(scenario, ENOSYS);
		report("socket", AF_INET, SOCK_STREAM, 0, r < 0 ? -1 : (int)r, r < 0 ? (int)-r : 0, -1, 0);
		if (r >= 0) close((int)r);
	} else if (!strcmp(scenario, "ia32-socketcall")) {
		low[0] = AF_INET6, low[1] = SOCK_DGRAM, low[2] = 0;
		r = int80(NR32_SOCKETCALL, 1 /* SYS_SOCKET */, (long)low, 0, 0);
		if (r == -ENOSYS) return via = "syscall", unsupported(scenario, ENOSYS);
		via = "socketcall";
		report("socket", AF_INET6, SOCK_DGRAM, 0, r < 0 ? -1 : (int)r, r < 0 ? (int)-r : 0, -1, 0);
		if (r >= 0) close((int)r);
	} else if (!strcmp(scenario, "ia32-socketpair")) {
		int *sv = (int *)low;
		sv[0] = sv[1] = -1;
		r = int80(NR32_SOCKETPAIR, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, (long)sv);
		if (r == -ENOSYS) return via = "syscall", unsupported(scenario, ENOSYS);
		report_pair((int)r, r < 0 ? (int)-r : 0, sv);
	} else {
		struct sockaddr_in a;
		int lfd = listener(&a), cfd = lfd < 0 ? -1 : client(&a);
		if (cfd >= 0) {
			r = int80(NR32_ACCEPT4, lfd, 0, 0, SOCK_CLOEXEC);
			if (r == -ENOSYS) {
				unsupported(scenario, ENOSYS);
			} else {
				report("accept", AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0, r < 0 ? -1 : (int)r,
				       r < 0 ? (int)-r : 0, lfd, inode_of(lfd));
				if (r >= 0) close((int)r);
			}
			close(cfd);
		}
		if (lfd >= 0) close(lfd);
	}
	via = "syscall";
}
#else
static void ia32(const char *scenario) { unsupported(scenario, ENOSYS); }
#endif

static void *thread_main(void *arg) {
	(void)arg;
	one_socket(AF_INET, SOCK_STREAM, 0);
	return NULL;
}

/* ---- lifecycle: what sockets became ---------------------------------------- */

static int pre_socket_fd = -1;

/* An address as socktrace prints it: 127.0.0.1:80, [::1]:80, /path, @name. */
static void address_text(const struct sockaddr *sa, socklen_t len, char *out, size_t size) {
	char host[INET6_ADDRSTRLEN] = "";
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(out, size, "%s:%d", host, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(out, size, "[%s]:%d", host, ntohs(in6->sin6_port));
	} else if (sa->sa_family == AF_UNIX) {
		const struct sockaddr_un *un = (const void *)sa;
		size_t n = len - offsetof(struct sockaddr_un, sun_path);
		if (n > 0 && un->sun_path[0] == '\0')
			snprintf(out, size, "@%.*s", (int)(n - 1), un->sun_path + 1);
		else
			snprintf(out, size, "%.*s", (int)strnlen(un->sun_path, n), un->sun_path);
	} else {
		snprintf(out, size, "?");
	}
}

static int port_of(const struct sockaddr *sa) {
	if (sa->sa_family == AF_INET) return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6) return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return -1; /* no port: null in the record */
}

/* A string for the JSON report: quotes, backslashes and every byte outside
 * printable ASCII escaped (as \u00XX, so the report stays valid JSON whatever
 * bytes a name holds; tests compare escaped names only for ASCII ones). */
static void json_escape(const char *in, char *out, size_t size) {
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)in; *p && o + 7 < size; p++) {
		if (*p == '"' || *p == '\\') {
			out[o++] = '\\';
			out[o++] = (char)*p;
		} else if (*p < 0x20 || *p >= 0x7f) {
			o += snprintf(out + o, size - o, "\\u%04x", *p);
		} else {
			out[o++] = (char)*p;
		}
	}
	out[o] = '\0';
}

/* One call on a socket, with the address it was given (or the peer, for accept). */
static void report_call(const char *op, int fd, const struct sockaddr *sa, socklen_t len, int ret,
			int err, int arg) {
	char text[256] = "", escaped[256 * 6 + 1];
	if (sa) address_text(sa, len, text, sizeof(text));
	json_escape(text, escaped, sizeof(escaped));
	printf("{\"op\":\"%s\",\"pid\":%d,\"tid\":%ld,\"fd\":%d,\"inode\":%llu,\"ret\":%d,\"errno\":%d,"
	       "\"address\":\"%s\",\"has_address\":%s,\"port\":%d,\"arg\":%d}\n",
	       op, getpid(), gettid_(), fd, inode_of(fd), ret, err, escaped, sa ? "true" : "false",
	       sa ? port_of(sa) : -1, arg);
	fflush(stdout);
}

static int traced_socket(int family, int type) {
	errno = 0;
	int fd = socket(family, type, 0);
	report("socket", family, type, 0, fd, fd < 0 ? errno : 0, -1, 0);
	return fd;
}

static int traced_bind(int fd, const struct sockaddr *sa, socklen_t len) {
	errno = 0;
	int r = bind(fd, sa, len);
	report_call("bind", fd, sa, len, r, r ? errno : 0, 0);
	return r;
}

static int traced_listen(int fd, int backlog) {
	errno = 0;
	int r = listen(fd, backlog);
	report_call("listen", fd, NULL, 0, r, r ? errno : 0, backlog);
	return r;
}

static int traced_connect(int fd, const struct sockaddr *sa, socklen_t len) {
	errno = 0;
	int r = connect(fd, sa, len);
	report_call("connect", fd, sa, len, r, r ? errno : 0, 0);
	return r;
}

/* accept4; the peer as getpeername of the new socket shows it (unix: none). */
static int traced_accept(int lfd, int family) {
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);
	errno = 0;
	int fd = accept4(lfd, (struct sockaddr *)&peer, &len, 0);
	int err = fd < 0 ? errno : 0;
	printf("{\"op\":\"accept\",\"pid\":%d,\"tid\":%ld,\"family\":%d,\"type\":%d,\"protocol\":0,"
	       "\"ret\":%d,\"errno\":%d,\"inode\":%llu,\"fd2\":%d,\"inode2\":%llu,",
	       getpid(), gettid_(), family, SOCK_STREAM, fd, err, fd >= 0 ? inode_of(fd) : 0ULL, lfd,
	       inode_of(lfd));
	char text[256] = "";
	int inet = family == AF_INET || family == AF_INET6;
	if (fd >= 0 && inet) address_text((struct sockaddr *)&peer, len, text, sizeof(text));
	printf("\"address\":\"%s\",\"has_address\":%s,\"port\":%d}\n", text,
	       fd >= 0 && inet ? "true" : "false",
	       fd >= 0 && inet ? port_of((struct sockaddr *)&peer) : -1);
	fflush(stdout);
	return fd;
}

static void traced_shutdown(int fd, int how) {
	errno = 0;
	int r = shutdown(fd, how);
	report_call("shutdown", fd, NULL, 0, r, r ? errno : 0, how);
}

static void traced_close(int fd) {
	printf("{\"op\":\"close\",\"pid\":%d,\"tid\":%ld,\"fd\":%d,\"inode\":%llu}\n", getpid(),
	       gettid_(), fd, inode_of(fd));
	fflush(stdout);
	close(fd);
}

/* A server and a client on sa; the client shuts down its writing side. */
static void client_server(int family, struct sockaddr *sa, socklen_t len) {
	int lfd = traced_socket(family, SOCK_STREAM);
	if (lfd < 0) return;
	if (traced_bind(lfd, sa, len) || traced_listen(lfd, 16)) {
		traced_close(lfd);
		return;
	}
	socklen_t got = len;
	getsockname(lfd, sa, &got); /* the port the kernel chose for :0 */
	int cfd = traced_socket(family, SOCK_STREAM);
	if (cfd >= 0 && traced_connect(cfd, sa, got) == 0) {
		int afd = traced_accept(lfd, family);
		traced_shutdown(cfd, SHUT_WR);
		if (afd >= 0) traced_close(afd);
	}
	if (cfd >= 0) traced_close(cfd);
	traced_close(lfd);
}

/* A non-blocking connect, followed with poll and SO_ERROR like a program would. */
static void nonblocking_connect(struct sockaddr *sa, socklen_t len) {
	int fd = traced_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
	if (fd < 0) return;
	if (traced_connect(fd, sa, len) < 0 && errno == EINPROGRESS) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		poll(&p, 1, 5000);
		int err = 0;
		socklen_t n = sizeof(err);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &n);
		printf("{\"op\":\"connect_result\",\"pid\":%d,\"fd\":%d,\"inode\":%llu,\"errno\":%d}\n",
		       getpid(), fd, inode_of(fd), err);
		fflush(stdout);
	}
	traced_close(fd);
}

static void lifecycle(int v4_port) {
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons(v4_port)};
	client_server(AF_INET, (struct sockaddr *)&in, sizeof(in));
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	client_server(AF_INET6, (struct sockaddr *)&in6, sizeof(in6));

	struct sockaddr_un un = {.sun_family = AF_UNIX};
	snprintf(un.sun_path, sizeof(un.sun_path), "/tmp/socktrace-workload-%d.sock", getpid());
	unlink(un.sun_path);
	client_server(AF_UNIX, (struct sockaddr *)&un, sizeof(un));
	unlink(un.sun_path);
	struct sockaddr_un abstract = {.sun_family = AF_UNIX};
	int n = snprintf(abstract.sun_path + 1, sizeof(abstract.sun_path) - 1, "socktrace-%d", getpid());
	client_server(AF_UNIX, (struct sockaddr *)&abstract,
		      offsetof(struct sockaddr_un, sun_path) + 1 + n);

	/* A port nobody listens on: bound once to learn a free one, then closed. */
	struct sockaddr_in closed = in;
	closed.sin_port = 0;
	int probe = traced_socket(AF_INET, SOCK_STREAM);
	socklen_t len = sizeof(closed);
	if (probe >= 0 && !traced_bind(probe, (struct sockaddr *)&closed, len) &&
	    !getsockname(probe, (struct sockaddr *)&closed, &len)) {
		traced_close(probe);
		nonblocking_connect((struct sockaddr *)&closed, sizeof(closed));
	} else if (probe >= 0) {
		traced_close(probe);
	}
	/* And one that succeeds, to a listener. */
	struct sockaddr_in l = in;
	l.sin_port = 0;
	len = sizeof(l);
	int lfd = traced_socket(AF_INET, SOCK_STREAM);
	if (lfd >= 0 && !traced_bind(lfd, (struct sockaddr *)&l, len) && !traced_listen(lfd, 4) &&
	    !getsockname(lfd, (struct sockaddr *)&l, &len))
		nonblocking_connect((struct sockaddr *)&l, sizeof(l));
	if (lfd >= 0) traced_close(lfd);
}

/* Unix names are any bytes: control characters, invalid UTF-8, quotes, a
 * full-length path with no NUL terminator, an abstract name with NULs. */
static void hostile_unix(void) {
	const char *names[] = {"/tmp/st-\n\x01\xff\"\\q", NULL, NULL};
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	int fd = traced_socket(AF_UNIX, SOCK_DGRAM);
	if (fd >= 0) {
		snprintf(un.sun_path, sizeof(un.sun_path), "%s%d", names[0], getpid());
		unlink(un.sun_path);
		traced_bind(fd, (struct sockaddr *)&un, sizeof(un));
		unlink(un.sun_path);
		traced_close(fd);
	}
	fd = traced_socket(AF_UNIX, SOCK_DGRAM);
	if (fd >= 0) { /* sun_path filled to the last byte: no terminator */
		int n = snprintf(un.sun_path, sizeof(un.sun_path), "/tmp/st-%d-", getpid());
		memset(un.sun_path + n, 'x', sizeof(un.sun_path) - n);
		char path[sizeof(un.sun_path) + 1];
		memcpy(path, un.sun_path, sizeof(un.sun_path));
		path[sizeof(un.sun_path)] = '\0';
		unlink(path);
		traced_bind(fd, (struct sockaddr *)&un, sizeof(un));
		unlink(path);
		traced_close(fd);
	}
	fd = traced_socket(AF_UNIX, SOCK_DGRAM);
	if (fd >= 0) { /* abstract, with a NUL and a newline inside */
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		memcpy(a.sun_path, "\0st\0\n\xfe", 7);
		traced_bind(fd, (struct sockaddr *)&a, offsetof(struct sockaddr_un, sun_path) + 6);
		traced_close(fd);
	}
}

static void pre_socket_bind(void) {
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (pre_socket_fd >= 0) traced_bind(pre_socket_fd, (struct sockaddr *)&in, sizeof(in));
}

// N socket()+close() calls, one summary line (the call count is the truth).
static void burst(long n) {
	long ok = 0;
	for (long k = 0; k < n; k++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd >= 0) {
			ok++;
			close(fd);
		}
	}
	printf("{\"op\":\"burst\",\"pid\":%d,\"calls\":%ld,\"ok\":%ld}\n", getpid(), n, ok);
	fflush(stdout);
}

// N children alive at the same time (blocked on a pipe), then released: each
// makes one socket and exits.
static void hold_processes(long n) {
	int go[2];
	long forked = 0;
	if (pipe(go)) return;
	for (long k = 0; k < n; k++) {
		pid_t child = fork();
		if (child == 0) {
			char byte;
			close(go[1]);
			while (read(go[0], &byte, 1) < 0 && errno == EINTR) {}
			int fd = socket(AF_INET, SOCK_DGRAM, 0);
			if (fd >= 0) close(fd);
			_exit(0);
		}
		if (child < 0) break;
		forked++;
	}
	close(go[0]);
	close(go[1]); /* EOF: every child goes */
	while (wait(NULL) > 0 || errno == EINTR) {}
	printf("{\"op\":\"hold-processes\",\"pid\":%d,\"forked\":%ld}\n", getpid(), forked);
	fflush(stdout);
}

// N sockets open at the same time, then all closed: spread over as many
// child processes as RLIMIT_NOFILE needs (raising it may not be allowed).
static void hold_sockets(long n) {
	struct rlimit limit;
	int ready[2], go[2];
	long per, opened = 0, children = 0;
	getrlimit(RLIMIT_NOFILE, &limit);
	limit.rlim_cur = limit.rlim_max;
	setrlimit(RLIMIT_NOFILE, &limit);
	per = (long)limit.rlim_cur - 64;
	if (per < 1 || pipe(ready) || pipe(go)) exit(2);
	for (long start = 0; start < n; start += per) {
		long share = n - start < per ? n - start : per;
		pid_t child = fork();
		if (child == 0) {
			long k = 0;
			char byte;
			close(go[1]);
			while (k < share && socket(AF_UNIX, SOCK_DGRAM, 0) >= 0) k++;
			if (write(ready[1], &k, sizeof(k)) != sizeof(k)) _exit(1);
			while (read(go[0], &byte, 1) < 0 && errno == EINTR) {}
			/* every socket is closed by close(2), so each release is seen */
			for (int fd = 3; fd < (int)limit.rlim_cur; fd++)
				if (fd != go[0] && fd != ready[1]) close(fd);
			_exit(0);
		}
		if (child < 0) break;
		children++;
	}
	for (long c = 0; c < children; c++) {
		long k = 0;
		if (read(ready[0], &k, sizeof(k)) == sizeof(k)) opened += k;
	}
	close(go[1]); /* all are open at once now: let them close and exit */
	while (wait(NULL) > 0 || errno == EINTR) {}
	printf("{\"op\":\"hold-sockets\",\"pid\":%d,\"opened\":%ld,\"processes\":%ld}\n", getpid(), opened,
	       children);
	fflush(stdout);
}

/* ---- causes: why a socket could not be made (issue 22) ------------------ */

static void cause_line(const char *cause, int family, int type, int protocol, int ret, int err,
		       const char *extra) {
	printf("{\"op\":\"socket\",\"scenario\":\"causes\",\"cause\":\"%s\",\"via\":\"syscall\","
	       "\"pid\":%d,\"tid\":%ld,\"family\":%d,\"type\":%d,\"protocol\":%d,\"ret\":%d,"
	       "\"errno\":%d,\"inode\":0%s}\n",
	       cause, getpid(), gettid_(), family, type, protocol, ret, err, extra);
	fflush(stdout);
}

static void cause_socket(const char *cause, int family, int type, int protocol) {
	errno = 0;
	int fd = socket(family, type, protocol);
	int err = fd < 0 ? errno : 0;
	if (fd >= 0) {
		close(fd);
		fd = -1; /* this kernel allowed it: reported with errno 0, no cause */
		cause = "";
	}
	cause_line(cause, family, type, protocol, fd, err, "");
}

/* EMFILE with RLIMIT_NOFILE 16: fds 0..15 all open, then socket(). */
static void cause_emfile(void) {
	struct rlimit old, low = {16, 0};
	int opened[16], n = 0, open_fds = 0;
	char extra[64];
	getrlimit(RLIMIT_NOFILE, &old);
	low.rlim_max = old.rlim_max;
	for (int fd = 0; fd < 16; fd++)
		if (fcntl(fd, F_GETFD) < 0) {
			int d = open("/dev/null", O_RDONLY);
			if (d >= 0) opened[n++] = d;
		}
	if (setrlimit(RLIMIT_NOFILE, &low)) return;
	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0) open_fds++;
	errno = 0;
	int r = socket(AF_INET, SOCK_DGRAM, 0);
	int err = r < 0 ? errno : 0;
	if (r >= 0) close(r);
	setrlimit(RLIMIT_NOFILE, &old);
	for (int k = 0; k < n; k++) close(opened[k]);
	snprintf(extra, sizeof(extra), ",\"fd_limit\":16,\"open_fds\":%d", open_fds);
	cause_line("fd_limit", AF_INET, SOCK_DGRAM, 0, r, err, extra);
}

/* On its own thread (a filter binds only the thread that installs it
 * without TSYNC): socket() and socketpair() answered EPERM by seccomp. */
static void *cause_seccomp_thread(void *unused) {
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_socket, 1, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_socketpair, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {sizeof(code) / sizeof(code[0]), code};
	int sv[2];
	(void)unused;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) {
		unsupported("causes-seccomp", errno);
		return NULL;
	}
	cause_socket("seccomp", AF_INET, SOCK_DGRAM, 0);
	errno = 0;
	int r = socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	printf("{\"op\":\"socketpair\",\"scenario\":\"causes\",\"cause\":\"seccomp\",\"via\":\"syscall\","
	       "\"pid\":%d,\"tid\":%ld,\"family\":%d,\"type\":%d,\"protocol\":0,\"ret\":%d,\"errno\":%d,"
	       "\"fd\":-1,\"inode\":0,\"fd2\":-1,\"inode2\":0}\n",
	       getpid(), gettid_(), AF_UNIX, SOCK_STREAM, r, r < 0 ? errno : 0);
	fflush(stdout);
	return NULL;
}

/* A raw socket without CAP_NET_RAW: capabilities are per thread, so this
 * thread drops it from its effective set and the rest keep it. */
static void *cause_permission_thread(void *unused) {
	struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];
	(void)unused;
	if (syscall(SYS_capget, &header, data) == 0) {
		data[CAP_NET_RAW / 32].effective &= ~(1u << (CAP_NET_RAW % 32));
		syscall(SYS_capset, &header, data);
	}
	cause_socket("permission", AF_INET, SOCK_RAW, IPPROTO_ICMP);
	return NULL;
}

static void *causes_thread(void *unused) {
	pthread_t t;
	(void)unused;
	cause_socket("bad_flags", AF_INET, SOCK_STREAM | 0x4000000, 0);
	cause_socket("bad_type", AF_INET, 12, 0);
	cause_socket("family_out_of_range", 200, SOCK_STREAM, 0);
	cause_socket("family_unavailable", 19, SOCK_STREAM, 0);
	cause_socket("protocol_unsupported", AF_INET, SOCK_STREAM, IPPROTO_UDP);
	cause_emfile();
	if (pthread_create(&t, NULL, cause_permission_thread, NULL) == 0) pthread_join(t, NULL);
	/* Refused by the VM suite's BPF LSM program (Tests/vm-suite/lsm) where it
	 * runs: EPERM from security_socket_create; elsewhere EPROTONOSUPPORT. */
	errno = 0;
	int lsm = socket(AF_INET, SOCK_DGRAM, 254);
	int lsm_err = lsm < 0 ? errno : 0;
	if (lsm >= 0) close(lsm);
	cause_line(lsm_err == EPERM ? "lsm" : lsm_err ? "protocol_unsupported" : "", AF_INET, SOCK_DGRAM, 254,
		   lsm < 0 ? -1 : lsm, lsm_err, "");
	if (pthread_create(&t, NULL, cause_seccomp_thread, NULL) == 0) pthread_join(t, NULL);
	return NULL;
}

/* On a thread of their own: the other scenarios' failing calls (bad-flags,
 * emfile, ...) are told apart from these by tid. */
static void causes(void) {
	pthread_t t;
	if (pthread_create(&t, NULL, causes_thread, NULL) == 0) pthread_join(t, NULL);
}

/* ---- peers: both ends of local connections (issue 21) --------------------- */

/* {"op":OP,"pid":N,"fd":N,"inode":N,"local_address":..,"local_port":N,
 *  "peer_address":..,"peer_port":N,"other_pid":N}: getsockname/getpeername. */
static void report_ends(const char *op, int fd, pid_t other) {
	struct sockaddr_storage own, peer;
	socklen_t own_len = sizeof(own), peer_len = sizeof(peer);
	char own_text[256] = "", peer_text[256] = "", own_esc[256 * 6 + 1], peer_esc[256 * 6 + 1];
	int own_port = -1, peer_port = -1;
	memset(&own, 0, sizeof(own));
	memset(&peer, 0, sizeof(peer));
	if (getsockname(fd, (struct sockaddr *)&own, &own_len) == 0 &&
	    own_len > offsetof(struct sockaddr_un, sun_path)) {
		address_text((struct sockaddr *)&own, own_len, own_text, sizeof(own_text));
		own_port = port_of((struct sockaddr *)&own);
	}
	if (getpeername(fd, (struct sockaddr *)&peer, &peer_len) == 0 &&
	    peer_len > offsetof(struct sockaddr_un, sun_path)) {
		address_text((struct sockaddr *)&peer, peer_len, peer_text, sizeof(peer_text));
		peer_port = port_of((struct sockaddr *)&peer);
	}
	json_escape(own_text, own_esc, sizeof(own_esc));
	json_escape(peer_text, peer_esc, sizeof(peer_esc));
	printf("{\"op\":\"%s\",\"pid\":%d,\"fd\":%d,\"inode\":%llu,\"family\":%d,"
	       "\"local_address\":\"%s\",\"local_port\":%d,\"peer_address\":\"%s\",\"peer_port\":%d,"
	       "\"other_pid\":%d}\n",
	       op, getpid(), fd, inode_of(fd), own.ss_family, own_esc, own_port, peer_esc, peer_port,
	       (int)other);
	fflush(stdout);
}

/* The server binds (port 0: the kernel picks), listens and reports; a child
 * connects and reports both its ends and the server's pid; the server accepts
 * and reports the child's pid. Each waits for the other so both are alive. */
static void peer_pair(struct sockaddr *sa, socklen_t len) {
	int lfd = socket(sa->sa_family, SOCK_STREAM, 0), sync[2];
	if (lfd < 0 || bind(lfd, sa, len) || listen(lfd, 4) || pipe(sync)) {
		unsupported("peers", errno);
		return;
	}
	socklen_t got = len;
	getsockname(lfd, sa, &got);
	report_ends("peer-listen", lfd, 0);
	pid_t server = getpid();
	pid_t child = fork();
	if (child == 0) {
		char byte;
		close(lfd);
		close(sync[1]);
		int cfd = socket(sa->sa_family, SOCK_STREAM, 0);
		if (cfd < 0 || connect(cfd, sa, got)) _exit(1);
		report_ends("peer-connect", cfd, server);
		while (read(sync[0], &byte, 1) < 0 && errno == EINTR) {}
		close(cfd);
		_exit(0);
	}
	close(sync[0]);
	/* A client that could not connect (no loopback here) must not hang us. */
	struct pollfd ready = {.fd = lfd, .events = POLLIN};
	int afd = poll(&ready, 1, 10000) == 1 ? accept(lfd, NULL, NULL) : -1;
	if (afd < 0) unsupported("peers", errno ? errno : ETIMEDOUT);
	if (afd >= 0) {
		report_ends("peer-accept", afd, child);
		close(afd);
	}
	close(sync[1]); /* EOF: the client may go */
	waitpid(child, NULL, 0);
	close(lfd);
}

static void peers(void) {
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	peer_pair((struct sockaddr *)&in, sizeof(in));
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	peer_pair((struct sockaddr *)&in6, sizeof(in6));
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	snprintf(un.sun_path, sizeof(un.sun_path), "/tmp/socktrace-peers-%d.sock", getpid());
	unlink(un.sun_path);
	peer_pair((struct sockaddr *)&un, sizeof(un));
	unlink(un.sun_path);
	struct sockaddr_un abstract = {.sun_family = AF_UNIX};
	int n = snprintf(abstract.sun_path + 1, sizeof(abstract.sun_path) - 1, "socktrace-peers-%d", getpid());
	peer_pair((struct sockaddr *)&abstract, offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

/* A listener and a socketpair, held until a line on stdin (or EOF). */
static void hold_peers(void) {
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int lfd = socket(AF_INET, SOCK_STREAM, 0), sv[2] = {-1, -1};
	char line[16];
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&in, sizeof(in)) || listen(lfd, 4) ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
		unsupported("hold-peers", errno);
		return;
	}
	report_ends("hold-listen", lfd, 0);
	report_ends("hold-pair", sv[0], 0);
	report_ends("hold-pair", sv[1], 0);
	if (!fgets(line, sizeof(line), stdin)) {}
	close(sv[0]);
	close(sv[1]);
	close(lfd);
	printf("{\"op\":\"hold-closed\",\"pid\":%d}\n", getpid());
	fflush(stdout);
}

/* ---- share: one socket, many references (issue 19) ------------------------- */

/* Boot-clock nanoseconds: the clock of the records' ts_ns. */
static unsigned long long boot_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

static unsigned long long st_ino_of(int fd) {
	struct stat st;
	return fstat(fd, &st) ? 0ULL : (unsigned long long)st.st_ino;
}

/* One socket's truth: who made it (maker), who drops its last reference
 * (pid), how the tracepoint rung names that (how), and the boot-clock times
 * just before that moment (after) and once it is certainly past (before). */
static void share_line(const char *c, pid_t maker, pid_t pid, unsigned long long inode,
		       const char *how, unsigned long long after, unsigned long long before) {
	printf("{\"op\":\"share\",\"case\":\"%s\",\"maker\":%d,\"pid\":%d,\"inode\":%llu,"
	       "\"how\":\"%s\",\"after\":%llu,\"before\":%llu}\n",
	       c, (int)maker, (int)pid, inode, how, after, before);
	fflush(stdout);
}

/* A child's sockets, told to its parent through a pipe: inode and the time
 * just before the child lets them go (exec, exit). */
struct share_note {
	unsigned long long inode[3], after;
	int n;
};

/* fork: the child closes its copy and exits; the parent binds it, then closes it. */
static void share_fork(void) {
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0) return unsupported("share", errno);
	unsigned long long inode = st_ino_of(s);
	pid_t child = fork();
	if (child == 0) {
		close(s);
		_exit(0);
	}
	waitpid(child, NULL, 0);
	traced_bind(s, (struct sockaddr *)&in, sizeof(in));
	unsigned long long after = boot_ns();
	close(s);
	share_line("fork_shared", getpid(), getpid(), inode, "close", after, boot_ns());
}

/* dup2 to fd 40, the original closed, a pause, then fd 40: released by the second close. */
static void share_dup2(void) {
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0) return unsupported("share", errno);
	unsigned long long inode = st_ino_of(s);
	if (dup2(s, 40) != 40) return unsupported("share", errno);
	close(s);
	usleep(2000);
	unsigned long long after = boot_ns();
	close(40);
	share_line("dup2", getpid(), getpid(), inode, "close", after, boot_ns());
}

/* SCM_RIGHTS: A makes a unix socket after forking B, sends it over a
 * socketpair and closes its copy; B binds and listens on it, then closes it
 * once A says its copy is closed (on one CPU the wakeup of B can preempt A
 * inside sendmsg, which still holds a reference: B's close would not be the
 * last one then, and A's close(u) would release it). */
static void share_scm_rights(void) {
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) return unsupported("share", errno);
	pid_t maker = getpid();
	pid_t child = fork();
	if (child == 0) {
		char byte, control[CMSG_SPACE(sizeof(int))];
		struct iovec iov = {&byte, 1};
		struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
				     .msg_controllen = sizeof(control)};
		int r = -1;
		close(sv[0]);
		if (recvmsg(sv[1], &msg, 0) == 1 && CMSG_FIRSTHDR(&msg) &&
		    CMSG_FIRSTHDR(&msg)->cmsg_type == SCM_RIGHTS)
			memcpy(&r, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof(r));
		if (r < 0) _exit(1);
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		int n = snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1, "socktrace-share-%d", getpid());
		traced_bind(r, (struct sockaddr *)&a, offsetof(struct sockaddr_un, sun_path) + 1 + n);
		traced_listen(r, 1);
		/* A's copy is gone first: A may still be inside sendmsg, holding it */
		while (read(sv[1], &byte, 1) < 0 && errno == EINTR) {}
		unsigned long long inode = st_ino_of(r), after = boot_ns();
		close(r);
		share_line("scm_rights", maker, getpid(), inode, "close", after, boot_ns());
		close(sv[1]);
		_exit(0);
	}
	close(sv[1]);
	int u = socket(AF_UNIX, SOCK_STREAM, 0);
	char byte = 'x', control[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {&byte, 1};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
			     .msg_controllen = sizeof(control)};
	memset(control, 0, sizeof(control));
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &u, sizeof(u));
	if (u < 0 || sendmsg(sv[0], &msg, 0) != 1) unsupported("share", errno);
	if (u >= 0) close(u);
	if (write(sv[0], &byte, 1) != 1) unsupported("share", errno); /* B may close it now */
	waitpid(child, NULL, 0);
	close(sv[0]);
}

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

/* close_range(2) over two sockets, moved to fds 50 and 51 so nothing else is in the range. */
static void share_close_range(void) {
	unsigned long long inode[2];
	for (int k = 0; k < 2; k++) {
		int s = socket(AF_INET, SOCK_DGRAM, 0);
		if (s < 0 || dup2(s, 50 + k) != 50 + k) return unsupported("share", errno);
		close(s);
		inode[k] = st_ino_of(50 + k);
	}
	unsigned long long after = boot_ns();
	if (syscall(SYS_close_range, 50, 51, 0)) return unsupported("share", errno);
	unsigned long long before = boot_ns();
	for (int k = 0; k < 2; k++)
		share_line("close_range", getpid(), getpid(), inode[k], "close_range", after, before);
}

/* A child with a SOCK_CLOEXEC socket execs this program with no scenario. */
static void share_exec(void) {
	int note[2];
	struct share_note got = {0};
	if (pipe2(note, O_CLOEXEC)) return unsupported("share", errno);
	pid_t child = fork();
	if (child == 0) {
		struct share_note mine = {0};
		int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0) _exit(1);
		mine.inode[0] = st_ino_of(s);
		mine.n = 1;
		mine.after = boot_ns();
		char self[4096];
		ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (len <= 0) _exit(1);
		self[len] = '\0'; /* its own path, so the exec keeps its comm */
		if (write(note[1], &mine, sizeof(mine)) != sizeof(mine)) _exit(1);
		execl(self, "socktrace-workload", (char *)NULL);
		_exit(127);
	}
	close(note[1]);
	int n = read(note[0], &got, sizeof(got));
	close(note[0]);
	int status = 0;
	waitpid(child, &status, 0);
	if (n != sizeof(got) || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return unsupported("share", ECHILD);
	share_line("exec", child, child, got.inode[0], "exec", got.after, boot_ns());
}

/* A child exits holding three sockets. */
static void share_exit(void) {
	int note[2];
	struct share_note got = {0};
	if (pipe(note)) return unsupported("share", errno);
	pid_t child = fork();
	if (child == 0) {
		struct share_note mine = {0};
		int kinds[3][2] = {{AF_INET, SOCK_STREAM}, {AF_INET6, SOCK_DGRAM}, {AF_UNIX, SOCK_DGRAM}};
		close(note[0]);
		for (int k = 0; k < 3; k++) {
			int s = socket(kinds[k][0], kinds[k][1], 0);
			if (s < 0) _exit(1);
			mine.inode[mine.n++] = st_ino_of(s);
		}
		mine.after = boot_ns();
		if (write(note[1], &mine, sizeof(mine)) != sizeof(mine)) _exit(1);
		_exit(0);
	}
	close(note[1]);
	int n = read(note[0], &got, sizeof(got));
	close(note[0]);
	waitpid(child, NULL, 0);
	unsigned long long before = boot_ns();
	if (n != sizeof(got)) return unsupported("share", ECHILD);
	for (int k = 0; k < got.n; k++)
		share_line("exit", child, child, got.inode[k], "exit", got.after, before);
}

static void share(void) {
	share_fork();
	share_dup2();
	share_scm_rights();
	share_close_range();
	share_exec();
	share_exit();
}

static int run(const char *s) {
	if (!strcmp(s, "inet-stream")) one_socket(AF_INET, SOCK_STREAM, 0);
	else if (!strcmp(s, "inet6-dgram")) one_socket(AF_INET6, SOCK_DGRAM, 0);
	else if (!strcmp(s, "unix-nonblock-cloexec"))
		one_socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	else if (!strcmp(s, "raw-icmp")) one_socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
	else if (!strcmp(s, "netlink")) one_socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	else if (!strcmp(s, "bad-family")) one_socket(255, SOCK_STREAM, 0);
	else if (!strcmp(s, "bad-flags")) one_socket(AF_INET, SOCK_STREAM | 0x4000000, 0);
	else if (!strcmp(s, "bad-protocol")) one_socket(AF_INET, SOCK_STREAM, IPPROTO_UDP);
	else if (!strcmp(s, "emfile")) emfile();
	else if (!strcmp(s, "causes")) causes();
	else if (!strcmp(s, "socketpair")) pair();
	else if (!strcmp(s, "accept")) accept_one();
	else if (!strcmp(s, "accept-eagain")) accept_eagain();
	else if (!strcmp(s, "lifecycle")) lifecycle(0);
	else if (!strncmp(s, "lifecycle-port=", 15)) lifecycle(atoi(s + 15));
	else if (!strcmp(s, "pre-socket-bind")) pre_socket_bind();
	else if (!strcmp(s, "hostile-unix")) hostile_unix();
	else if (!strcmp(s, "peers")) peers();
	else if (!strcmp(s, "hold-peers")) hold_peers();
	else if (!strcmp(s, "share")) share();
	else if (!strcmp(s, "io-uring-socket")) uring_socket(s, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	else if (!strcmp(s, "io-uring-bad-family")) uring_socket(s, 255, SOCK_STREAM, 0);
	else if (!strcmp(s, "io-uring-accept")) uring_accept(s, 0);
	else if (!strcmp(s, "io-uring-accept-multishot")) uring_accept(s, 1);
	else if (!strncmp(s, "ia32-", 5) &&
		 (!strcmp(s + 5, "socket") || !strcmp(s + 5, "socketcall") ||
		  !strcmp(s + 5, "socketpair") || !strcmp(s + 5, "accept4")))
		ia32(s);
	else if (!strcmp(s, "thread")) {
		pthread_t t;
		if (pthread_create(&t, NULL, thread_main, NULL) == 0) pthread_join(t, NULL);
	} else if (!strcmp(s, "fork")) {
		pid_t child = fork();
		if (child == 0) {
			one_socket(AF_INET, SOCK_STREAM, 0);
			_exit(0);
		}
		if (child > 0) waitpid(child, NULL, 0);
	} else if (!strcmp(s, "fork-inherited")) {
		/* The parent makes a socket; only its child uses it: a connect
		 * to a closed port (ECONNREFUSED), then exit. The parent closes it. */
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		pid_t child = fork();
		if (child == 0) {
			struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(1),
						 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
			int r = connect(fd, (struct sockaddr *)&in, sizeof(in));
			printf("{\"op\":\"inherited-connect\",\"pid\":%d,\"ret\":%d,\"errno\":%d}\n", getpid(),
			       r, r ? errno : 0);
			fflush(stdout);
			_exit(0);
		}
		if (child > 0) waitpid(child, NULL, 0);
		if (fd >= 0) close(fd);
	} else if (!strcmp(s, "unshare-net")) {
		int r = unshare(CLONE_NEWNET);
		printf("{\"op\":\"unshare\",\"pid\":%d,\"ret\":%d,\"errno\":%d}\n", getpid(), r,
		       r ? errno : 0);
		fflush(stdout);
	} else if (!strcmp(s, "hostile-comm")) {
		prctl(PR_SET_NAME, "q\"b\\\n\x01\xff", 0, 0, 0);
		one_socket(AF_INET, SOCK_STREAM, 0);
	} else if (!strncmp(s, "burst=", 6)) {
		burst(atol(s + 6));
	} else if (!strncmp(s, "hold-processes=", 15)) {
		hold_processes(atol(s + 15));
	} else if (!strncmp(s, "hold-sockets=", 13)) {
		hold_sockets(atol(s + 13));
	} else if (!strncmp(s, "sleep-ms=", 9)) {
		long ms = atol(s + 9);
		struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
	} else {
		fprintf(stderr, "socktrace-workload: unknown scenario '%s'\n", s);
		return 2;
	}
	return 0;
}

int main(int argc, char **argv) {
	int i = 1;
	if (i < argc && !strcmp(argv[i], "--pre-socket")) {
		pre_socket_fd = socket(AF_INET, SOCK_DGRAM, 0);
		i++;
	}
	if (i < argc && !strcmp(argv[i], "--gate")) {
		printf("{\"op\":\"ready\",\"pid\":%d}\n", getpid());
		fflush(stdout);
		char line[16];
		if (!fgets(line, sizeof(line), stdin)) return 3;
		i++;
	}
	for (; i < argc; i++)
		if (run(argv[i])) return 2;
	return 0;
}
