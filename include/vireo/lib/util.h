/* SPDX-License-Identifier: MIT */
/* util.h -- small helpers shared by every module: errors, sizes, arrays. */
#ifndef VIREO_UTIL_H
#define VIREO_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* The struct of type `type` whose member `member` is at ptr. */
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define KIB(x)				((uint64_t)(x) << 10)
#define MIB(x)				((uint64_t)(x) << 20)
#define GIB(x)				((uint64_t)(x) << 30)

#define ALIGN_UP(x, a)	 (((x) + ((a)-1)) & ~((uint64_t)(a)-1))
#define ALIGN_DOWN(x, a) ((x) & ~((uint64_t)(a)-1))

/*
 * One line on stderr, prefixed "vireo: ". Setup errors use it and then
 * return -1 up to main, which exits non-zero; nothing below main exits.
 */
void vireo_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Same, with ": strerror(errno)" appended. */
void vireo_perror(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vireo_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * For pure functions that report why they failed without printing: format
 * the reason into err[errlen] and return -1, so `return errf(...)` reads as
 * "fail with this reason".
 */
int errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Parse a size like "256M", "4G" or "512" (a bare number is MiB, as QEMU's
 * -m). Suffixes K, M, G, T, optionally followed by "iB" or "B". Returns false
 * on garbage or overflow.
 */
bool parse_size(const char *s, uint64_t *out);

/* Parse an unsigned decimal integer in [min, max]; false otherwise. */
bool parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Monotonic clock in nanoseconds. */
uint64_t now_ns(void);

/* The byte that makes p[0..len) sum to zero (MP and ACPI table checksums). */
uint8_t sum_to_zero(const void *p, size_t len);

/* Read a whole file into a malloc'd buffer; NULL (errno set) on failure. */
void *read_file(const char *path, size_t *len);

/*
 * Copy up to len bytes from iov[0..n), starting `off` bytes into them, to
 * dst; stops at the end of either. Returns the bytes copied.
 */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *dst, size_t len);

/* Copy up to len bytes of src into iov[0..n) from `off` bytes in; returns the bytes copied. */
size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *src, size_t len);

#endif
