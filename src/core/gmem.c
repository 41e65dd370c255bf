/* SPDX-License-Identifier: MIT */
#include "vireo/core/gmem.h"
#include "vireo/lib/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

void gmem_layout(struct gmem *mem, uint8_t *host, uint64_t ram_size)
{
	uint64_t low = ram_size < GMEM_HOLE_START ? ram_size : GMEM_HOLE_START;

	mem->ram_size = ram_size;
	mem->slot[0] = (struct gmem_slot){.gpa = 0, .size = low, .host = host};
	mem->nr_slots = 1;
	if (ram_size > low) {
		mem->slot[1] = (struct gmem_slot){
		    .gpa = GMEM_HOLE_END, .size = ram_size - low, .host = host + low};
		mem->nr_slots = 2;
	}
}

void *gmem_ptr(const struct gmem *mem, gpa_t g, size_t len)
{
	uint64_t last;

	if (len == 0)
		len = 1;
	if (__builtin_add_overflow(g.v, (uint64_t)len - 1, &last))
		return NULL;
	for (unsigned i = 0; i < mem->nr_slots; i++) {
		const struct gmem_slot *s = &mem->slot[i];

		if (g.v >= s->gpa && last - s->gpa < s->size && g.v - s->gpa < s->size)
			return s->host + (g.v - s->gpa);
	}
	return NULL;
}

bool gmem_read(const struct gmem *mem, gpa_t g, void *dst, size_t len)
{
	const void *p = gmem_ptr(mem, g, len);

	if (!p)
		return false;
	memcpy(dst, p, len);
	return true;
}

bool gmem_write(const struct gmem *mem, gpa_t g, const void *src, size_t len)
{
	void *p = gmem_ptr(mem, g, len);

	if (!p)
		return false;
	memcpy(p, src, len);
	return true;
}

uint64_t gmem_low_end(const struct gmem *mem)
{
	return mem->nr_slots ? mem->slot[0].size : 0;
}

int gmem_alloc(struct gmem *mem, uint64_t ram_size, bool hugepages, bool prefault)
{
	const uint64_t align = MIB(2);
	uint64_t map_size = ram_size + align;
	uint8_t *raw, *base;

	/*
	 * Over-allocate by 2 MiB and trim, so guest physical 2 MiB frames sit
	 * on host 2 MiB boundaries: only then can THP back them with huge
	 * pages and KVM map them with 2 MiB (shadow or EPT/NPT) entries.
	 */
	raw = mmap(NULL, map_size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED) {
		vireo_perror("cannot reserve %llu MiB for guest RAM",
			     (unsigned long long)(ram_size >> 20));
		return -1;
	}
	base = (uint8_t *)ALIGN_UP((uintptr_t)raw, align);
	if (base > raw)
		munmap(raw, (size_t)(base - raw));
	if (base + ram_size < raw + map_size)
		munmap(base + ram_size, (size_t)(raw + map_size - (base + ram_size)));

	if (hugepages && madvise(base, ram_size, MADV_HUGEPAGE) < 0)
		vireo_warn("transparent huge pages unavailable (%s); using 4 KiB pages",
			   strerror(errno));
	if (prefault && madvise(base, ram_size, MADV_POPULATE_WRITE) < 0) {
		/* Older kernels: touch one byte per page ourselves. */
		long page = sysconf(_SC_PAGESIZE);

		for (uint64_t off = 0; off < ram_size; off += (uint64_t)page)
			base[off] = 0;
	}
	mem->base = base;
	mem->map_size = ram_size;
	gmem_layout(mem, base, ram_size);
	return 0;
}

bool gmem_thp_available(void)
{
	char buf[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "re");

	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return strstr(buf, "[always]") || strstr(buf, "[madvise]");
}

void gmem_free(struct gmem *mem)
{
	if (mem->base)
		munmap(mem->base, mem->map_size);
	memset(mem, 0, sizeof(*mem));
}

uint64_t gmem_resident_bytes(const struct gmem *mem)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t pages, chunk = 1u << 20;
	unsigned char *vec;
	uint64_t resident = 0;

	if (!mem->base)
		return 0;
	pages = mem->map_size / (uint64_t)page;
	vec = malloc(chunk);
	if (!vec)
		return 0;
	/* In chunks of a million pages, so a large guest needs no large vector. */
	for (size_t first = 0; first < pages; first += chunk) {
		size_t n = pages - first < chunk ? pages - first : chunk;

		if (mincore(mem->base + first * (size_t)page, n * (size_t)page, vec) < 0)
			break;
		for (size_t i = 0; i < n; i++)
			resident += vec[i] & 1;
	}
	free(vec);
	return resident * (uint64_t)page;
}
