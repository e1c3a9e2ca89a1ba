// Host-side libbpf helpers: see include/socktrace_probes.h.
#include "socktrace_probes.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/bpf.h>
#include <linux/btf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

/*
 * vmlinux BTF is read, not parsed: libbpf parses all of it again (for CO-RE)
 * when it loads the object, and btf__parse builds indexes of every type
 * (milliseconds and megabytes). The probes need a handful of FUNC ids: one
 * walk over the raw type section finds them all.
 */
#define ST_VMLINUX_BTF "/sys/kernel/btf/vmlinux"

/*
 * The raw vmlinux BTF: mapped where the kernel allows it (6.16+), else read
 * (sysfs hands out 4 KiB per read: some 1300 reads). *mapped says which.
 */
static int read_vmlinux_btf(unsigned char **data, size_t *size, int *mapped)
{
	size_t cap = 8 << 20, len = 0;
	unsigned char *buf;
	struct stat st;
	int fd = open(ST_VMLINUX_BTF, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) == 0 && st.st_size >= (off_t)sizeof(struct btf_header)) {
		void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);

		if (map != MAP_FAILED) {
			close(fd);
			if (((struct btf_header *)map)->magic != BTF_MAGIC) {
				munmap(map, (size_t)st.st_size);
				return -EINVAL;
			}
			*data = map;
			*size = (size_t)st.st_size;
			*mapped = 1;
			return 0;
		}
	}
	*mapped = 0;
	buf = malloc(cap);
	while (buf) {
		ssize_t n;

		if (len == cap) {
			unsigned char *bigger = realloc(buf, cap *= 2);

			if (!bigger)
				free(buf);
			buf = bigger;
			if (!buf)
				break;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (!buf)
		return -ENOMEM;
	if (len < sizeof(struct btf_header) || ((struct btf_header *)buf)->magic != BTF_MAGIC) {
		free(buf);
		return -EINVAL;
	}
	*data = buf;
	*size = len;
	return 0;
}

static void free_vmlinux_btf(unsigned char *data, size_t size, int mapped)
{
	if (mapped)
		munmap(data, size);
	else
		free(data);
}

int st_vmlinux_btf_available(void)
{
	struct btf_header header;
	int fd = open(ST_VMLINUX_BTF, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, &header, sizeof(header));
	close(fd);
	return n == sizeof(header) && header.magic == BTF_MAGIC ? 0 : -EINVAL;
}

/* Bytes that follow a struct btf_type of this kind (uapi linux/btf.h). */
static long btf_type_extra(unsigned int kind, unsigned int vlen)
{
	switch (kind) {
	case 1: /* INT */
	case 14: /* VAR */
	case 17: /* DECL_TAG */
		return 4;
	case 3: /* ARRAY */
		return 12;
	case 4: /* STRUCT */
	case 5: /* UNION */
	case 15: /* DATASEC */
	case 19: /* ENUM64 */
		return 12L * vlen;
	case 6: /* ENUM */
	case 13: /* FUNC_PROTO */
		return 8L * vlen;
	case 2: case 7: case 8: case 9: case 10: case 11: case 12: case 16: case 18:
		return 0; /* PTR FWD TYPEDEF VOLATILE CONST RESTRICT FUNC FLOAT TYPE_TAG */
	default:
		return -1;
	}
}

int st_btf_find_functions(const char *const *names, int count, int *ids)
{
	unsigned char *data;
	size_t size;
	int mapped, found = 0, err = read_vmlinux_btf(&data, &size, &mapped);

	if (err)
		return err;
	const struct btf_header *h = (const struct btf_header *)data;
	const unsigned char *types = data + h->hdr_len + h->type_off;
	const char *strings = (const char *)data + h->hdr_len + h->str_off;
	size_t off = 0;

	for (int i = 0; i < count; i++)
		ids[i] = 0;
	if ((size_t)h->hdr_len + h->str_off + h->str_len > size ||
	    (size_t)h->hdr_len + h->type_off + h->type_len > size) {
		free_vmlinux_btf(data, size, mapped);
		return -EINVAL;
	}
	for (int id = 1; off + sizeof(struct btf_type) <= h->type_len && found < count; id++) {
		const struct btf_type *t = (const struct btf_type *)(types + off);
		unsigned int kind = (t->info >> 24) & 0x1f, vlen = t->info & 0xffff;
		long extra = btf_type_extra(kind, vlen);

		if (extra < 0) {
			err = -EINVAL;
			break;
		}
		if (kind == 12 /* FUNC */ && t->name_off < h->str_len) {
			for (int i = 0; i < count; i++) {
				if (!ids[i] && strcmp(strings + t->name_off, names[i]) == 0) {
					ids[i] = id;
					found++;
				}
			}
		}
		off += sizeof(struct btf_type) + (size_t)extra;
	}
	free_vmlinux_btf(data, size, mapped);
	return err;
}

/* A type's btf_type, by id, from the offsets of one walk (see st_btf_other_paths). */
static const struct btf_type *btf_type_at(const unsigned char *types, const unsigned int *offsets,
					  unsigned int count, unsigned int id)
{
	return id > 0 && id < count ? (const struct btf_type *)(types + offsets[id]) : NULL;
}

/* A type id past typedefs and modifiers (TYPEDEF VOLATILE CONST RESTRICT TYPE_TAG). */
static const struct btf_type *btf_resolved(const unsigned char *types, const unsigned int *offsets,
					   unsigned int count, unsigned int id)
{
	const struct btf_type *t = btf_type_at(types, offsets, count, id);

	for (int depth = 0; t && depth < 16; depth++) {
		unsigned int kind = (t->info >> 24) & 0x1f;

		if (kind != 8 && kind != 9 && kind != 10 && kind != 11 && kind != 18)
			break;
		t = btf_type_at(types, offsets, count, t->type);
	}
	return t;
}

int st_btf_other_paths(struct st_tracepoint_params *complete, struct st_tracepoint_params *submit_req,
		       struct st_tracepoint_params *submit_sqe, int *io_uring_socket_op, int *ia32)
{
	static const char *const names[3] = {"btf_trace_io_uring_complete", "btf_trace_io_uring_submit_req",
					     "btf_trace_io_uring_submit_sqe"};
	struct st_tracepoint_params *out[3] = {complete, submit_req, submit_sqe};
	unsigned int typedefs[3] = {0, 0, 0}, count = 1, cap = 1 << 17, *offsets;
	unsigned char *data;
	size_t size, off = 0;
	int mapped = 0, err = read_vmlinux_btf(&data, &size, &mapped);

	for (int i = 0; i < 3; i++)
		out[i]->count = -1;
	*io_uring_socket_op = 0;
	*ia32 = 0;
	if (err)
		return err;
	const struct btf_header *h = (const struct btf_header *)data;
	const unsigned char *types = data + h->hdr_len + h->type_off;
	const char *strings = (const char *)data + h->hdr_len + h->str_off;

	if ((size_t)h->hdr_len + h->str_off + h->str_len > size ||
	    (size_t)h->hdr_len + h->type_off + h->type_len > size) {
		free_vmlinux_btf(data, size, mapped);
		return -EINVAL;
	}
	offsets = malloc(cap * sizeof(*offsets));
	/* One walk: every type's offset, the three typedefs, enum io_uring_op, the ia32 entry. */
	while (offsets && off + sizeof(struct btf_type) <= h->type_len) {
		const struct btf_type *t = (const struct btf_type *)(types + off);
		unsigned int kind = (t->info >> 24) & 0x1f, vlen = t->info & 0xffff;
		long extra = btf_type_extra(kind, vlen);
		const char *name = t->name_off < h->str_len ? strings + t->name_off : "";

		if (extra < 0) {
			err = -EINVAL;
			break;
		}
		if (count == cap) {
			unsigned int *bigger = realloc(offsets, (cap *= 2) * sizeof(*offsets));

			if (!bigger)
				free(offsets);
			offsets = bigger;
			if (!offsets)
				break;
		}
		offsets[count] = (unsigned int)off;
		if (kind == 8 /* TYPEDEF */)
			for (int i = 0; i < 3; i++)
				if (!typedefs[i] && strcmp(name, names[i]) == 0)
					typedefs[i] = count;
		if (kind == 12 /* FUNC */ && strcmp(name, "__ia32_sys_socketcall") == 0)
			*ia32 = 1;
		if (kind == 6 /* ENUM */ && strcmp(name, "io_uring_op") == 0) {
			const struct btf_enum *values = (const struct btf_enum *)(t + 1);

			for (unsigned int v = 0; v < vlen; v++)
				if (values[v].name_off < h->str_len &&
				    strcmp(strings + values[v].name_off, "IORING_OP_SOCKET") == 0)
					*io_uring_socket_op = 1;
		}
		count++;
		off += sizeof(struct btf_type) + (size_t)extra;
	}
	if (!offsets)
		err = -ENOMEM;
	/* typedef -> PTR -> FUNC_PROTO: the parameters, less the leading void *__data. */
	for (int i = 0; !err && i < 3; i++) {
		const struct btf_type *t = btf_type_at(types, offsets, count, typedefs[i]);
		const struct btf_param *params;
		unsigned int n;

		t = t ? btf_type_at(types, offsets, count, t->type) : NULL;
		if (t && ((t->info >> 24) & 0x1f) == 2 /* PTR */)
			t = btf_type_at(types, offsets, count, t->type);
		if (!t || ((t->info >> 24) & 0x1f) != 13 /* FUNC_PROTO */)
			continue;
		n = t->info & 0xffff;
		params = (const struct btf_param *)(t + 1);
		out[i]->count = 0;
		for (unsigned int p = 1; p < n && out[i]->count < 16; p++) {
			const struct btf_type *pt = btf_resolved(types, offsets, count, params[p].type);

			out[i]->kinds[out[i]->count++] = pt && ((pt->info >> 24) & 0x1f) == 2 ? 1 : 2;
		}
	}
	free(offsets);
	free_vmlinux_btf(data, size, mapped);
	return err;
}

int st_fentry_can_attach(int btf_id)
{
	/* r0 = 0; exit */
	struct bpf_insn insns[] = {
		{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0},
		{.code = BPF_JMP | BPF_EXIT},
	};
	int err, prog_fd, link_fd;

	if (btf_id <= 0)
		return -ENOENT;
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_FENTRY,
		    .attach_btf_id = btf_id);
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

int st_is_tracefs(const char *path)
{
	struct statfs info;

	return statfs(path, &info) == 0 && info.f_type == 0x74726163; /* TRACEFS_MAGIC */
}

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434 /* the same number on every architecture */
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

int st_copy_fd(int pid, int fd)
{
	int pidfd = syscall(SYS_pidfd_open, pid, 0), copy;

	if (pidfd < 0)
		return -errno;
	copy = syscall(SYS_pidfd_getfd, pidfd, fd, 0); /* the copy is O_CLOEXEC */
	if (copy < 0)
		copy = -errno;
	close(pidfd);
	return copy;
}

int st_bpf_loop_available(void)
{
	return libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_loop, NULL) == 1;
}
