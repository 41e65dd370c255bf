/* SPDX-License-Identifier: MIT */
/*
 * test_virtqueue.c -- the split-virtqueue walker (src/virtio/queue.c) and the
 * generic device loop (src/virtio/device.c) over fake guest memory.
 *
 * A fake driver lays the three rings out in fake guest RAM and adds chains
 * the way a guest does: descriptors first, then the avail ring entry, then
 * avail->idx. Every malformed case checks q->error, so a test fails if the
 * walker rejects the chain for another reason than the one under test.
 */
#include "unit.h"

#include "vireo/virtio/queue.h"
#include "vireo/virtio/virtio.h"

#define RAM	   MIB(1)
#define DESC_GPA   0x10000ull
#define AVAIL_GPA  0x20000ull
#define USED_GPA   0x30000ull
#define TABLE_GPA  0x60000ull /* indirect tables */
#define DATA_GPA   0x80000ull
#define MAX_T_SIZE 4096u /* largest queue the fixed layout holds (desc: 64 KiB) */

struct fake_vq {
	struct fake_mem f;
	struct virtq q;
	struct virtq_chain c;
	uint16_t size;
	uint16_t avail_idx; /* the driver's avail->idx */
	uint16_t next_desc; /* next free descriptor (wraps) */
	uint64_t data;	    /* bump allocator for buffers */
	uint64_t desc_gpa;  /* where the rings are (the defaults, or moved) */
};

/* One buffer of a chain a test builds: its length and direction. */
struct seg {
	uint32_t len;
	bool write;
};

static struct fake_vq *fq_new(uint64_t ram, uint16_t size, bool event_idx, bool indirect)
{
	struct fake_vq *v = calloc(1, sizeof(*v));

	assert_non_null(v);
	assert_true(size <= MAX_T_SIZE);
	fake_mem_init(&v->f, ram);
	v->size = size;
	v->data = DATA_GPA;
	v->desc_gpa = DESC_GPA;
	assert_true(virtq_init(&v->q, &v->f.m, size, gpa(DESC_GPA), gpa(AVAIL_GPA), gpa(USED_GPA),
			       event_idx, indirect));
	return v;
}

static void fq_free(struct fake_vq *v)
{
	fake_mem_free(&v->f);
	free(v);
}

static uint8_t *mem_at(struct fake_vq *v, uint64_t g, size_t len)
{
	return fake_at(&v->f, g, len);
}

/* Write descriptor i of the table at table_gpa. */
static void put_desc_at(struct fake_vq *v, uint64_t table_gpa, unsigned i, uint64_t addr,
			uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *d = mem_at(v, table_gpa + 16ull * i, 16);

	put64(d, 0, addr);
	put32(d, 8, len);
	put16(d, 12, flags);
	put16(d, 14, next);
}

static void put_desc(struct fake_vq *v, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	put_desc_at(v, v->desc_gpa, i, addr, len, flags, next);
}

static uint64_t alloc_data(struct fake_vq *v, uint32_t len)
{
	uint64_t g = v->data;

	v->data = ALIGN_UP(v->data + len, 16);
	assert_true(v->data <= v->f.size);
	return g;
}

/* Make `head` available: ring entry, then the index (as a driver does). */
static void publish(struct fake_vq *v, uint16_t head)
{
	put16(mem_at(v, AVAIL_GPA, VIRTQ_AVAIL_BYTES(v->size)),
	      4 + 2u * (v->avail_idx & (v->size - 1)), head);
	v->avail_idx++;
	put16(mem_at(v, AVAIL_GPA, 4), 2, v->avail_idx);
}

/* Set avail->idx directly (for the ring-corruption cases). */
static void set_avail_idx(struct fake_vq *v, uint16_t idx)
{
	v->avail_idx = idx;
	put16(mem_at(v, AVAIL_GPA, 4), 2, idx);
}

/* Build a chain of consecutive descriptors over fresh buffers; returns its head. */
static uint16_t add_chain(struct fake_vq *v, const struct seg *s, unsigned n)
{
	uint16_t head = v->next_desc;

	for (unsigned i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((head + i) & (v->size - 1));
		uint16_t next = (uint16_t)((idx + 1) & (v->size - 1));
		uint64_t g = alloc_data(v, s[i].len);

		fill_pattern(mem_at(v, g, s[i].len), s[i].len, g);
		put_desc(v, idx, g, s[i].len,
			 (uint16_t)((i + 1 < n ? VIRTQ_DESC_F_NEXT : 0) |
				    (s[i].write ? VIRTQ_DESC_F_WRITE : 0)),
			 next);
	}
	v->next_desc = (uint16_t)((head + n) & (v->size - 1));
	publish(v, head);
	return head;
}

static uint16_t used_idx_of(struct fake_vq *v)
{
	return get16(mem_at(v, USED_GPA, 4), 2);
}

static uint16_t used_flags_of(struct fake_vq *v)
{
	return get16(mem_at(v, USED_GPA, 4), 0);
}

static void used_elem(struct fake_vq *v, uint16_t slot, uint32_t *id, uint32_t *len)
{
	const uint8_t *u = mem_at(v, USED_GPA, VIRTQ_USED_BYTES(v->size));

	*id = get32(u, 4 + 8u * (slot & (v->size - 1)));
	*len = get32(u, 8 + 8u * (slot & (v->size - 1)));
}

static uint16_t avail_event_of(struct fake_vq *v)
{
	return get16(mem_at(v, USED_GPA, VIRTQ_USED_BYTES(v->size)), 4 + 8u * v->size);
}

static void set_used_event(struct fake_vq *v, uint16_t e)
{
	put16(mem_at(v, AVAIL_GPA, VIRTQ_AVAIL_BYTES(v->size)), 4 + 2u * v->size, e);
}

static void set_avail_flags(struct fake_vq *v, uint16_t flags)
{
	put16(mem_at(v, AVAIL_GPA, 4), 0, flags);
}

/* Pop and expect a malformed chain with this head and this reason. */
static void expect_malformed(struct fake_vq *v, uint16_t head, const char *why)
{
	uint64_t before = v->q.stats.malformed;

	v->c.nr_out = 99; /* must be reset */
	assert_int_equal(virtq_pop(&v->q, &v->c), -1);
	assert_int_equal(v->c.head, head);
	assert_int_equal(v->c.nr_out, 0);
	assert_int_equal(v->c.nr_in, 0);
	assert_int_equal(v->q.stats.malformed, before + 1);
	assert_non_null(v->q.error);
	assert_substr(v->q.error, why);
	assert_false(v->q.broken);
}

/* After a malformed chain the queue still works: a good chain goes through. */
static void expect_still_works(struct fake_vq *v)
{
	const struct seg s[] = {{8, false}, {8, true}};
	uint16_t head = add_chain(v, s, 2);

	assert_int_equal(virtq_pop(&v->q, &v->c), 1);
	assert_int_equal(v->c.head, head);
	assert_int_equal(v->c.nr_out, 1);
	assert_int_equal(v->c.nr_in, 1);
}

/* Pop and expect the ring to be found broken. */
static void expect_broken(struct fake_vq *v, const char *why)
{
	uint64_t before = v->q.stats.malformed;

	assert_int_equal(virtq_pop(&v->q, &v->c), 0);
	assert_true(v->q.broken);
	assert_substr(v->q.error, why);
	assert_int_equal(v->q.stats.malformed, before + 1);
	/* Broken stays broken: no work, nothing popped, no second count. */
	assert_false(virtq_has_work(&v->q));
	assert_int_equal(virtq_pop(&v->q, &v->c), 0);
	assert_int_equal(v->q.stats.malformed, before + 1);
}

/* ---- set-up ---- */

static void test_init_checks(void **state)
{
	struct fake_mem f;
	struct virtq q;

	(void)state;
	fake_mem_init(&f, RAM);
	memset(&q, 0, sizeof(q));
	assert_true(virtq_init(&q, &f.m, 256, gpa(DESC_GPA), gpa(AVAIL_GPA), gpa(USED_GPA), 0, 0));
	assert_ptr_equal(q.desc_ring, f.buf + DESC_GPA);
	assert_ptr_equal(q.avail_ring, f.buf + AVAIL_GPA);
	assert_ptr_equal(q.used_ring, f.buf + USED_GPA);
	assert_int_equal(q.last_avail, 0);
	assert_int_equal(q.used_idx, 0);

	/* Sizes: 0, not a power of 2. 32768 is fine when the rings fit. */
	assert_false(virtq_init(&q, &f.m, 0, gpa(DESC_GPA), gpa(AVAIL_GPA), gpa(USED_GPA), 0, 0));
	assert_substr(q.error, "power of 2");
	assert_null(q.desc_ring);
	assert_false(virtq_init(&q, &f.m, 96, gpa(DESC_GPA), gpa(AVAIL_GPA), gpa(USED_GPA), 0, 0));
	assert_substr(q.error, "power of 2");
	assert_false(
	    virtq_init(&q, &f.m, 65535, gpa(DESC_GPA), gpa(AVAIL_GPA), gpa(USED_GPA), 0, 0));
	assert_true(virtq_init(&q, &f.m, 32768, gpa(0), gpa(0x80000), gpa(0xa0000), 0, 0));
	assert_true(virtq_init(&q, &f.m, 1, gpa(DESC_GPA), gpa(AVAIL_GPA), gpa(USED_GPA), 0, 0));

	/* Alignment: desc 16, avail 2, used 4 -- and no more than that. */
	assert_false(
	    virtq_init(&q, &f.m, 16, gpa(DESC_GPA + 8), gpa(AVAIL_GPA), gpa(USED_GPA), 0, 0));
	assert_substr(q.error, "misaligned");
	assert_false(
	    virtq_init(&q, &f.m, 16, gpa(DESC_GPA), gpa(AVAIL_GPA + 1), gpa(USED_GPA), 0, 0));
	assert_false(
	    virtq_init(&q, &f.m, 16, gpa(DESC_GPA), gpa(AVAIL_GPA), gpa(USED_GPA + 2), 0, 0));
	assert_true(virtq_init(&q, &f.m, 16, gpa(DESC_GPA + 16), gpa(AVAIL_GPA + 2),
			       gpa(USED_GPA + 4), 0, 0));

	/* Each ring wholly inside RAM: the last byte counts. */
	assert_true(virtq_init(&q, &f.m, 16, gpa(RAM - 256), gpa(AVAIL_GPA), gpa(USED_GPA), 0, 0));
	assert_false(virtq_init(&q, &f.m, 16, gpa(RAM - 240), gpa(AVAIL_GPA), gpa(USED_GPA), 0, 0));
	assert_substr(q.error, "outside guest RAM");
	assert_true(virtq_init(&q, &f.m, 16, gpa(DESC_GPA), gpa(RAM - 38), gpa(USED_GPA), 0, 0));
	assert_false(virtq_init(&q, &f.m, 16, gpa(DESC_GPA), gpa(RAM - 36), gpa(USED_GPA), 0, 0));
	assert_true(virtq_init(&q, &f.m, 16, gpa(DESC_GPA), gpa(AVAIL_GPA), gpa(RAM - 136), 0, 0));
	assert_false(virtq_init(&q, &f.m, 16, gpa(DESC_GPA), gpa(AVAIL_GPA), gpa(RAM - 132), 0, 0));
	assert_false(virtq_init(&q, &f.m, 16, gpa(DESC_GPA), gpa(AVAIL_GPA), gpa(~0ull - 3), 0, 0));
	/* The used ring (which we write) overlaps neither other ring, by even a byte. */
	assert_false(
	    virtq_init(&q, &f.m, 16, gpa(DESC_GPA), gpa(AVAIL_GPA), gpa(AVAIL_GPA + 36), 0, 0));
	assert_substr(q.error, "used ring overlaps");
	assert_true(
	    virtq_init(&q, &f.m, 16, gpa(DESC_GPA), gpa(AVAIL_GPA), gpa(AVAIL_GPA + 40), 0, 0));
	assert_false(
	    virtq_init(&q, &f.m, 16, gpa(DESC_GPA), gpa(AVAIL_GPA), gpa(DESC_GPA + 252), 0, 0));
	assert_substr(q.error, "used ring overlaps");
	assert_false(
	    virtq_init(&q, &f.m, 16, gpa(USED_GPA + 128), gpa(AVAIL_GPA), gpa(USED_GPA), 0, 0));
	assert_true(
	    virtq_init(&q, &f.m, 16, gpa(DESC_GPA), gpa(AVAIL_GPA), gpa(DESC_GPA + 256), 0, 0));
	/* desc and avail may overlap each other: only the driver writes them. */
	assert_true(virtq_init(&q, &f.m, 16, gpa(DESC_GPA), gpa(DESC_GPA), gpa(USED_GPA), 0, 0));
	/* A failed init leaves a queue that has no work and takes no pushes. */
	assert_false(virtq_init(&q, &f.m, 16, gpa(DESC_GPA), gpa(AVAIL_GPA), gpa(~0ull - 3), 0, 0));
	assert_false(virtq_has_work(&q));
	assert_int_equal(virtq_pop(&q, &(struct virtq_chain){0}), 0);
	virtq_push(&q, 0, 0);
	assert_int_equal(q.stats.requests, 0);
	fake_mem_free(&f);
}

static void test_zeroed_queue_is_idle(void **state)
{
	static struct virtq_chain c;
	struct virtq q;

	(void)state;
	memset(&q, 0, sizeof(q));
	assert_false(virtq_has_work(&q));
	assert_int_equal(virtq_pop(&q, &c), 0);
	assert_false(virtq_should_interrupt(&q));
	virtq_set_notify(&q, true);
	virtq_push(&q, 0, 0);
}

static void test_init_keeps_stats(void **state)
{
	struct fake_vq *v = fq_new(RAM, 8, false, false);

	(void)state;
	v->q.stats.requests = 7;
	v->q.last_avail = 3;
	assert_true(virtq_init(&v->q, &v->f.m, 8, gpa(DESC_GPA), gpa(AVAIL_GPA), gpa(USED_GPA),
			       false, false));
	assert_int_equal(v->q.stats.requests, 7);
	assert_int_equal(v->q.last_avail, 0);
	fq_free(v);
}

/* ---- chains ---- */

static void test_empty_ring(void **state)
{
	struct fake_vq *v = fq_new(RAM, 16, false, false);

	(void)state;
	assert_false(virtq_has_work(&v->q));
	assert_int_equal(virtq_pop(&v->q, &v->c), 0);
	assert_false(v->q.broken);
	assert_int_equal(v->q.stats.malformed, 0);
	fq_free(v);
}

static void test_simple_chains(void **state)
{
	struct fake_vq *v = fq_new(RAM, 16, false, false);
	const struct seg out_in[] = {{16, false}, {512, false}, {1, true}};
	const struct seg out_only[] = {{100, false}};
	const struct seg in_only[] = {{4096, true}, {4096, true}};
	uint16_t h1, h2, h3;

	(void)state;
	h1 = add_chain(v, out_in, 3);
	h2 = add_chain(v, out_only, 1);
	h3 = add_chain(v, in_only, 2);
	assert_true(virtq_has_work(&v->q));

	assert_int_equal(virtq_pop(&v->q, &v->c), 1);
	assert_int_equal(v->c.head, h1);
	assert_int_equal(v->c.nr_out, 2);
	assert_int_equal(v->c.nr_in, 1);
	assert_int_equal(v->c.out_len, 528);
	assert_int_equal(v->c.in_len, 1);
	assert_int_equal(v->c.iov[0].iov_len, 16);
	assert_int_equal(v->c.iov[1].iov_len, 512);
	assert_int_equal(v->c.iov[2].iov_len, 1);

	assert_int_equal(virtq_pop(&v->q, &v->c), 1);
	assert_int_equal(v->c.head, h2);
	assert_int_equal(v->c.nr_out, 1);
	assert_int_equal(v->c.nr_in, 0);
	assert_int_equal(v->c.out_len, 100);

	assert_int_equal(virtq_pop(&v->q, &v->c), 1);
	assert_int_equal(v->c.head, h3);
	assert_int_equal(v->c.nr_out, 0);
	assert_int_equal(v->c.nr_in, 2);
	assert_int_equal(v->c.in_len, 8192);

	assert_int_equal(virtq_pop(&v->q, &v->c), 0);
	assert_false(virtq_has_work(&v->q));
	assert_int_equal(v->q.last_avail, 3);
	fq_free(v);
}

static void test_iovecs_point_into_guest_memory(void **state)
{
	struct fake_vq *v = fq_new(RAM, 16, false, false);
	const struct seg s[] = {{64, false}, {32, true}};
	uint64_t out_gpa = v->data, in_gpa;

	(void)state;
	add_chain(v, s, 2);
	in_gpa = out_gpa + 64;
	assert_int_equal(virtq_pop(&v->q, &v->c), 1);
	/* The very guest bytes, not a copy. */
	assert_ptr_equal(v->c.iov[0].iov_base, v->f.buf + out_gpa);
	assert_ptr_equal(v->c.iov[1].iov_base, v->f.buf + in_gpa);
	/* A device write through the iovec is what the guest sees, and the other way round. */
	memset(v->c.iov[1].iov_base, 0xab, 32);
	assert_int_equal(v->f.buf[in_gpa + 31], 0xab);
	v->f.buf[out_gpa + 5] = 0x42;
	assert_int_equal(((uint8_t *)v->c.iov[0].iov_base)[5], 0x42);
	fq_free(v);
}

static void test_zero_length_descriptors(void **state)
{
	struct fake_vq *v = fq_new(RAM, 16, false, false);
	const struct seg s[] = {{8, false}, {0, false}, {8, true}, {0, true}, {8, true}};
	const struct seg all_zero[] = {{0, false}, {0, true}};

	(void)state;
	add_chain(v, s, 5);
	assert_int_equal(virtq_pop(&v->q, &v->c), 1);
	assert_int_equal(v->c.nr_out, 1);
	assert_int_equal(v->c.nr_in, 2);
	assert_int_equal(v->c.out_len, 8);
	assert_int_equal(v->c.in_len, 16);
	assert_int_equal(v->c.iov[1].iov_len, 8);
	assert_int_equal(v->c.iov[2].iov_len, 8);

	add_chain(v, all_zero, 2);
	assert_int_equal(virtq_pop(&v->q, &v->c), 1);
	assert_int_equal(v->c.nr_out + v->c.nr_in, 0);
	assert_int_equal(v->c.out_len + v->c.in_len, 0);
	/* A zero-length buffer may point anywhere: it is never touched. */
	put_desc(v, 0, ~0ull, 0, 0, 0);
	publish(v, 0);
	assert_int_equal(virtq_pop(&v->q, &v->c), 1);
	assert_int_equal(v->c.nr_out, 0);
	fq_free(v);
}

static void test_index_wraparound(void **state)
{
	struct fake_vq *v = fq_new(RAM, 4, false, false);
	const struct seg s[] = {{8, false}, {8, true}};
	uint16_t heads[6];
	uint32_t id, len;

	(void)state;
	/* The driver has been running a while: every index is just below 65536. */
	v->q.last_avail = 65534;
	v->q.used_idx = 65534;
	put16(mem_at(v, USED_GPA, 4), 2, 65534);
	set_avail_idx(v, 65534);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 2; i++)
			heads[round * 2 + i] = add_chain(v, s, 2);
		for (int i = 0; i < 2; i++) {
			assert_int_equal(virtq_pop(&v->q, &v->c), 1);
			assert_int_equal(v->c.head, heads[round * 2 + i]);
			virtq_push(&v->q, v->c.head, 100u + (unsigned)(round * 2 + i));
		}
		assert_int_equal(virtq_pop(&v->q, &v->c), 0);
	}
	assert_int_equal(v->q.last_avail, 4);
	assert_int_equal(used_idx_of(v), 4);
	assert_false(v->q.broken);
	/* Used slots follow used_idx modulo the size: 65534 -> slot 2. */
	used_elem(v, 65534, &id, &len);
	assert_int_equal(id, heads[4]);
	assert_int_equal(len, 104);
	used_elem(v, 3, &id, &len);
	assert_int_equal(id, heads[5]);
	assert_int_equal(len, 105);
	fq_free(v);
}

static void test_full_ring_is_fine(void **state)
{
	struct fake_vq *v = fq_new(RAM, 8, false, false);
	const struct seg s[] = {{8, true}};

	(void)state;
	/* avail idx - last_avail == size exactly: a full ring, not corruption. */
	v->q.last_avail = 65530;
	set_avail_idx(v, 65530);
	for (int i = 0; i < 8; i++)
		add_chain(v, s, 1);
	for (int i = 0; i < 8; i++)
		assert_int_equal(virtq_pop(&v->q, &v->c), 1);
	assert_false(v->q.broken);
	fq_free(v);
}

static void test_avail_idx_jump_breaks_ring(void **state)
{
	struct fake_vq *v = fq_new(RAM, 8, false, false);

	(void)state;
	v->q.last_avail = 65530;
	set_avail_idx(v, (uint16_t)(65530 + 9)); /* size + 1 past us, across the wrap */
	assert_true(virtq_has_work(&v->q));
	expect_broken(v, "avail index");
	/* Putting the index back does not revive it: the device needs a reset. */
	set_avail_idx(v, 65531);
	assert_int_equal(virtq_pop(&v->q, &v->c), 0);
	fq_free(v);
}

static void test_avail_idx_going_back_breaks_ring(void **state)
{
	struct fake_vq *v = fq_new(RAM, 8, false, false);

	(void)state;
	v->q.last_avail = 10;
	set_avail_idx(v, 9); /* -1: 65535 entries ahead */
	expect_broken(v, "avail index");
	fq_free(v);
}

static void test_head_out_of_range_breaks_ring(void **state)
{
	struct fake_vq *v = fq_new(RAM, 8, false, false);

	(void)state;
	publish(v, 8);
	expect_broken(v, "head index out of range");
	assert_int_equal(v->q.last_avail, 1);
	fq_free(v);
}

static void test_next_out_of_range(void **state)
{
	struct fake_vq *v = fq_new(RAM, 8, false, false);

	(void)state;
	put_desc(v, 0, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 7); /* 7 is the last valid one */
	put_desc(v, 7, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 8);
	publish(v, 0);
	expect_malformed(v, 0, "next index out of range");
	v->next_desc = 1;
	expect_still_works(v);
	fq_free(v);
}

static void test_loop_ends_by_hop_limit(void **state)
{
	struct fake_vq *v = fq_new(RAM, 8, false, false);

	(void)state;
	/* a -> b -> a */
	put_desc(v, 2, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 5);
	put_desc(v, 5, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 2);
	publish(v, 2);
	expect_malformed(v, 2, "chain longer");
	/* a -> a, zero-length (no iovec limit to stop it) */
	put_desc(v, 3, 0, 0, VIRTQ_DESC_F_NEXT, 3);
	publish(v, 3);
	expect_malformed(v, 3, "chain longer");
	fq_free(v);
}

static void test_chain_of_exactly_size(void **state)
{
	struct fake_vq *v = fq_new(RAM, 8, false, false);
	const struct seg s[8] = {{1, false}, {1, false}, {1, false}, {1, false},
				 {1, true},  {1, true},	 {1, true},  {1, true}};

	(void)state;
	/* The hop limit is the size: a chain using every descriptor is legal. */
	add_chain(v, s, 8);
	assert_int_equal(virtq_pop(&v->q, &v->c), 1);
	assert_int_equal(v->c.nr_out, 4);
	assert_int_equal(v->c.nr_in, 4);
	fq_free(v);
}

static void test_too_many_iovecs(void **state)
{
	struct fake_vq *v = fq_new(RAM, 2048, false, false);
	static struct seg s[VIRTQ_MAX_IOV + 1];

	(void)state;
	for (unsigned i = 0; i < ARRAY_SIZE(s); i++)
		s[i] = (struct seg){16, i >= 10};
	add_chain(v, s, VIRTQ_MAX_IOV);
	assert_int_equal(virtq_pop(&v->q, &v->c), 1);
	assert_int_equal(v->c.nr_out + v->c.nr_in, VIRTQ_MAX_IOV);
	v->data = DATA_GPA;
	add_chain(v, s, VIRTQ_MAX_IOV + 1);
	expect_malformed(v, VIRTQ_MAX_IOV, "too many buffers");
	fq_free(v);
}

static void test_buffer_outside_ram(void **state)
{
	struct fake_vq *v = fq_new(RAM, 8, false, false);

	(void)state;
	/* Wholly past the end. */
	put_desc(v, 0, RAM, 1, 0, 0);
	publish(v, 0);
	expect_malformed(v, 0, "buffer outside guest RAM");
	/* Straddling the end by one byte; the same one byte shorter is fine. */
	put_desc(v, 1, RAM - 8, 9, VIRTQ_DESC_F_WRITE, 0);
	publish(v, 1);
	expect_malformed(v, 1, "buffer outside guest RAM");
	put_desc(v, 1, RAM - 8, 8, VIRTQ_DESC_F_WRITE, 0);
	publish(v, 1);
	assert_int_equal(virtq_pop(&v->q, &v->c), 1);
	assert_ptr_equal(v->c.iov[0].iov_base, v->f.buf + RAM - 8);
	/* addr + len wraps the 64-bit space into low, valid RAM. */
	put_desc(v, 2, ~0ull - 3, 0x1000, 0, 0);
	publish(v, 2);
	expect_malformed(v, 2, "buffer outside guest RAM");
	/* A bad buffer in the middle of a chain: reported with its head. */
	put_desc(v, 3, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 4);
	put_desc(v, 4, 1ull << 40, 8, 0, 0);
	publish(v, 3);
	expect_malformed(v, 3, "buffer outside guest RAM");
	fq_free(v);
}

static void test_buffer_across_the_hole(void **state)
{
	struct fake_vq *v = fq_new(GIB(3) + KIB(64), 8, false, false);

	(void)state;
	/* Slot 0 ends at 3 GiB; the next RAM is at 4 GiB: one byte over is malformed. */
	put_desc(v, 0, GMEM_HOLE_START - 8, 9, 0, 0);
	publish(v, 0);
	expect_malformed(v, 0, "buffer outside guest RAM");
	put_desc(v, 1, GMEM_HOLE_END - 8, 16, 0, 0);
	publish(v, 1);
	expect_malformed(v, 1, "buffer outside guest RAM");
	/* Both sides of it are fine. */
	put_desc(v, 2, GMEM_HOLE_START - 8, 8, VIRTQ_DESC_F_NEXT, 3);
	put_desc(v, 3, GMEM_HOLE_END, KIB(64), 0, 0);
	publish(v, 2);
	assert_int_equal(virtq_pop(&v->q, &v->c), 1);
	assert_int_equal(v->c.nr_out, 2);
	assert_ptr_equal(v->c.iov[0].iov_base, v->f.buf + GMEM_HOLE_START - 8);
	assert_ptr_equal(v->c.iov[1].iov_base, v->f.buf + GMEM_HOLE_START);
	fq_free(v);
}

static void test_writable_buffer_over_avail_ring(void **state)
{
	struct fake_vq *v = fq_new(RAM, 8, true, true);
	uint64_t avail_end = AVAIL_GPA + VIRTQ_AVAIL_BYTES(8);

	(void)state;
	/* Writing there would move avail->idx: the device would make its own work. */
	put_desc(v, 0, AVAIL_GPA + 2, 2, VIRTQ_DESC_F_WRITE, 0);
	publish(v, 0);
	expect_malformed(v, 0, "writable buffer over the avail ring");
	/* Overlapping by the last byte (used_event) counts too; through a table as well. */
	put_desc_at(v, TABLE_GPA, 0, avail_end - 1, 8, VIRTQ_DESC_F_WRITE, 0);
	put_desc(v, 1, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	publish(v, 1);
	expect_malformed(v, 1, "writable buffer over the avail ring");
	/* Right next to it is fine, and reading the ring is harmless. */
	put_desc(v, 2, AVAIL_GPA, 8, VIRTQ_DESC_F_NEXT, 3);
	put_desc(v, 3, avail_end, 8, VIRTQ_DESC_F_WRITE, 0);
	publish(v, 2);
	assert_int_equal(virtq_pop(&v->q, &v->c), 1);
	assert_int_equal(v->c.nr_out, 1);
	assert_int_equal(v->c.nr_in, 1);
	fq_free(v);
}

static void test_readable_after_writable(void **state)
{
	struct fake_vq *v = fq_new(RAM, 8, false, false);
	const struct seg s[] = {{8, false}, {8, true}, {8, false}};
	const struct seg z[] = {{8, true}, {0, false}};

	(void)state;
	add_chain(v, s, 3);
	expect_malformed(v, 0, "readable descriptor after a writable");
	/* Even a zero-length one: the order is about descriptors. */
	add_chain(v, z, 2);
	expect_malformed(v, 3, "readable descriptor after a writable");
	expect_still_works(v);
	fq_free(v);
}

/* ---- indirect ---- */

/* An indirect table with 2 readable and 1 writable buffers, then desc[head] pointing to it. */
static void add_indirect(struct fake_vq *v, uint16_t head, uint32_t len, uint16_t flags)
{
	put_desc_at(v, TABLE_GPA, 0, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 2);
	put_desc_at(v, TABLE_GPA, 2, DATA_GPA + 0x100, 32, VIRTQ_DESC_F_NEXT, 1);
	put_desc_at(v, TABLE_GPA, 1, DATA_GPA + 0x200, 64, VIRTQ_DESC_F_WRITE, 0);
	put_desc(v, head, TABLE_GPA, len, (uint16_t)(VIRTQ_DESC_F_INDIRECT | flags), 0);
	publish(v, head);
}

static void test_indirect_ok(void **state)
{
	struct fake_vq *v = fq_new(RAM, 8, false, true);

	(void)state;
	add_indirect(v, 5, 3 * 16, 0);
	assert_int_equal(virtq_pop(&v->q, &v->c), 1);
	assert_int_equal(v->c.head, 5);
	assert_int_equal(v->c.nr_out, 2);
	assert_int_equal(v->c.nr_in, 1);
	assert_int_equal(v->c.out_len, 48);
	assert_int_equal(v->c.in_len, 64);
	assert_ptr_equal(v->c.iov[0].iov_base, v->f.buf + DATA_GPA);
	assert_ptr_equal(v->c.iov[1].iov_base, v->f.buf + DATA_GPA + 0x100);
	assert_ptr_equal(v->c.iov[2].iov_base, v->f.buf + DATA_GPA + 0x200);

	/* The WRITE flag of the descriptor naming the table is ignored (2.7.5.3.2). */
	add_indirect(v, 6, 3 * 16, VIRTQ_DESC_F_WRITE);
	assert_int_equal(virtq_pop(&v->q, &v->c), 1);
	assert_int_equal(v->c.nr_out, 2);

	/* Direct descriptors, then the table at the end of the chain. */
	put_desc(v, 0, DATA_GPA + 0x300, 4, VIRTQ_DESC_F_NEXT, 1);
	add_indirect(v, 1, 3 * 16, 0);
	v->avail_idx--; /* add_indirect published 1: publish the real head instead */
	publish(v, 0);
	assert_int_equal(virtq_pop(&v->q, &v->c), 1);
	assert_int_equal(v->c.head, 0);
	assert_int_equal(v->c.nr_out, 3);
	assert_int_equal(v->c.nr_in, 1);
	assert_ptr_equal(v->c.iov[0].iov_base, v->f.buf + DATA_GPA + 0x300);

	/* An unaligned table is fine: the spec asks no alignment of it. */
	memmove(v->f.buf + TABLE_GPA + 4, v->f.buf + TABLE_GPA, 48);
	put_desc(v, 7, TABLE_GPA + 4, 48, VIRTQ_DESC_F_INDIRECT, 0);
	publish(v, 7);
	assert_int_equal(virtq_pop(&v->q, &v->c), 1);
	assert_int_equal(v->c.nr_in, 1);
	fq_free(v);
}

static void test_indirect_not_negotiated(void **state)
{
	struct fake_vq *v = fq_new(RAM, 8, false, false);

	(void)state;
	add_indirect(v, 0, 48, 0);
	expect_malformed(v, 0, "indirect descriptor not negotiated");
	fq_free(v);
}

static void test_indirect_bad_length(void **state)
{
	struct fake_vq *v = fq_new(RAM, 8, false, true);

	(void)state;
	add_indirect(v, 0, 0, 0);
	expect_malformed(v, 0, "bad indirect table length");
	add_indirect(v, 1, 40, 0);
	expect_malformed(v, 1, "bad indirect table length");
	add_indirect(v, 2, (VIRTQ_MAX_SIZE + 1) * 16, 0);
	expect_malformed(v, 2, "bad indirect table length");
	/* The table is shorter than its chain: desc 2 is past a 2-entry table. */
	add_indirect(v, 3, 32, 0);
	expect_malformed(v, 3, "next index out of range");
	fq_free(v);
}

static void test_indirect_nested(void **state)
{
	struct fake_vq *v = fq_new(RAM, 8, false, true);

	(void)state;
	put_desc_at(v, TABLE_GPA, 0, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 1);
	put_desc_at(v, TABLE_GPA, 1, TABLE_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc(v, 0, TABLE_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
	publish(v, 0);
	expect_malformed(v, 0, "nested indirect");
	fq_free(v);
}

static void test_indirect_with_next(void **state)
{
	struct fake_vq *v = fq_new(RAM, 8, false, true);

	(void)state;
	add_indirect(v, 0, 48, VIRTQ_DESC_F_NEXT);
	expect_malformed(v, 0, "indirect descriptor with NEXT");
	fq_free(v);
}

static void test_indirect_outside_ram(void **state)
{
	struct fake_vq *v = fq_new(RAM, 8, false, true);

	(void)state;
	put_desc(v, 0, RAM - 32, 48, VIRTQ_DESC_F_INDIRECT, 0);
	publish(v, 0);
	expect_malformed(v, 0, "indirect table outside guest RAM");
	put_desc(v, 1, ~0ull - 15, 32, VIRTQ_DESC_F_INDIRECT, 0);
	publish(v, 1);
	expect_malformed(v, 1, "indirect table outside guest RAM");
	/* Buffers named by the table are checked like any other. */
	put_desc_at(v, TABLE_GPA, 0, RAM - 4, 8, 0, 0);
	put_desc(v, 2, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	publish(v, 2);
	expect_malformed(v, 2, "buffer outside guest RAM");
	fq_free(v);
}

static void test_indirect_loop_and_order(void **state)
{
	struct fake_vq *v = fq_new(RAM, 8, false, true);

	(void)state;
	/* A loop inside the table ends at the table's length. */
	put_desc_at(v, TABLE_GPA, 0, DATA_GPA, 0, VIRTQ_DESC_F_NEXT, 1);
	put_desc_at(v, TABLE_GPA, 1, DATA_GPA, 0, VIRTQ_DESC_F_NEXT, 0);
	put_desc(v, 0, TABLE_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
	publish(v, 0);
	expect_malformed(v, 0, "chain longer");
	/* The readable-first rule spans the ring part and the table. */
	put_desc(v, 1, DATA_GPA, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
	put_desc_at(v, TABLE_GPA, 0, DATA_GPA, 8, 0, 0);
	put_desc(v, 2, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	publish(v, 1);
	expect_malformed(v, 1, "readable descriptor after a writable");
	fq_free(v);
}

static void test_indirect_many_entries(void **state)
{
	struct fake_vq *v = fq_new(RAM, 4, false, true);
	unsigned n = VIRTQ_MAX_IOV + 1;

	(void)state;
	/* A table may be longer than the queue; the iovec bound still holds. */
	for (unsigned i = 0; i < n; i++)
		put_desc_at(v, TABLE_GPA, i, DATA_GPA + i, 1, VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
	put_desc_at(v, TABLE_GPA, VIRTQ_MAX_IOV - 1, DATA_GPA, 1, 0, 0);
	put_desc(v, 0, TABLE_GPA, n * 16, VIRTQ_DESC_F_INDIRECT, 0);
	publish(v, 0);
	assert_int_equal(virtq_pop(&v->q, &v->c), 1);
	assert_int_equal(v->c.nr_out, VIRTQ_MAX_IOV);
	put_desc_at(v, TABLE_GPA, VIRTQ_MAX_IOV - 1, DATA_GPA, 1, VIRTQ_DESC_F_NEXT, VIRTQ_MAX_IOV);
	put_desc_at(v, TABLE_GPA, VIRTQ_MAX_IOV, DATA_GPA, 1, 0, 0);
	publish(v, 0);
	expect_malformed(v, 0, "too many buffers");
	fq_free(v);
}

/* ---- used ring and notifications ---- */

static void test_push_writes_used_ring(void **state)
{
	struct fake_vq *v = fq_new(RAM, 8, false, false);
	uint32_t id, len;

	(void)state;
	virtq_push(&v->q, 5, 1234);
	virtq_push(&v->q, 2, 0);
	assert_int_equal(used_idx_of(v), 2);
	assert_int_equal(v->q.used_idx, 2);
	used_elem(v, 0, &id, &len);
	assert_int_equal(id, 5);
	assert_int_equal(len, 1234);
	used_elem(v, 1, &id, &len);
	assert_int_equal(id, 2);
	assert_int_equal(len, 0);
	assert_int_equal(v->q.stats.requests, 2);
	/* The device never touches the flags it does not own. */
	assert_int_equal(used_flags_of(v), 0);
	fq_free(v);
}

static void test_no_interrupt_flag(void **state)
{
	struct fake_vq *v = fq_new(RAM, 8, false, false);

	(void)state;
	virtq_push(&v->q, 0, 0);
	assert_true(virtq_should_interrupt(&v->q));
	set_avail_flags(v, VIRTQ_AVAIL_F_NO_INTERRUPT);
	virtq_push(&v->q, 1, 0);
	assert_false(virtq_should_interrupt(&v->q));
	/* Without EVENT_IDX, used_event means nothing. */
	set_avail_flags(v, 0);
	set_used_event(v, 100);
	virtq_push(&v->q, 2, 0);
	assert_true(virtq_should_interrupt(&v->q));
	assert_int_equal(v->q.stats.interrupts, 2);
	assert_int_equal(v->q.stats.suppressed, 1);
	fq_free(v);
}

static void test_event_idx_interrupts(void **state)
{
	struct fake_vq *v = fq_new(RAM, 8, true, false);

	(void)state;
	/* The first decision after init: interrupt (we know nothing yet). */
	set_used_event(v, 100);
	virtq_push(&v->q, 0, 0);
	assert_true(virtq_should_interrupt(&v->q));
	/* used_event 100: pushes 1..3 do not reach it. */
	virtq_push(&v->q, 1, 0);
	assert_false(virtq_should_interrupt(&v->q));
	virtq_push(&v->q, 2, 0);
	virtq_push(&v->q, 3, 0);
	assert_false(virtq_should_interrupt(&v->q));
	/* The driver wants to hear when entry 4 is used (used_event = 4): idx 4 -> 5 crosses. */
	set_used_event(v, 4);
	virtq_push(&v->q, 4, 0);
	assert_true(virtq_should_interrupt(&v->q));
	/* used_event behind a batch: 5 -> 8 steps over 6. */
	set_used_event(v, 6);
	virtq_push(&v->q, 5, 0);
	virtq_push(&v->q, 6, 0);
	virtq_push(&v->q, 7, 0);
	assert_true(virtq_should_interrupt(&v->q));
	/* Nothing new since the last decision: no interrupt. */
	assert_false(virtq_should_interrupt(&v->q));
	/* The flag does not matter with EVENT_IDX. */
	set_avail_flags(v, VIRTQ_AVAIL_F_NO_INTERRUPT);
	set_used_event(v, 8);
	virtq_push(&v->q, 0, 0);
	assert_true(virtq_should_interrupt(&v->q));
	assert_int_equal(v->q.stats.interrupts, 4);
	assert_int_equal(v->q.stats.suppressed, 3);
	fq_free(v);
}

static void test_event_idx_wraparound(void **state)
{
	struct fake_vq *v = fq_new(RAM, 8, true, false);

	(void)state;
	v->q.used_idx = 65534;
	v->q.signalled_used = 65534;
	v->q.signalled_valid = true;
	set_used_event(v, 65535);
	virtq_push(&v->q, 0, 0);
	assert_false(virtq_should_interrupt(&v->q)); /* 65534 -> 65535 */
	virtq_push(&v->q, 1, 0);
	virtq_push(&v->q, 2, 0);
	assert_true(virtq_should_interrupt(&v->q)); /* 65535 -> 1 steps over 65535 */
	assert_int_equal(used_idx_of(v), 1);
	fq_free(v);
}

static void test_set_notify_flags(void **state)
{
	struct fake_vq *v = fq_new(RAM, 8, false, false);

	(void)state;
	virtq_set_notify(&v->q, false);
	assert_int_equal(used_flags_of(v), VIRTQ_USED_F_NO_NOTIFY);
	virtq_set_notify(&v->q, true);
	assert_int_equal(used_flags_of(v), 0);
	/* Without EVENT_IDX, avail_event is not written. */
	assert_int_equal(avail_event_of(v), 0);
	fq_free(v);
}

static void test_set_notify_event_idx(void **state)
{
	struct fake_vq *v = fq_new(RAM, 8, true, false);
	const struct seg s[] = {{8, true}};

	(void)state;
	add_chain(v, s, 1);
	add_chain(v, s, 1);
	put16(mem_at(v, USED_GPA, VIRTQ_USED_BYTES(8)), 4 + 8 * 8, 0x5555);
	virtq_set_notify(&v->q, false);
	/* Disabling writes nothing: the old avail_event is behind us anyway. */
	assert_int_equal(avail_event_of(v), 0x5555);
	assert_int_equal(virtq_pop(&v->q, &v->c), 1);
	assert_int_equal(virtq_pop(&v->q, &v->c), 1);
	virtq_set_notify(&v->q, true);
	/* "Kick me when slot 2 becomes available." */
	assert_int_equal(avail_event_of(v), 2);
	/* The flags stay 0 with EVENT_IDX. */
	assert_int_equal(used_flags_of(v), 0);
	fq_free(v);
}

/* ---- copying ---- */

static void test_chain_read_write(void **state)
{
	struct fake_vq *v = fq_new(RAM, 8, false, false);
	const struct seg s[] = {{3, false}, {5, false}, {0, false}, {7, false},
				{4, true},  {1, true},	{6, true}};
	uint8_t expect[15], got[32], src[11];
	uint64_t g = v->data;

	(void)state;
	add_chain(v, s, 7);
	assert_int_equal(virtq_pop(&v->q, &v->c), 1);
	/* The readable bytes are the three patterned buffers back to back. */
	fill_pattern(expect, 3, g);
	fill_pattern(expect + 3, 5, g + 16);
	fill_pattern(expect + 8, 7, g + 32); /* the empty buffer took no room */

	memset(got, 0, sizeof(got));
	assert_int_equal(virtq_chain_read(&v->c, 0, got, sizeof(got)), 15);
	assert_memory_equal(got, expect, 15);
	/* From inside the second buffer, across the third. */
	memset(got, 0, sizeof(got));
	assert_int_equal(virtq_chain_read(&v->c, 4, got, 6), 6);
	assert_memory_equal(got, expect + 4, 6);
	/* At a boundary exactly, and past the end. */
	assert_int_equal(virtq_chain_read(&v->c, 8, got, 7), 7);
	assert_memory_equal(got, expect + 8, 7);
	assert_int_equal(virtq_chain_read(&v->c, 14, got, 7), 1);
	assert_int_equal(virtq_chain_read(&v->c, 15, got, 7), 0);
	assert_int_equal(virtq_chain_read(&v->c, 1000, got, 7), 0);

	/* Writes land in the writable buffers only, split across them. */
	for (unsigned i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(0xc0 + i);
	assert_int_equal(virtq_chain_write(&v->c, 2, src, sizeof(src)), 9);
	assert_memory_equal((uint8_t *)v->c.iov[3].iov_base + 2, src, 2);
	assert_memory_equal(v->c.iov[4].iov_base, src + 2, 1);
	assert_memory_equal(v->c.iov[5].iov_base, src + 3, 6);
	/* The readable buffers are untouched. */
	assert_int_equal(virtq_chain_read(&v->c, 0, got, 15), 15);
	assert_memory_equal(got, expect, 15);
	assert_int_equal(virtq_chain_write(&v->c, 11, src, 1), 0);
	fq_free(v);
}

/* ---- the device loop ---- */

struct fake_dev {
	struct virtio_dev d;
	struct fake_vq *v;
	unsigned irqs, resets, handled;
	long ret;	   /* what the handler returns */
	int add_on_irq;	   /* chains the "driver" adds from inside raise_irq */
	uint16_t kept[16]; /* heads the keeping handler held on to */
	unsigned nr_kept;
	unsigned refills; /* the refilling handler makes its chain available again */
};

static struct fake_dev *fd_of(struct virtio_dev *d)
{
	return (struct fake_dev *)d;
}

static void fd_raise_irq(struct virtio_dev *d, unsigned q)
{
	struct fake_dev *fd = fd_of(d);
	const struct seg s[] = {{8, true}};

	assert_int_equal(q, 0);
	fd->irqs++;
	/* The driver adds work after the drain, before notifications are back on. */
	while (fd->add_on_irq > 0) {
		fd->add_on_irq--;
		add_chain(fd->v, s, 1);
	}
}

static void fd_needs_reset(struct virtio_dev *d)
{
	fd_of(d)->resets++;
}

/* Fills its writable bytes with 0x77 and returns fd->ret. */
static long handle_sync(struct virtio_dev *d, unsigned q, struct virtq_chain *c)
{
	uint8_t fill[64];

	assert_int_equal(q, 0);
	memset(fill, 0x77, sizeof(fill));
	virtq_chain_write(c, 0, fill, sizeof(fill));
	fd_of(d)->handled++;
	return fd_of(d)->ret;
}

static long handle_keep(struct virtio_dev *d, unsigned q, struct virtq_chain *c)
{
	struct fake_dev *fd = fd_of(d);

	(void)q;
	assert_true(fd->nr_kept < ARRAY_SIZE(fd->kept));
	fd->kept[fd->nr_kept++] = c->head;
	return -1;
}

/*
 * A driver that refills the ring as fast as the device drains it: every
 * chain handled is made available again, fd->refills times in all.
 */
static long handle_refill(struct virtio_dev *d, unsigned q, struct virtq_chain *c)
{
	struct fake_dev *fd = fd_of(d);

	(void)q;
	fd->handled++;
	assert_true(fd->handled < 10000); /* no budget: the loop would never end */
	if (fd->refills > 0) {
		fd->refills--;
		publish(fd->v, c->head);
	}
	return 0;
}

static struct fake_dev *fd_new(bool event_idx)
{
	struct fake_dev *fd = calloc(1, sizeof(*fd));

	assert_non_null(fd);
	fd->v = fq_new(RAM, 8, event_idx, false);
	fd->d.vq[0] = fd->v->q;
	fd->d.mem = &fd->v->f.m;
	fd->d.raise_irq = fd_raise_irq;
	fd->d.needs_reset = fd_needs_reset;
	/* From here on the device's queue is the one the fake driver feeds. */
	fd->v->q = (struct virtq){0};
	return fd;
}

static void fd_free(struct fake_dev *fd)
{
	fq_free(fd->v);
	free(fd);
}

static void test_process_queue_sync(void **state)
{
	struct fake_dev *fd = fd_new(false);
	struct virtq *q = &fd->d.vq[0];
	const struct seg s[] = {{4, false}, {16, true}};
	uint32_t id, len;
	uint16_t h[3];

	(void)state;
	for (int i = 0; i < 3; i++)
		h[i] = add_chain(fd->v, s, 2);
	fd->ret = 1000; /* more than the 16 writable bytes: clamped */
	virtio_process_queue(&fd->d, 0, handle_sync);
	assert_int_equal(fd->handled, 3);
	assert_int_equal(used_idx_of(fd->v), 3);
	for (uint16_t i = 0; i < 3; i++) {
		used_elem(fd->v, i, &id, &len);
		assert_int_equal(id, h[i]);
		assert_int_equal(len, 16);
	}
	assert_int_equal(fd->v->f.buf[DATA_GPA + 16 + 15], 0x77);
	/* One interrupt for the batch, and notifications back on. */
	assert_int_equal(fd->irqs, 1);
	assert_int_equal(used_flags_of(fd->v), 0);
	assert_int_equal(q->stats.requests, 3);
	assert_int_equal(fd->resets, 0);

	/* Nothing new: no push, no interrupt. */
	virtio_process_queue(&fd->d, 0, handle_sync);
	assert_int_equal(fd->irqs, 1);
	assert_int_equal(fd->handled, 3);
	fd_free(fd);
}

static void test_process_queue_event_idx(void **state)
{
	struct fake_dev *fd = fd_new(true);
	const struct seg s[] = {{16, true}};

	(void)state;
	add_chain(fd->v, s, 1);
	add_chain(fd->v, s, 1);
	fd->ret = 3;
	virtio_process_queue(&fd->d, 0, handle_sync);
	assert_int_equal(fd->handled, 2);
	assert_int_equal(avail_event_of(fd->v), 2);
	assert_int_equal(fd->irqs, 1);
	/* The driver wants no interrupt before the 10th completion. */
	set_used_event(fd->v, 9);
	add_chain(fd->v, s, 1);
	virtio_process_queue(&fd->d, 0, handle_sync);
	assert_int_equal(fd->irqs, 1);
	assert_int_equal(fd->d.vq[0].stats.suppressed, 1);
	assert_int_equal(avail_event_of(fd->v), 3);
	fd_free(fd);
}

static void test_process_queue_keeps_chains(void **state)
{
	struct fake_dev *fd = fd_new(false);
	struct virtq *q = &fd->d.vq[0];
	const struct seg s[] = {{8, true}};
	uint32_t id, len;

	(void)state;
	add_chain(fd->v, s, 1);
	add_chain(fd->v, s, 1);
	virtio_process_queue(&fd->d, 0, handle_keep);
	assert_int_equal(fd->nr_kept, 2);
	assert_int_equal(used_idx_of(fd->v), 0);
	assert_int_equal(fd->irqs, 0);
	assert_int_equal(q->last_avail, 2);
	/* Later the device completes them, in the other order. */
	virtq_push(q, fd->kept[1], 8);
	virtq_push(q, fd->kept[0], 4);
	virtio_notify_used(&fd->d, 0);
	assert_int_equal(fd->irqs, 1);
	used_elem(fd->v, 0, &id, &len);
	assert_int_equal(id, fd->kept[1]);
	assert_int_equal(len, 8);
	used_elem(fd->v, 1, &id, &len);
	assert_int_equal(id, fd->kept[0]);
	fd_free(fd);
}

static void test_process_queue_malformed(void **state)
{
	struct fake_dev *fd = fd_new(false);
	struct virtq *q = &fd->d.vq[0];
	const struct seg good[] = {{8, true}};
	const struct seg bad[] = {{8, true}, {8, false}};
	uint32_t id, len;
	uint16_t hb;

	(void)state;
	add_chain(fd->v, good, 1);
	hb = add_chain(fd->v, bad, 2);
	add_chain(fd->v, good, 1);
	fd->ret = 8;
	virtio_process_queue(&fd->d, 0, handle_sync);
	/* The malformed one is returned empty without reaching the handler. */
	assert_int_equal(fd->handled, 2);
	assert_int_equal(used_idx_of(fd->v), 3);
	used_elem(fd->v, 1, &id, &len);
	assert_int_equal(id, hb);
	assert_int_equal(len, 0);
	assert_int_equal(q->stats.malformed, 1);
	assert_int_equal(fd->resets, 0);
	assert_int_equal(fd->irqs, 1);

	/* A broken ring: needs_reset, once; nothing after the corruption is handled. */
	add_chain(fd->v, good, 1);
	fd->v->avail_idx += 20;
	set_avail_idx(fd->v, fd->v->avail_idx);
	virtio_process_queue(&fd->d, 0, handle_sync);
	assert_true(q->broken);
	assert_int_equal(fd->resets, 1);
	assert_int_equal(fd->handled, 2);
	virtio_process_queue(&fd->d, 0, handle_sync);
	assert_int_equal(fd->resets, 1);
	fd_free(fd);
}

static void test_process_queue_closes_race(void **state)
{
	struct fake_dev *fd = fd_new(false);
	const struct seg s[] = {{8, true}};

	(void)state;
	add_chain(fd->v, s, 1);
	fd->add_on_irq = 2;
	virtio_process_queue(&fd->d, 0, handle_sync);
	/* The two chains added while notifications were off got done in this call. */
	assert_int_equal(fd->handled, 3);
	assert_int_equal(used_idx_of(fd->v), 3);
	assert_int_equal(fd->irqs, 2);
	assert_false(virtq_has_work(&fd->d.vq[0]));
	fd_free(fd);
}

/*
 * One call takes at most one ring's worth of chains: with more waiting it
 * returns true, kicks still off, so the I/O thread can serve other queues
 * and call back. Then it finishes the rest and turns kicks back on.
 */
static void test_process_queue_budget(void **state)
{
	struct fake_dev *fd = fd_new(false);
	const struct seg s[] = {{8, true}};

	(void)state;
	for (int i = 0; i < 8; i++)
		add_chain(fd->v, s, 1);
	fd->refills = 20; /* 28 chains in all, 8 per call */
	assert_true(virtio_process_queue(&fd->d, 0, handle_refill));
	assert_int_equal(fd->handled, 8);
	assert_int_equal(used_idx_of(fd->v), 8);
	assert_int_equal(fd->irqs, 1); /* the batch done so far is signalled */
	assert_int_equal(used_flags_of(fd->v), VIRTQ_USED_F_NO_NOTIFY);
	assert_true(virtio_process_queue(&fd->d, 0, handle_refill));
	assert_true(virtio_process_queue(&fd->d, 0, handle_refill));
	assert_int_equal(fd->handled, 24);
	assert_false(virtio_process_queue(&fd->d, 0, handle_refill));
	assert_int_equal(fd->handled, 28);
	assert_int_equal(used_idx_of(fd->v), 28);
	assert_int_equal(used_flags_of(fd->v), 0);
	assert_int_equal(fd->irqs, 4);
	/* Exactly a ring's worth, nothing after it: done, kicks back on. */
	for (int i = 0; i < 8; i++)
		add_chain(fd->v, s, 1);
	assert_false(virtio_process_queue(&fd->d, 0, handle_refill));
	assert_int_equal(fd->handled, 36);
	assert_int_equal(used_flags_of(fd->v), 0);
	fd_free(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_init_checks),
	    cmocka_unit_test(test_zeroed_queue_is_idle),
	    cmocka_unit_test(test_init_keeps_stats),
	    cmocka_unit_test(test_empty_ring),
	    cmocka_unit_test(test_simple_chains),
	    cmocka_unit_test(test_iovecs_point_into_guest_memory),
	    cmocka_unit_test(test_zero_length_descriptors),
	    cmocka_unit_test(test_index_wraparound),
	    cmocka_unit_test(test_full_ring_is_fine),
	    cmocka_unit_test(test_avail_idx_jump_breaks_ring),
	    cmocka_unit_test(test_avail_idx_going_back_breaks_ring),
	    cmocka_unit_test(test_head_out_of_range_breaks_ring),
	    cmocka_unit_test(test_next_out_of_range),
	    cmocka_unit_test(test_loop_ends_by_hop_limit),
	    cmocka_unit_test(test_chain_of_exactly_size),
	    cmocka_unit_test(test_too_many_iovecs),
	    cmocka_unit_test(test_buffer_outside_ram),
	    cmocka_unit_test(test_buffer_across_the_hole),
	    cmocka_unit_test(test_writable_buffer_over_avail_ring),
	    cmocka_unit_test(test_readable_after_writable),
	    cmocka_unit_test(test_indirect_ok),
	    cmocka_unit_test(test_indirect_not_negotiated),
	    cmocka_unit_test(test_indirect_bad_length),
	    cmocka_unit_test(test_indirect_nested),
	    cmocka_unit_test(test_indirect_with_next),
	    cmocka_unit_test(test_indirect_outside_ram),
	    cmocka_unit_test(test_indirect_loop_and_order),
	    cmocka_unit_test(test_indirect_many_entries),
	    cmocka_unit_test(test_push_writes_used_ring),
	    cmocka_unit_test(test_no_interrupt_flag),
	    cmocka_unit_test(test_event_idx_interrupts),
	    cmocka_unit_test(test_event_idx_wraparound),
	    cmocka_unit_test(test_set_notify_flags),
	    cmocka_unit_test(test_set_notify_event_idx),
	    cmocka_unit_test(test_chain_read_write),
	    cmocka_unit_test(test_process_queue_sync),
	    cmocka_unit_test(test_process_queue_event_idx),
	    cmocka_unit_test(test_process_queue_keeps_chains),
	    cmocka_unit_test(test_process_queue_malformed),
	    cmocka_unit_test(test_process_queue_closes_race),
	    cmocka_unit_test(test_process_queue_budget),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
