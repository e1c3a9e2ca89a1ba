// st-lsm: loads and attaches deny.bpf.o (a BPF LSM program), prints
// "st-lsm: attached", then holds the link until killed. Static, for the VM
// suite's initramfs (guest-init.sh starts it where the kernel runs the BPF LSM).
#include <stdio.h>
#include <unistd.h>
#include <bpf/libbpf.h>

int main(int argc, char **argv) {
	struct bpf_object *object;
	struct bpf_program *program;
	struct bpf_link *link;
	if (argc != 2) {
		fprintf(stderr, "usage: st-lsm OBJECT\n");
		return 2;
	}
	object = bpf_object__open_file(argv[1], NULL);
	if (!object || libbpf_get_error(object) || bpf_object__load(object)) {
		fprintf(stderr, "st-lsm: cannot load %s\n", argv[1]);
		return 1;
	}
	program = bpf_object__find_program_by_name(object, "st_deny_socket");
	link = program ? bpf_program__attach(program) : NULL;
	if (!link || libbpf_get_error(link)) {
		fprintf(stderr, "st-lsm: cannot attach\n");
		return 1;
	}
	printf("st-lsm: attached\n");
	fflush(stdout);
	for (;;) pause();
}
