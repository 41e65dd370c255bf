/* SPDX-License-Identifier: MIT */
/*
 * aml.h -- just enough of an ACPI Machine Language encoder for vireo's DSDT
 * (ACPI 6.3 chapter 20): names, devices, scopes, empty methods, integers,
 * EISA IDs, packages, and resource templates (chapter 6.4) in buffers.
 *
 * An object whose size prefixes it (a device, a scope, a package) is built
 * in its own struct aml first and then appended with aml_wrap(). A builder
 * that runs out of room sets `overflow` and stops writing: check it once at
 * the end instead of after every call.
 */
#ifndef VIREO_X86_AML_H
#define VIREO_X86_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct aml {
	uint8_t buf[8192];
	size_t len;
	bool overflow;
};

void aml_init(struct aml *a);
void aml_bytes(struct aml *a, const void *p, size_t n);
void aml_byte(struct aml *a, uint8_t b);

/* PkgLength (20.2.4): 1 to 4 bytes for a length that counts itself too. */
void aml_pkglen(struct aml *a, size_t content_len);

/* A NameString: "_SB_", "PCI0" (one segment, 4 chars) or "\\_SB_LNKA"
 * (root, then 4-char segments). */
void aml_name(struct aml *a, const char *name);

/* Integer constants, in the smallest encoding that holds v. */
void aml_integer(struct aml *a, uint64_t v);
/* A compressed EISA ID ("PNP0A03") as a DWord constant. */
void aml_eisaid(struct aml *a, const char *id);

/* Name(NAME, <the object in obj>) */
void aml_named(struct aml *a, const char *name, const struct aml *obj);
/* Name(NAME, integer) */
void aml_named_int(struct aml *a, const char *name, uint64_t v);
/* Name(NAME, EISAID(id)) */
void aml_named_eisaid(struct aml *a, const char *name, const char *id);

/* Device(NAME) { body }, Scope(NAME) { body } */
void aml_device(struct aml *a, const char *name, const struct aml *body);
void aml_scope(struct aml *a, const char *name, const struct aml *body);
/* Method(NAME, argc, NotSerialized) {} : does nothing, returns nothing. */
void aml_empty_method(struct aml *a, const char *name, unsigned argc);

/* Package() { elements }: `elements` holds `count` encoded objects. */
void aml_package(struct aml *a, unsigned count, const struct aml *elements);
/* Buffer() { resource template }: `res` holds descriptors; the end tag is added. */
void aml_resource_buffer(struct aml *a, const struct aml *res);

/* Resource descriptors (6.4), appended to a resource template. */
void aml_res_io(struct aml *r, uint16_t base, uint8_t len);
void aml_res_irq_noflags(struct aml *r, unsigned irq);		/* edge, active high, ISA */
void aml_res_interrupt_level_high(struct aml *r, uint32_t gsi); /* shared consumer */
void aml_res_word_bus(struct aml *r, uint16_t min, uint16_t max);
void aml_res_word_io(struct aml *r, uint16_t min, uint16_t max);
void aml_res_dword_memory(struct aml *r, uint32_t min, uint32_t max);

#endif
