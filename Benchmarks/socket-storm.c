// socket-storm: the benchmark workload. P worker processes each make N
// socket()+close() pairs, all released at once through a pipe barrier, and the
// parent prints exact counts and timings as one JSON line on stdout.
//
//   gcc -O2 -Wall -o socket-storm socket-storm.c
//
// usage: socket-storm [-p P] [-n N] [-m MIX] [-f FRACTION] [-g]
//   -p P         worker processes (default 1)
//   -n N         socket() calls per worker (default 100000)
//   -m MIX       comma-separated kinds cycled call by call (default inet-dgram):
//                inet-dgram inet-stream inet6-dgram inet6-stream unix-stream
//                unix-dgram netlink, or devnull: open("/dev/null")+close()
//                instead of a socket (the bystander: a process that never
//                touches a socket)
//   -f FRACTION  fraction of calls made to fail on purpose with a bad family
//                (socket(255, SOCK_DGRAM, 0) -> EAFNOSUPPORT); spread evenly and
//                exact: worker call i fails iff floor((i+1)*F) > floor(i*F)
//   -g           gate: print {"ready":true,"pids":[...]} and wait for a line on
//                stdin before lifting the barrier (lets a harness see the pids
//                or start something in between)
//
// Output (one line): {"procs":P,"iters":N,"calls":C,"ok":S,"failed":F,
//   "wall_ns":W,"ns_per_call":W/N,"ns_per_call_all":W/C,"cpu_ns_per_call":..,
//   "pids":[...]}
// ns_per_call is the wall time from barrier release to the last worker's exit
// divided by the calls each worker made: the latency of one socket()+close()
// pair as a worker saw it. ns_per_call_all is the same wall time per call of
// all workers together (throughput view). cpu_ns_per_call is user+sys CPU of
// all workers per call.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/netlink.h>

struct kind {
	const char *name;
	int family, type, protocol;
};

static const struct kind kinds[] = {
	{"inet-dgram", AF_INET, SOCK_DGRAM, 0},
	{"inet-stream", AF_INET, SOCK_STREAM, 0},
	{"inet6-dgram", AF_INET6, SOCK_DGRAM, 0},
	{"inet6-stream", AF_INET6, SOCK_STREAM, 0},
	{"unix-stream", AF_UNIX, SOCK_STREAM, 0},
	{"unix-dgram", AF_UNIX, SOCK_DGRAM, 0},
	{"netlink", AF_NETLINK, SOCK_RAW, NETLINK_ROUTE},
	{"devnull", -1, 0, 0}, /* not a socket: open("/dev/null") */
};

#define MAX_MIX 16
#define MAX_PROCS 256

struct counts {
	unsigned long long calls, ok, failed, unexpected;
	char pad[32]; // keep workers on separate cache lines
};

static unsigned long long now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

static void usage(void) {
	fprintf(stderr, "usage: socket-storm [-p P] [-n N] [-m MIX] [-f FRACTION] [-g]\n");
	exit(2);
}

static void worker(int barrier_fd, long iters, const struct kind **mix, int nmix, double frac,
		   struct counts *out) {
	char c;
	// Blocks until the parent closes the write end: every worker starts together.
	while (read(barrier_fd, &c, 1) < 0 && errno == EINTR) {
	}
	close(barrier_fd);
	unsigned long long ok = 0, failed = 0, unexpected = 0;
	int m = 0;
	for (long i = 0; i < iters; i++) {
		int fail = frac > 0 && (long)((i + 1) * frac) > (long)(i * frac);
		int fd;
		if (fail) {
			fd = socket(255, SOCK_DGRAM, 0);
		} else {
			const struct kind *k = mix[m];
			if (++m == nmix) m = 0;
			fd = k->family < 0 ? open("/dev/null", O_RDONLY) : socket(k->family, k->type, k->protocol);
		}
		if (fd >= 0) {
			ok++;
			close(fd);
			if (fail) unexpected++;
		} else {
			failed++;
			if (!fail) unexpected++;
		}
	}
	out->calls = (unsigned long long)iters;
	out->ok = ok;
	out->failed = failed;
	out->unexpected = unexpected;
}

int main(int argc, char **argv) {
	long procs = 1, iters = 100000;
	double frac = 0;
	int gate = 0;
	const struct kind *mix[MAX_MIX];
	int nmix = 0;
	char mixbuf[512] = "inet-dgram";
	int opt;
	while ((opt = getopt(argc, argv, "p:n:m:f:g")) != -1) {
		switch (opt) {
		case 'p': procs = atol(optarg); break;
		case 'n': iters = atol(optarg); break;
		case 'm': snprintf(mixbuf, sizeof(mixbuf), "%s", optarg); break;
		case 'f': frac = atof(optarg); break;
		case 'g': gate = 1; break;
		default: usage();
		}
	}
	if (procs < 1 || procs > MAX_PROCS || iters < 0 || frac < 0 || frac > 1) usage();
	for (char *save = NULL, *tok = strtok_r(mixbuf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		size_t j;
		for (j = 0; j < sizeof(kinds) / sizeof(kinds[0]); j++)
			if (!strcmp(tok, kinds[j].name)) break;
		if (j == sizeof(kinds) / sizeof(kinds[0]) || nmix == MAX_MIX) {
			fprintf(stderr, "socket-storm: unknown or too many mix kinds at '%s'\n", tok);
			return 2;
		}
		mix[nmix++] = &kinds[j];
	}
	if (nmix == 0) usage();

	struct counts *counts = mmap(NULL, sizeof(struct counts) * (size_t)procs,
				     PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (counts == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	memset(counts, 0, sizeof(struct counts) * (size_t)procs);

	int barrier[2];
	if (pipe(barrier)) {
		perror("pipe");
		return 1;
	}
	fflush(stdout);
	pid_t pids[MAX_PROCS];
	for (long p = 0; p < procs; p++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			close(barrier[1]);
			worker(barrier[0], iters, mix, nmix, frac, &counts[p]);
			_exit(0);
		}
		pids[p] = pid;
	}
	close(barrier[0]);

	if (gate) {
		printf("{\"ready\":true,\"pids\":[");
		for (long p = 0; p < procs; p++) printf("%s%d", p ? "," : "", pids[p]);
		printf("]}\n");
		fflush(stdout);
		char line[64];
		if (!fgets(line, sizeof(line), stdin)) {
			for (long p = 0; p < procs; p++) kill(pids[p], SIGKILL);
			return 3;
		}
	}

	unsigned long long t0 = now_ns();
	close(barrier[1]); // release every worker at once
	int bad_exit = 0;
	for (long p = 0; p < procs; p++) {
		int st;
		if (waitpid(pids[p], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) bad_exit++;
	}
	unsigned long long wall = now_ns() - t0;

	struct rusage ru;
	getrusage(RUSAGE_CHILDREN, &ru);
	unsigned long long cpu_ns =
	    (unsigned long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ULL +
	    (unsigned long long)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ULL;

	unsigned long long calls = 0, ok = 0, failed = 0, unexpected = 0;
	for (long p = 0; p < procs; p++) {
		calls += counts[p].calls;
		ok += counts[p].ok;
		failed += counts[p].failed;
		unexpected += counts[p].unexpected;
	}
	double per = iters ? (double)wall / (double)iters : 0;
	double per_all = calls ? (double)wall / (double)calls : 0;
	double cpu_per = calls ? (double)cpu_ns / (double)calls : 0;
	printf("{\"procs\":%ld,\"iters\":%ld,\"mix\":\"", procs, iters);
	for (int i = 0; i < nmix; i++) printf("%s%s", i ? "," : "", mix[i]->name);
	printf("\",\"fail_fraction\":%g,\"calls\":%llu,\"ok\":%llu,\"failed\":%llu,"
	       "\"unexpected\":%llu,\"bad_exit\":%d,\"wall_ns\":%llu,\"ns_per_call\":%.1f,"
	       "\"ns_per_call_all\":%.1f,\"cpu_ns_per_call\":%.1f,\"pids\":[",
	       frac, calls, ok, failed, unexpected, bad_exit, wall, per, per_all, cpu_per);
	for (long p = 0; p < procs; p++) printf("%s%d", p ? "," : "", pids[p]);
	printf("]}\n");
	return bad_exit || unexpected ? 1 : 0;
}
