/* extract-vmlinux: pull the uncompressed, PVH-bootable vmlinux out of a bzImage.
 *
 *   extract-vmlinux BZIMAGE OUT
 *
 * Reads the x86 setup header (boot protocol >= 2.08 for payload_offset and
 * payload_length), finds the compressed payload, recognises its compression by
 * magic (LZ4 legacy, as Debian uses, or gzip), decompresses it, checks that the
 * result is an x86-64 ELF with a XEN_ELFNOTE_PHYS32_ENTRY (PVH) note, and
 * writes it to OUT (through a temporary file and rename, so OUT is either
 * complete or absent). Every bad input ends with one line on stderr and exit 1.
 */
#define _POSIX_C_SOURCE 200809L

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lz4.h>
#include <zlib.h>

/* Offsets in the bzImage (Documentation/arch/x86/boot.rst). */
#define SETUP_SECTS_OFF	   0x1f1
#define SYSSIZE_OFF	   0x1f4
#define BOOT_FLAG_OFF	   0x1fe
#define HEADER_OFF	   0x202
#define VERSION_OFF	   0x206
#define PAYLOAD_OFFSET_OFF 0x248
#define PAYLOAD_LENGTH_OFF 0x24c
#define SETUP_HEADER_END   0x250
#define BOOT_FLAG	   0xaa55
#define HEADER_MAGIC	   0x53726448u /* "HdrS" */
#define MIN_VERSION	   0x0208      /* first with payload_offset/payload_length */

#define LZ4_LEGACY_MAGIC     0x184c2102u
#define LZ4_LEGACY_BLOCK_MAX (8u << 20)

#define XEN_ELFNOTE_PHYS32_ENTRY 18

/* Refuse to produce more than this; a vmlinux is tens of MiB. */
#define MAX_OUTPUT ((size_t)1 << 30)

static const char *prog = "extract-vmlinux";

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

struct buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

/* Make room for at least `more` bytes past b->len, or die. */
static void buf_reserve(struct buf *b, size_t more, const char *what)
{
	size_t need;

	if (__builtin_add_overflow(b->len, more, &need) || need > MAX_OUTPUT)
		die("%s: decompressed kernel larger than %zu MiB", what, MAX_OUTPUT >> 20);
	if (need <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : (16u << 20);
	while (cap < need)
		cap *= 2;
	if (cap > MAX_OUTPUT)
		cap = MAX_OUTPUT;
	uint8_t *p = realloc(b->data, cap);
	if (!p)
		die("%s: out of memory (%zu bytes)", what, cap);
	b->data = p;
	b->cap = cap;
}

static struct buf read_file(const char *path)
{
	struct buf b = {0};
	struct stat st;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		die("%s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
		die("%s: cannot stat: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		die("%s: not a regular file", path);
	if ((uint64_t)st.st_size > MAX_OUTPUT)
		die("%s: too large for a bzImage (%jd bytes)", path, (intmax_t)st.st_size);
	b.len = (size_t)st.st_size;
	b.cap = b.len ? b.len : 1;
	b.data = malloc(b.cap);
	if (!b.data)
		die("%s: out of memory", path);
	for (size_t got = 0; got < b.len;) {
		ssize_t n = read(fd, b.data + got, b.len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("%s: read error: %s", path, strerror(errno));
		if (n == 0)
			die("%s: file shrank while reading", path);
		got += (size_t)n;
	}
	close(fd);
	return b;
}

/* Validate the setup header; return the compressed payload's bounds. */
static void find_payload(const char *path, const struct buf *img, const uint8_t **payload,
			 size_t *payload_len)
{
	const uint8_t *d = img->data;

	if (img->len < SETUP_HEADER_END)
		die("%s: not a bzImage (only %zu bytes, truncated or not a kernel)", path,
		    img->len);
	if (le16(d + BOOT_FLAG_OFF) != BOOT_FLAG)
		die("%s: not a bzImage (no 0xAA55 boot flag at 0x1fe)", path);
	if (le32(d + HEADER_OFF) != HEADER_MAGIC)
		die("%s: not a bzImage (no \"HdrS\" setup header at 0x202)", path);

	uint16_t version = le16(d + VERSION_OFF);
	if (version < MIN_VERSION)
		die("%s: boot protocol %u.%02u is too old (need 2.08 for payload_offset)", path,
		    version >> 8, version & 0xff);

	unsigned setup_sects = d[SETUP_SECTS_OFF] ? d[SETUP_SECTS_OFF] : 4;
	uint64_t pm_start = (uint64_t)(setup_sects + 1) * 512;
	uint64_t off = pm_start + le32(d + PAYLOAD_OFFSET_OFF);
	uint64_t len = le32(d + PAYLOAD_LENGTH_OFF);

	uint64_t image_end = pm_start + (uint64_t)le32(d + SYSSIZE_OFF) * 16;

	if (image_end > img->len)
		die("%s: truncated: setup header says %" PRIu64 " bytes, file has %zu", path,
		    image_end, img->len);
	if (len == 0)
		die("%s: setup header says payload_length is 0", path);
	if (off > img->len || len > img->len - off)
		die("%s: truncated: payload [0x%" PRIx64 ", 0x%" PRIx64 ") ends past the file "
		    "(%zu bytes)",
		    path, off, off + len, img->len);
	*payload = d + off;
	*payload_len = (size_t)len;
}

/* LZ4 legacy frame, as written by `lz4 -l` and by Linux's Makefile.lib:
 *   magic (4) { block_size (4, LE) block }* [uncompressed size (4, LE)]
 * Each block decompresses to at most 8 MiB. A block size field equal to the
 * magic starts a concatenated stream. The stream ends at EOF, or where a size
 * field exceeds the data left after it: Linux appends the total uncompressed
 * size as the last 4 bytes of the payload, and that is the only trailer we
 * accept (it must then match what we decompressed). */
static void unlz4_legacy(const char *path, const uint8_t *in, size_t len, struct buf *out)
{
	size_t pos = 4; /* the caller matched the magic */
	unsigned blocks = 0;

	while (len - pos >= 4) {
		uint32_t csize = le32(in + pos);
		size_t left = len - pos - 4;

		if (csize == LZ4_LEGACY_MAGIC) {
			pos += 4;
			continue;
		}
		if (csize > left) {
			if (left != 0)
				die("%s: LZ4 payload truncated or corrupt: block %u at offset %zu "
				    "claims %" PRIu32 " bytes, %zu left",
				    path, blocks, pos, csize, left);
			/* Exactly 4 bytes left: Linux's appended uncompressed size. */
			if (csize != (uint32_t)out->len)
				die("%s: LZ4 payload corrupt: trailer says %" PRIu32
				    " bytes uncompressed, got %zu",
				    path, csize, out->len);
			pos += 4;
			break;
		}
		if (csize == 0 || csize > (uint32_t)LZ4_compressBound(LZ4_LEGACY_BLOCK_MAX))
			die("%s: LZ4 payload corrupt: block %u at offset %zu has bad size %" PRIu32,
			    path, blocks, pos, csize);

		buf_reserve(out, LZ4_LEGACY_BLOCK_MAX, path);
		int n =
		    LZ4_decompress_safe((const char *)in + pos + 4, (char *)out->data + out->len,
					(int)csize, (int)LZ4_LEGACY_BLOCK_MAX);
		if (n < 0)
			die("%s: LZ4 decompression failed in block %u at payload offset %zu", path,
			    blocks, pos);
		out->len += (size_t)n;
		pos += 4 + csize;
		blocks++;
	}
	if (pos != len)
		die("%s: LZ4 payload truncated: %zu stray bytes at its end", path, len - pos);
	if (blocks == 0)
		die("%s: LZ4 payload holds no data", path);
}

static void gunzip(const char *path, const uint8_t *in, size_t len, struct buf *out)
{
	z_stream zs = {0};
	int rc;

	if (len > UINT32_MAX)
		die("%s: gzip payload too large", path);
	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
		die("%s: zlib initialisation failed", path);
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	do {
		buf_reserve(out, 8u << 20, path);
		zs.next_out = out->data + out->len;
		zs.avail_out = (uInt)(out->cap - out->len);
		rc = inflate(&zs, Z_NO_FLUSH);
		out->len = out->cap - zs.avail_out;
		if (rc == Z_BUF_ERROR && zs.avail_in == 0)
			die("%s: gzip payload truncated", path);
		if (rc != Z_OK && rc != Z_STREAM_END)
			die("%s: gzip decompression failed: %s", path, zs.msg ? zs.msg : "error");
	} while (rc != Z_STREAM_END);
	inflateEnd(&zs);
}

struct format {
	const char *name;
	const uint8_t magic[6];
	size_t magic_len;
};

/* The compressions Linux offers for its payload (scripts/extract-vmlinux). */
static const struct format formats[] = {
    {"lz4", {0x02, 0x21, 0x4c, 0x18}, 4},
    {"gzip", {0x1f, 0x8b, 0x08}, 3},
    {"xz", {0xfd, '7', 'z', 'X', 'Z', 0x00}, 6},
    {"zstd", {0x28, 0xb5, 0x2f, 0xfd}, 4},
    {"bzip2", {'B', 'Z', 'h'}, 3},
    {"lzma", {0x5d, 0x00, 0x00}, 3},
    {"lzo", {0x89, 'L', 'Z', 'O'}, 4},
};

static const char *detect(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (len >= formats[i].magic_len &&
		    memcmp(p, formats[i].magic, formats[i].magic_len) == 0)
			return formats[i].name;
	return NULL;
}

/* Find XEN_ELFNOTE_PHYS32_ENTRY in the PT_NOTE segments; return its address. */
static bool find_pvh_entry(const uint8_t *n, size_t len, uint64_t *entry)
{
	size_t pos = 0;

	while (len - pos >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr nh;
		memcpy(&nh, n + pos, sizeof(nh));
		size_t name_off = pos + sizeof(nh);
		uint64_t desc_off = name_off + (((uint64_t)nh.n_namesz + 3) & ~3ull);
		uint64_t next = desc_off + (((uint64_t)nh.n_descsz + 3) & ~3ull);
		if (desc_off > len || nh.n_descsz > len - desc_off)
			return false;
		if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4 &&
		    memcmp(n + name_off, "Xen", 4) == 0 && nh.n_descsz >= 4) {
			*entry = nh.n_descsz >= 8
				     ? le32(n + desc_off) | (uint64_t)le32(n + desc_off + 4) << 32
				     : le32(n + desc_off);
			return true;
		}
		if (next > len)
			return false;
		pos = (size_t)next;
	}
	return false;
}

static uint64_t check_elf(const char *path, const struct buf *b)
{
	Elf64_Ehdr eh;

	if (b->len < sizeof(eh) || memcmp(b->data, ELFMAG, SELFMAG) != 0)
		die("%s: decompressed payload is not an ELF file", path);
	memcpy(&eh, b->data, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_machine != EM_X86_64)
		die("%s: decompressed payload is not a little-endian x86-64 ELF64", path);
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phoff > b->len ||
	    (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > b->len - eh.e_phoff)
		die("%s: decompressed ELF has a bad program header table", path);

	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		uint64_t entry;
		memcpy(&ph, b->data + eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_NOTE)
			continue;
		if (ph.p_offset > b->len || ph.p_filesz > b->len - ph.p_offset)
			die("%s: decompressed ELF has a PT_NOTE past its end", path);
		if (find_pvh_entry(b->data + ph.p_offset, (size_t)ph.p_filesz, &entry))
			return entry;
	}
	die("%s: decompressed ELF has no PVH entry note (Xen, type 18): kernel built without "
	    "CONFIG_PVH?",
	    path);
}

static void write_file(const char *path, const struct buf *b)
{
	size_t plen = strlen(path);
	char *tmp = malloc(plen + sizeof(".XXXXXX"));

	if (!tmp)
		die("%s: out of memory", path);
	memcpy(tmp, path, plen);
	memcpy(tmp + plen, ".XXXXXX", sizeof(".XXXXXX"));
	int fd = mkstemp(tmp);
	if (fd < 0)
		die("%s: cannot create: %s", path, strerror(errno));
	for (size_t done = 0; done < b->len;) {
		ssize_t n = write(fd, b->data + done, b->len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;
			unlink(tmp);
			die("%s: write error: %s", path, strerror(err));
		}
		done += (size_t)n;
	}
	if (fchmod(fd, 0644) < 0 || close(fd) < 0 || rename(tmp, path) < 0) {
		int err = errno;
		unlink(tmp);
		die("%s: cannot write: %s", path, strerror(err));
	}
	free(tmp);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s BZIMAGE OUT\n", prog);
		return 2;
	}
	const char *in_path = argv[1], *out_path = argv[2];
	struct buf img = read_file(in_path);
	const uint8_t *payload;
	size_t payload_len;

	find_payload(in_path, &img, &payload, &payload_len);

	struct buf out = {0};
	const char *fmt = detect(payload, payload_len);
	if (!fmt)
		die("%s: unknown compression (payload starts %02x %02x %02x %02x)", in_path,
		    payload[0], payload_len > 1 ? payload[1] : 0, payload_len > 2 ? payload[2] : 0,
		    payload_len > 3 ? payload[3] : 0);
	if (strcmp(fmt, "lz4") == 0)
		unlz4_legacy(in_path, payload, payload_len, &out);
	else if (strcmp(fmt, "gzip") == 0)
		gunzip(in_path, payload, payload_len, &out);
	else
		die("%s: unsupported compression: %s (only lz4 and gzip are supported)", in_path,
		    fmt);

	uint64_t entry = check_elf(in_path, &out);
	write_file(out_path, &out);
	printf("%s: wrote %s (%zu bytes, from %s, PVH entry 0x%" PRIx64 ")\n", prog, out_path,
	       out.len, fmt, entry);
	free(out.data);
	free(img.data);
	return 0;
}
