// bpf-prog-stats: every loaded BPF program's name, runs and run time, one line
// each, read with bpf(2) alone (BPF_PROG_GET_NEXT_ID, BPF_PROG_GET_FD_BY_ID,
// BPF_OBJ_GET_INFO_BY_FD): a bpftool-less reading of bpf_stats for the
// icount VM (Benchmarks/icount-init.sh), whose busybox has no bpftool.
// run_cnt and run_time_ns count only while kernel.bpf_stats_enabled=1.
//
//   gcc -O2 -static -o bpf-prog-stats bpf-prog-stats.c
//   output: name=NAME id=ID type=TYPE run_cnt=N run_time_ns=N
#define _GNU_SOURCE
#include <linux/bpf.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static long sys_bpf(int cmd, union bpf_attr *attr) {
	return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

int main(void) {
	__u32 id = 0;
	for (;;) {
		union bpf_attr attr;
		memset(&attr, 0, sizeof(attr));
		attr.start_id = id;
		if (sys_bpf(BPF_PROG_GET_NEXT_ID, &attr) != 0) break;
		id = attr.next_id;
		memset(&attr, 0, sizeof(attr));
		attr.prog_id = id;
		int fd = (int)sys_bpf(BPF_PROG_GET_FD_BY_ID, &attr);
		if (fd < 0) continue;
		struct bpf_prog_info info;
		memset(&info, 0, sizeof(info));
		memset(&attr, 0, sizeof(attr));
		attr.info.bpf_fd = fd;
		attr.info.info_len = sizeof(info);
		attr.info.info = (__u64)(unsigned long)&info;
		if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &attr) == 0)
			printf("name=%s id=%u type=%u run_cnt=%llu run_time_ns=%llu\n", info.name, id, info.type,
			       (unsigned long long)info.run_cnt, (unsigned long long)info.run_time_ns);
		close(fd);
	}
	return 0;
}
