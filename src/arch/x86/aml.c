/* SPDX-License-Identifier: MIT */
/*
 * aml.c -- the AML encoder of aml.h. Opcodes and encodings from ACPI 6.3:
 * 20.2 (AML grammar) and 6.4 (resource descriptors).
 */
#include "vireo/arch/x86/aml.h"

#include <string.h>

enum {
	ZERO_OP = 0x00,
	ONE_OP = 0x01,
	NAME_OP = 0x08,
	BYTE_PREFIX = 0x0a,
	WORD_PREFIX = 0x0b,
	DWORD_PREFIX = 0x0c,
	QWORD_PREFIX = 0x0e,
	SCOPE_OP = 0x10,
	BUFFER_OP = 0x11,
	PACKAGE_OP = 0x12,
	METHOD_OP = 0x14,
	DUAL_NAME_PREFIX = 0x2e,
	MULTI_NAME_PREFIX = 0x2f,
	EXT_OP_PREFIX = 0x5b,
	DEVICE_OP = 0x82, /* after EXT_OP_PREFIX */
	ROOT_CHAR = '\\',
};

/* Resource descriptor tags. */
enum {
	RES_IRQ_NOFLAGS = 0x22, /* small, IRQ, 2 bytes of mask */
	RES_IO = 0x47,		/* small, I/O port, 7 bytes */
	RES_END_TAG = 0x79,	/* small, end, 1 byte (checksum) */
	RES_DWORD_SPACE = 0x87,
	RES_WORD_SPACE = 0x88,
	RES_EXT_IRQ = 0x89,
};

/* Address space descriptors: resource types and general flags. */
#define SPACE_MEMORY	 0
#define SPACE_IO	 1
#define SPACE_BUS	 2
#define SPACE_FIXED_PROD 0x0c /* min and max fixed, positive decode, producer */
#define IO_ENTIRE_RANGE	 0x03
#define MEM_READ_WRITE	 0x01 /* non-cacheable */

void aml_init(struct aml *a)
{
	a->len = 0;
	a->overflow = false;
}

void aml_bytes(struct aml *a, const void *p, size_t n)
{
	if (a->overflow || n > sizeof(a->buf) - a->len) {
		a->overflow = true;
		return;
	}
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

void aml_byte(struct aml *a, uint8_t b)
{
	aml_bytes(a, &b, 1);
}

static void le(struct aml *a, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		aml_byte(a, (uint8_t)(v >> (8 * i)));
}

void aml_pkglen(struct aml *a, size_t content_len)
{
	size_t total;

	if (content_len + 1 <= 0x3f) {
		aml_byte(a, (uint8_t)(content_len + 1));
		return;
	}
	/* Multi-byte: bits 7-6 of the first byte say how many follow; its
	 * low nibble holds the length's low four bits, the rest follow. */
	for (unsigned follow = 1; follow <= 3; follow++) {
		total = content_len + 1 + follow;
		if (total < (1ull << (4 + 8 * follow))) {
			aml_byte(a, (uint8_t)((follow << 6) | (total & 0xf)));
			le(a, total >> 4, follow);
			return;
		}
	}
	a->overflow = true; /* beyond 256 MiB: not a table vireo builds */
}

static void name_seg(struct aml *a, const char *seg)
{
	aml_bytes(a, seg, 4);
}

void aml_name(struct aml *a, const char *name)
{
	size_t n;

	if (name[0] == ROOT_CHAR) {
		aml_byte(a, ROOT_CHAR);
		name++;
	}
	n = strlen(name);
	if (n == 0 || n % 4) {
		a->overflow = true; /* a caller's bug: names are whole segments */
		return;
	}
	if (n == 8)
		aml_byte(a, DUAL_NAME_PREFIX);
	else if (n > 8) {
		aml_byte(a, MULTI_NAME_PREFIX);
		aml_byte(a, (uint8_t)(n / 4));
	}
	for (size_t i = 0; i < n; i += 4)
		name_seg(a, name + i);
}

void aml_integer(struct aml *a, uint64_t v)
{
	if (v == 0) {
		aml_byte(a, ZERO_OP);
	} else if (v == 1) {
		aml_byte(a, ONE_OP);
	} else if (v <= 0xff) {
		aml_byte(a, BYTE_PREFIX);
		le(a, v, 1);
	} else if (v <= 0xffff) {
		aml_byte(a, WORD_PREFIX);
		le(a, v, 2);
	} else if (v <= 0xffffffff) {
		aml_byte(a, DWORD_PREFIX);
		le(a, v, 4);
	} else {
		aml_byte(a, QWORD_PREFIX);
		le(a, v, 8);
	}
}

static unsigned hex_digit(char c)
{
	return c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
}

void aml_eisaid(struct aml *a, const char *id)
{
	uint32_t v;

	if (strlen(id) != 7) {
		a->overflow = true; /* a caller's bug */
		return;
	}
	/* Three letters of five bits each, then four hex digits, stored big
	 * endian: "PNP0A03" is the dword 0x030ad041. */
	v = (uint32_t)(id[0] - 0x40) << 26 | (uint32_t)(id[1] - 0x40) << 21 |
	    (uint32_t)(id[2] - 0x40) << 16 | hex_digit(id[3]) << 12 | hex_digit(id[4]) << 8 |
	    hex_digit(id[5]) << 4 | hex_digit(id[6]);
	aml_byte(a, DWORD_PREFIX);
	aml_byte(a, (uint8_t)(v >> 24));
	aml_byte(a, (uint8_t)(v >> 16));
	aml_byte(a, (uint8_t)(v >> 8));
	aml_byte(a, (uint8_t)v);
}

static void append(struct aml *a, const struct aml *part)
{
	if (part->overflow)
		a->overflow = true;
	aml_bytes(a, part->buf, part->len);
}

void aml_named(struct aml *a, const char *name, const struct aml *obj)
{
	aml_byte(a, NAME_OP);
	aml_name(a, name);
	append(a, obj);
}

void aml_named_int(struct aml *a, const char *name, uint64_t v)
{
	aml_byte(a, NAME_OP);
	aml_name(a, name);
	aml_integer(a, v);
}

void aml_named_eisaid(struct aml *a, const char *name, const char *id)
{
	aml_byte(a, NAME_OP);
	aml_name(a, name);
	aml_eisaid(a, id);
}

/* OP PkgLength NameString body, where PkgLength covers name and body. */
static void named_block(struct aml *a, const char *name, const struct aml *body)
{
	struct aml head;

	aml_init(&head);
	aml_name(&head, name);
	aml_pkglen(a, head.len + body->len);
	append(a, &head);
	append(a, body);
}

void aml_device(struct aml *a, const char *name, const struct aml *body)
{
	aml_byte(a, EXT_OP_PREFIX);
	aml_byte(a, DEVICE_OP);
	named_block(a, name, body);
}

void aml_scope(struct aml *a, const char *name, const struct aml *body)
{
	aml_byte(a, SCOPE_OP);
	named_block(a, name, body);
}

void aml_empty_method(struct aml *a, const char *name, unsigned argc)
{
	struct aml flags;

	aml_init(&flags);
	aml_byte(&flags, (uint8_t)(argc & 7)); /* NotSerialized, SyncLevel 0 */
	aml_byte(a, METHOD_OP);
	named_block(a, name, &flags);
}

void aml_package(struct aml *a, unsigned count, const struct aml *elements)
{
	aml_byte(a, PACKAGE_OP);
	aml_pkglen(a, 1 + elements->len);
	aml_byte(a, (uint8_t)count);
	append(a, elements);
}

void aml_resource_buffer(struct aml *a, const struct aml *res)
{
	struct aml body;

	aml_init(&body);
	aml_integer(&body, res->len + 2); /* BufferSize: descriptors and end tag */
	append(&body, res);
	aml_byte(&body, RES_END_TAG);
	aml_byte(&body, 0); /* checksum 0: "treat as correct" */
	aml_byte(a, BUFFER_OP);
	aml_pkglen(a, body.len);
	append(a, &body);
}

void aml_res_io(struct aml *r, uint16_t base, uint8_t len)
{
	aml_byte(r, RES_IO);
	aml_byte(r, 1); /* 16-bit decode */
	le(r, base, 2); /* minimum */
	le(r, base, 2); /* maximum */
	aml_byte(r, 1); /* alignment */
	aml_byte(r, len);
}

void aml_res_irq_noflags(struct aml *r, unsigned irq)
{
	aml_byte(r, RES_IRQ_NOFLAGS);
	le(r, 1u << irq, 2);
}

void aml_res_interrupt_level_high(struct aml *r, uint32_t gsi)
{
	aml_byte(r, RES_EXT_IRQ);
	le(r, 6, 2);	   /* length after these three bytes */
	aml_byte(r, 0x09); /* consumer, level, active high, shared */
	aml_byte(r, 1);	   /* one interrupt */
	le(r, gsi, 4);
}

/* Word and DWord address space descriptors (6.4.3.5.2-3). */
static void space_header(struct aml *r, uint8_t tag, uint16_t len, uint8_t type, uint8_t tflags)
{
	aml_byte(r, tag);
	le(r, len, 2);
	aml_byte(r, type);
	aml_byte(r, SPACE_FIXED_PROD);
	aml_byte(r, tflags);
}

static void word_space(struct aml *r, uint8_t type, uint8_t tflags, uint16_t min, uint16_t max)
{
	space_header(r, RES_WORD_SPACE, 13, type, tflags);
	le(r, 0, 2); /* granularity */
	le(r, min, 2);
	le(r, max, 2);
	le(r, 0, 2); /* translation */
	le(r, (uint16_t)(max - min + 1), 2);
}

void aml_res_word_bus(struct aml *r, uint16_t min, uint16_t max)
{
	word_space(r, SPACE_BUS, 0, min, max);
}

void aml_res_word_io(struct aml *r, uint16_t min, uint16_t max)
{
	word_space(r, SPACE_IO, IO_ENTIRE_RANGE, min, max);
}

void aml_res_dword_memory(struct aml *r, uint32_t min, uint32_t max)
{
	space_header(r, RES_DWORD_SPACE, 23, SPACE_MEMORY, MEM_READ_WRITE);
	le(r, 0, 4); /* granularity */
	le(r, min, 4);
	le(r, max, 4);
	le(r, 0, 4); /* translation */
	le(r, max - min + 1, 4);
}
