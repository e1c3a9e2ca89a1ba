// syscall-loop: a bystander's syscall cost. Makes N cheap syscalls (getppid)
// and N socket()+close() pairs, prints ns per call of each as one JSON line.
//
//   gcc -O2 -Wall -o syscall-loop syscall-loop.c
//   usage: syscall-loop [N]   (default 1000000)
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv) {
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	double t0 = now();
	for (long i = 0; i < n; i++) syscall(SYS_getppid);
	double t1 = now();
	for (long i = 0; i < n / 10; i++) close(socket(AF_INET, SOCK_DGRAM, 0));
	double t2 = now();
	printf("{\"n\":%ld,\"getppid_ns\":%.1f,\"socket_close_ns\":%.1f}\n", n, (t1 - t0) / n,
	       (t2 - t1) / (n / 10));
	return 0;
}
