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
//                sleep-ms=N
#define _GNU_SOURCE
#include <errno.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
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
