// count-events: count a socktrace JSON-lines file fast (it can be gigabytes).
//
//   gcc -O2 -Wall -o count-events count-events.c
//   count-events FILE [PID...]
//
// Prints one JSON line:
//   {"bytes":B,"lines":L,"socket_lines":S,"birth_lines":N,"pid_socket_lines":K,"pid_socket_failed":F,
//    "pid_accept_lines":A,"pid_lines":P,"end_lines":E,"lost_lines":L,"other_lines":O}
// socket_lines: records whose "event" is "socket" (any process);
// birth_lines: socket (not the start snapshot's), socketpair and accept records (the end record's "sockets");
// pid_socket_lines: of those, the ones whose top-level "pid" is one of PID...;
// pid_socket_failed: of those, the ones whose "ret" is negative (a failed call);
// pid_accept_lines: accept records whose "pid" is one of PID...;
// pid_lines: records of any kind whose "pid" is one of PID...;
// end_lines: "event":"end" records (the harness reads the end record itself);
// lost_lines: "event":"lost" records, the tracer's live loss reports (not events).
// Key matching tolerates whitespace around ':' and takes the first occurrence of
// a key in the line, which is the top-level one as long as the tracer writes
// "event", "pid" and "ret" before any nested object.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PIDS 1024

static long pids[MAX_PIDS];
static int npids;

// Pointer to the value of "key" in line, or NULL.
static const char *value_of(const char *line, const char *end, const char *key) {
	size_t klen = strlen(key);
	const char *p = line;
	while (p < end) {
		const char *q = memmem(p, (size_t)(end - p), key, klen);
		if (!q) return NULL;
		const char *v = q + klen;
		while (v < end && (*v == ' ' || *v == '\t')) v++;
		if (v < end && *v == ':') {
			v++;
			while (v < end && (*v == ' ' || *v == '\t')) v++;
			return v;
		}
		p = q + 1;
	}
	return NULL;
}

static int is_pid(long pid) {
	for (int i = 0; i < npids; i++)
		if (pids[i] == pid) return 1;
	return 0;
}

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: count-events FILE [PID...]\n");
		return 2;
	}
	for (int i = 2; i < argc && npids < MAX_PIDS; i++) pids[npids++] = atol(argv[i]);
	FILE *f = strcmp(argv[1], "-") ? fopen(argv[1], "r") : stdin;
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	unsigned long long bytes = 0, lines = 0, sock = 0, births = 0, pidsock = 0, pidfail = 0, ends = 0,
			   other = 0, pidaccept = 0, pidlines = 0, lost = 0;
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (cap - len < (1 << 16)) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		int eof = n == 0;
		bytes += n;
		len += n;
		char *start = buf, *stop = buf + len;
		for (;;) {
			char *nl = memchr(start, '\n', (size_t)(stop - start));
			if (!nl) {
				if (!eof || start == stop) break;
				nl = stop; // last line without a newline
			}
			if (nl > start) {
				lines++;
				const char *ev = value_of(start, nl, "\"event\"");
				const char *anypid = npids ? value_of(start, nl, "\"pid\"") : NULL;
				int ours = anypid && is_pid(strtol(anypid, NULL, 10));
				pidlines += ours;
				if (ev && nl - ev >= 8 && !memcmp(ev, "\"socket\"", 8)) {
					const char *via = value_of(start, nl, "\"via\"");

					sock++;
					/* a socket open at start (via "snapshot") is no birth */
					births += !(via && nl - via >= 10 && !memcmp(via, "\"snapshot\"", 10));
					const char *pv = value_of(start, nl, "\"pid\"");
					if (pv && is_pid(strtol(pv, NULL, 10))) {
						pidsock++;
						const char *rv = value_of(start, nl, "\"ret\"");
						if (rv && *rv == '-') pidfail++;
					}
				} else if (ev && ((nl - ev >= 12 && !memcmp(ev, "\"socketpair\"", 12)) ||
						  (nl - ev >= 8 && !memcmp(ev, "\"accept\"", 8)))) {
					births++;
					other++;
					if (ours && ev[1] == 'a') pidaccept++;
				} else if (ev && nl - ev >= 5 && !memcmp(ev, "\"end\"", 5)) {
					ends++;
				} else if (ev && nl - ev >= 6 && !memcmp(ev, "\"lost\"", 6)) {
					lost++; // the tracer's own live loss report, not a kernel event
					other++;
				} else {
					other++;
				}
			}
			if (nl == stop) {
				start = stop;
				break;
			}
			start = nl + 1;
		}
		len = (size_t)(stop - start);
		memmove(buf, start, len);
		if (eof) break;
	}
	printf("{\"bytes\":%llu,\"lines\":%llu,\"socket_lines\":%llu,\"birth_lines\":%llu,"
	       "\"pid_socket_lines\":%llu,"
	       "\"pid_socket_failed\":%llu,\"pid_accept_lines\":%llu,\"pid_lines\":%llu,"
	       "\"end_lines\":%llu,\"lost_lines\":%llu,\"other_lines\":%llu}\n",
	       bytes, lines, sock, births, pidsock, pidfail, pidaccept, pidlines, ends, lost, other);
	return 0;
}
