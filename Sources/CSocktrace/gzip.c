/* gzip.c - see socktrace_gzip.h. */
#include <errno.h>
#include <unistd.h>
#include <zlib.h>

#include "socktrace_gzip.h"

int st_gzip_fd(int input, int output)
{
	char buffer[64 << 10];
	gzFile gz = gzdopen(output, "wb1");
	int status = 0;

	if (!gz) {
		close(output);
		return ENOMEM;
	}
	for (;;) {
		ssize_t got = read(input, buffer, sizeof(buffer));

		if (got < 0) {
			if (errno == EINTR)
				continue;
			status = errno;
			break;
		}
		if (got == 0)
			break;
		if (gzwrite(gz, buffer, (unsigned)got) != got) {
			status = EIO;
			break;
		}
	}
	if (gzclose(gz) != Z_OK && status == 0)
		status = EIO;
	return status;
}
