// Host-side libbpf helpers: see include/socktrace_probes.h.
#include "socktrace_probes.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

static struct btf *vmlinux_btf(int *err)
{
	static struct btf *btf;
	static int load_err;

	if (!btf && !load_err) {
		btf = btf__load_vmlinux_btf();
		if (!btf)
			load_err = -errno;
	}
	*err = load_err;
	return btf;
}

int st_vmlinux_btf_available(void)
{
	int err;

	return vmlinux_btf(&err) ? 0 : err;
}

int st_btf_has_function(const char *name)
{
	int err;
	struct btf *btf = vmlinux_btf(&err);

	if (!btf)
		return err;
	return btf__find_by_name_kind(btf, name, BTF_KIND_FUNC) > 0;
}

int st_fentry_can_attach(const char *name)
{
	/* r0 = 0; exit */
	struct bpf_insn insns[] = {
		{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0},
		{.code = BPF_JMP | BPF_EXIT},
	};
	int err, id, prog_fd, link_fd;
	struct btf *btf = vmlinux_btf(&err);

	if (!btf)
		return err;
	id = btf__find_by_name_kind(btf, name, BTF_KIND_FUNC);
	if (id <= 0)
		return -ENOENT;

	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_FENTRY,
		    .attach_btf_id = id);
	prog_fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, "st_probe", "GPL", insns,
				sizeof(insns) / sizeof(insns[0]), &opts);
	if (prog_fd < 0)
		return -errno;
	link_fd = bpf_raw_tracepoint_open(NULL, prog_fd);
	err = link_fd < 0 ? -errno : 0;
	if (link_fd >= 0)
		close(link_fd);
	close(prog_fd);
	return err;
}

static int verbose_log;
static char last_warning[512];

static int print_libbpf(enum libbpf_print_level level, const char *format, va_list args)
{
	if (verbose_log)
		return vfprintf(stderr, format, args);
	if (level == LIBBPF_WARN) {
		vsnprintf(last_warning, sizeof(last_warning), format, args);
		last_warning[strcspn(last_warning, "\n")] = '\0';
	}
	return 0;
}

void st_libbpf_set_logging(int verbose)
{
	verbose_log = verbose;
	libbpf_set_print(print_libbpf);
}

const char *st_libbpf_last_warning(void)
{
	return last_warning;
}

int st_kallsyms_lookup(const char *const *names, int count, unsigned char *found)
{
	char line[512];
	int hits = 0;
	FILE *file = fopen("/proc/kallsyms", "re");

	if (!file)
		return -errno;
	/* "ffffffff81234560 T __sys_socket\t[module]\n": the name is field three. */
	while (hits < count && fgets(line, sizeof(line), file)) {
		char *name = strchr(line, ' ');

		if (!name || !(name = strchr(name + 1, ' ')))
			continue;
		name++;
		name[strcspn(name, " \t\n")] = '\0';
		for (int i = 0; i < count; i++) {
			if (!found[i] && strcmp(name, names[i]) == 0) {
				found[i] = 1;
				hits++;
			}
		}
	}
	fclose(file);
	return hits;
}

struct destroy_job {
	struct bpf_link *link;
	pthread_t thread;
	int started;
};

static void *destroy_one(void *arg)
{
	bpf_link__destroy(((struct destroy_job *)arg)->link);
	return NULL;
}

void st_destroy_links(struct bpf_link **links, int count)
{
	struct destroy_job jobs[64];
	int i;

	/* Each detach waits for an RCU grace period (60-90 ms here): wait for
	 * them together rather than one after another. */
	for (i = 0; i < count && i < 64; i++) {
		jobs[i].link = links[i];
		jobs[i].started = pthread_create(&jobs[i].thread, NULL, destroy_one, &jobs[i]) == 0;
		if (!jobs[i].started)
			bpf_link__destroy(links[i]);
	}
	for (i = 0; i < count && i < 64; i++)
		if (jobs[i].started)
			pthread_join(jobs[i].thread, NULL);
	for (; i < count; i++)
		bpf_link__destroy(links[i]);
}
