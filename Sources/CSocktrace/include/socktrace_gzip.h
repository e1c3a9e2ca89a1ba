/*
 * socktrace_gzip.h - gzip a rotated output file (zlib), so Swift never
 * imports zlib.h: its system headers, pulled into a Swift-visible module,
 * would hide Glibc's own declarations from other files.
 */
#ifndef SOCKTRACE_GZIP_H
#define SOCKTRACE_GZIP_H

/*
 * Compresses everything readable from `input` into `output` as one gzip
 * member (level 1: fast). Takes `output` (closed on return); `input` stays
 * open. Returns 0, or an errno.
 */
int st_gzip_fd(int input, int output);

#endif /* SOCKTRACE_GZIP_H */
