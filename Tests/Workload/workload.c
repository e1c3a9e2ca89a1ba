// socktrace-workload: makes known socket calls and prints what it did, one
// JSON object per line on stdout, so tests can compare the tracer's records
// with the truth (pid, tid, fd, errno, and the inode /proc/self/fd/N shows).
//
// usage: socktrace-workload [--gate] SCENARIO...
//   --gate       print {"op":"ready","pid":N} and wait for a line on stdin first
//   scenarios:   inet-stream inet6-dgram unix-nonblock-cloexec raw-icmp netlink
//                bad-family bad-flags bad-protocol emfile socketpair accept
//                thread (runs inet-stream on a new thread)
//                fork (the child runs inet-stream, the parent waits)
//                unshare-net (new network namespace: the kernel's own sockets)
//                hostile-comm (renames itself to quote, backslash, control and
//                  invalid UTF-8 bytes, then runs inet-stream)
//                lifecycle (TCP over 127.0.0.1 and ::1, unix path and abstract
//                  servers and clients, a non-blocking connect that succeeds
//                  and one to a closed port: every bind/listen/connect/accept/
//                  shutdown reported with its address, port, fd and inode)
//                lifecycle-port=N (the same, the IPv4 server on port N)
//                pre-socket-bind (binds a socket made before --gate opened)
//                hostile-unix (binds unix names of control bytes, invalid
//                  UTF-8, full length without NUL, abstract with NULs)
//                sleep-ms=N
//                burst=N (N inet-stream socket()+close(), reported as one line)
//                hold-processes=N (N children alive at once, then each makes a
//                  socket and exits; one line: how many were forked)
//                hold-sockets=N (N sockets open at once, over as many child
//                  processes as RLIMIT_NOFILE needs, then all closed by
//                  close(2); one line: how many were opened)
//   --pre-socket  make an AF_INET datagram socket before the gate
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <poll.h>
#include <errno.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
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

static void report(const char *op, int family, int type, int protocol, int ret, int err,
		   int fd2, unsigned long long extra_inode) {
	printf("{\"op\":\"%s\",\"pid\":%d,\"tid\":%ld,\"family\":%d,\"type\":%d,\"protocol\":%d,"
	       "\"ret\":%d,\"errno\":%d,\"inode\":%llu,\"fd2\":%d,\"inode2\":%llu}\n",
	       op, getpid(), gettid_(), family, type, protocol, ret, err,
	       ret >= 0 ? inode_of(ret) : 0ULL, fd2, extra_inode);
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

static void pair(void) {
	int sv[2] = {-1, -1};
	errno = 0;
	int r = socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	int err = r < 0 ? errno : 0;
	printf("{\"op\":\"socketpair\",\"pid\":%d,\"tid\":%ld,\"family\":%d,\"type\":%d,\"protocol\":0,"
	       "\"ret\":%d,\"errno\":%d,\"fd\":%d,\"inode\":%llu,\"fd2\":%d,\"inode2\":%llu}\n",
	       getpid(), gettid_(), AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, r, err, sv[0],
	       sv[0] >= 0 ? inode_of(sv[0]) : 0ULL, sv[1], sv[1] >= 0 ? inode_of(sv[1]) : 0ULL);
	fflush(stdout);
	if (r == 0) {
		close(sv[0]);
		close(sv[1]);
	}
}

static void accept_one(void) {
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	report("socket", AF_INET, SOCK_STREAM, 0, lfd, lfd < 0 ? errno : 0, -1, 0);
	if (lfd < 0) return;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 1) ||
	    getsockname(lfd, (struct sockaddr *)&a, &len)) {
		close(lfd);
		return;
	}
	int cfd = socket(AF_INET, SOCK_STREAM, 0);
	report("socket", AF_INET, SOCK_STREAM, 0, cfd, cfd < 0 ? errno : 0, -1, 0);
	if (cfd >= 0 && connect(cfd, (struct sockaddr *)&a, sizeof(a)) == 0) {
		errno = 0;
		int afd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		/* accept4's flags are the new socket's: reported as part of its type */
		report("accept", AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0, afd, afd < 0 ? errno : 0, lfd,
		       inode_of(lfd));
		if (afd >= 0) close(afd);
	}
	if (cfd >= 0) close(cfd);
	close(lfd);
}

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
	else if (!strcmp(s, "socketpair")) pair();
	else if (!strcmp(s, "accept")) accept_one();
	else if (!strcmp(s, "lifecycle")) lifecycle(0);
	else if (!strncmp(s, "lifecycle-port=", 15)) lifecycle(atoi(s + 15));
	else if (!strcmp(s, "pre-socket-bind")) pre_socket_bind();
	else if (!strcmp(s, "hostile-unix")) hostile_unix();
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
