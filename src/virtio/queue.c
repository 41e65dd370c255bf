/* SPDX-License-Identifier: MIT */
/*
 * queue.c -- the split virtqueue (virtio 1.2, 2.7), device side.
 *
 * The guest writes the descriptor table and the avail ring, we write the used
 * ring, and both sides run at the same time on different CPUs. So:
 *  - every value read from the rings is read once (a snapshot) and checked
 *    before it is used: an index against the ring size, an address range
 *    through gmem_ptr(), a chain against its hop limit;
 *  - the shared 16/32-bit ring fields are accessed with relaxed atomics (one
 *    untorn access the compiler cannot repeat or elide), and ordering comes
 *    from explicit fences, each commented with the driver-side barrier it
 *    pairs with (Linux: virtio_wmb/virtio_mb in drivers/virtio/virtio_ring.c).
 * Ring fields are little-endian: le16toh()/htole16() at every access.
 */
#include "vireo/virtio/queue.h"
#include "vireo/lib/util.h"

#include <endian.h>
#include <string.h>

/* ---- shared ring fields ---- */

static inline uint16_t ring_load16(const uint16_t *p)
{
	return le16toh(__atomic_load_n(p, __ATOMIC_RELAXED));
}

static inline void ring_store16(uint16_t *p, uint16_t v)
{
	__atomic_store_n(p, htole16(v), __ATOMIC_RELAXED);
}

static inline void ring_store32(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, htole32(v), __ATOMIC_RELAXED);
}

/* used_event: written by the driver after the avail ring. */
static inline uint16_t *used_event_of(const struct virtq *q)
{
	return &q->avail_ring->ring[q->size];
}

/* avail_event: written by us after the used ring. */
static inline uint16_t *avail_event_of(const struct virtq *q)
{
	return (uint16_t *)&q->used_ring->ring[q->size];
}

/*
 * Snapshot one descriptor (ring or indirect table; an indirect table need
 * not be aligned, hence memcpy). The compiler barrier makes the local copy
 * the only one: every check below and every use after it see the same
 * values, even if the guest rewrites the descriptor meanwhile (no TOCTOU).
 */
static inline void desc_load(const struct virtq_desc *src, struct virtq_desc *desc)
{
	memcpy(desc, src, sizeof(*desc));
	__asm__ __volatile__("" ::: "memory");
	desc->addr = le64toh(desc->addr);
	desc->len = le32toh(desc->len);
	desc->flags = le16toh(desc->flags);
	desc->next = le16toh(desc->next);
}

/* ---- set-up ---- */

/* Do host ranges [a, a + alen) and [b, b + blen) share a byte? */
static bool overlaps(const void *a, size_t alen, const void *b, size_t blen)
{
	uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;

	return x < y + blen && y < x + alen;
}

static bool init_fail(struct virtq *q, const char *why)
{
	q->desc_ring = NULL;
	q->avail_ring = NULL;
	q->used_ring = NULL;
	q->error = why;
	return false;
}

bool virtq_init(struct virtq *q, const struct gmem *mem, uint16_t size, gpa_t desc, gpa_t avail,
		gpa_t used, bool event_idx, bool indirect)
{
	struct virtq_stats stats = q->stats; /* counts over the VM's life, across resets */

	memset(q, 0, sizeof(*q));
	q->stats = stats;
	q->mem = mem;
	q->size = size;
	q->desc = desc;
	q->avail = avail;
	q->used = used;
	q->event_idx = event_idx;
	q->indirect = indirect;

	if (size == 0 || (size & (size - 1)) || size > VIRTQ_MAX_SIZE)
		return init_fail(q, "queue size not a power of 2 <= 32768");
	if ((desc.v & 15) || (avail.v & 1) || (used.v & 3))
		return init_fail(q, "ring misaligned (desc 16, avail 2, used 4 bytes)");
	q->desc_ring = gmem_ptr(mem, desc, VIRTQ_DESC_BYTES(size));
	q->avail_ring = gmem_ptr(mem, avail, VIRTQ_AVAIL_BYTES(size));
	q->used_ring = gmem_ptr(mem, used, VIRTQ_USED_BYTES(size));
	if (!q->desc_ring || !q->avail_ring || !q->used_ring)
		return init_fail(q, "ring outside guest RAM");
	/*
	 * The used ring is the one we write. Over the avail ring, a push would
	 * move avail->idx: the device would feed itself work for ever.
	 */
	if (overlaps(q->used_ring, VIRTQ_USED_BYTES(size), q->avail_ring,
		     VIRTQ_AVAIL_BYTES(size)) ||
	    overlaps(q->used_ring, VIRTQ_USED_BYTES(size), q->desc_ring, VIRTQ_DESC_BYTES(size)))
		return init_fail(q, "used ring overlaps another ring");
	return true;
}

static inline bool ready(const struct virtq *q)
{
	return q->desc_ring && !q->broken;
}

/* ---- taking chains ---- */

/* Ring-level corruption: no chain to return, the device needs a reset. */
static int ring_broken(struct virtq *q, const char *why)
{
	q->broken = true;
	q->error = why;
	q->stats.malformed++;
	return 0;
}

static int chain_malformed(struct virtq *q, struct virtq_chain *c, const char *why)
{
	c->nr_out = c->nr_in = 0;
	c->out_len = c->in_len = 0;
	q->error = why;
	q->stats.malformed++;
	return -1;
}

int virtq_pop(struct virtq *q, struct virtq_chain *c)
{
	const struct virtq_desc *table;
	unsigned table_size, hops, max_hops, idx;
	bool in_indirect = false, seen_write = false;
	uint16_t avail_idx, head;

	if (!ready(q))
		return 0;
	avail_idx = ring_load16(&q->avail_ring->idx);
	if (avail_idx == q->last_avail)
		return 0;
	if ((uint16_t)(avail_idx - q->last_avail) > q->size)
		return ring_broken(q, "avail index moved by more than the queue size");
	/*
	 * Acquire: the ring entry and the descriptors are read after the index
	 * that published them. Pairs with the driver's write barrier between
	 * filling them in and updating avail->idx.
	 */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	head = ring_load16(&q->avail_ring->ring[q->last_avail & (q->size - 1)]);
	q->last_avail++;
	if (head >= q->size)
		return ring_broken(q, "head index out of range");

	c->head = head;
	c->nr_out = c->nr_in = 0;
	c->out_len = c->in_len = 0;
	table = q->desc_ring;
	table_size = q->size;
	/* A chain visits each ring descriptor at most once: size hops end any loop. */
	max_hops = q->size;
	hops = 0;
	idx = head;
	for (;;) {
		struct virtq_desc desc;

		if (hops++ == max_hops)
			return chain_malformed(q, c, "chain longer than its table (a loop?)");
		desc_load(&table[idx], &desc);

		if (desc.flags & VIRTQ_DESC_F_INDIRECT) {
			if (!q->indirect)
				return chain_malformed(q, c, "indirect descriptor not negotiated");
			if (in_indirect)
				return chain_malformed(q, c, "nested indirect descriptor");
			if (desc.flags & VIRTQ_DESC_F_NEXT)
				return chain_malformed(q, c, "indirect descriptor with NEXT");
			if (desc.len == 0 || desc.len % sizeof(struct virtq_desc) ||
			    desc.len / sizeof(struct virtq_desc) > VIRTQ_MAX_SIZE)
				return chain_malformed(q, c, "bad indirect table length");
			/* The table's WRITE flag is ignored (2.7.5.3.2). */
			table = gmem_ptr(q->mem, gpa(desc.addr), desc.len);
			if (!table)
				return chain_malformed(q, c, "indirect table outside guest RAM");
			table_size = desc.len / sizeof(struct virtq_desc);
			in_indirect = true;
			max_hops = table_size;
			hops = 0;
			idx = 0;
			continue;
		}

		if (desc.flags & VIRTQ_DESC_F_WRITE)
			seen_write = true;
		else if (seen_write)
			return chain_malformed(q, c, "readable descriptor after a writable one");
		if (desc.len) {
			void *p = gmem_ptr(q->mem, gpa(desc.addr), desc.len);
			unsigned n = c->nr_out + c->nr_in;

			if (!p)
				return chain_malformed(q, c, "buffer outside guest RAM");
			/* Same as the used ring: our writes must not make new work. */
			if ((desc.flags & VIRTQ_DESC_F_WRITE) &&
			    overlaps(p, desc.len, q->avail_ring, VIRTQ_AVAIL_BYTES(q->size)))
				return chain_malformed(q, c, "writable buffer over the avail ring");
			if (n == VIRTQ_MAX_IOV)
				return chain_malformed(q, c, "too many buffers in one chain");
			c->iov[n] = (struct iovec){.iov_base = p, .iov_len = desc.len};
			if (desc.flags & VIRTQ_DESC_F_WRITE) {
				c->nr_in++;
				c->in_len += desc.len;
			} else {
				c->nr_out++;
				c->out_len += desc.len;
			}
		}
		if (!(desc.flags & VIRTQ_DESC_F_NEXT))
			return 1;
		if (desc.next >= table_size)
			return chain_malformed(q, c, "next index out of range");
		idx = desc.next;
	}
}

bool virtq_has_work(struct virtq *q)
{
	return ready(q) && ring_load16(&q->avail_ring->idx) != q->last_avail;
}

/* ---- returning chains ---- */

void virtq_push_many(struct virtq *q, const uint16_t *heads, const uint32_t *written, unsigned n)
{
	if (!q->used_ring || n == 0)
		return;
	for (unsigned i = 0; i < n; i++) {
		struct virtq_used_elem *e =
		    &q->used_ring->ring[(uint16_t)(q->used_idx + i) & (q->size - 1)];

		ring_store32(&e->id, heads[i]);
		ring_store32(&e->len, written[i]);
	}
	q->used_idx += (uint16_t)n;
	/*
	 * Release: the elements (and the data written into the buffers) must be
	 * visible before the index that publishes them. Pairs with the driver's
	 * read barrier between reading used->idx and reading the elements. One
	 * index update for all of them: a driver that reads the first buffer
	 * of a merged packet finds the rest already there.
	 */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	ring_store16(&q->used_ring->idx, q->used_idx);
	q->stats.requests += n;
}

void virtq_push(struct virtq *q, uint16_t head, uint32_t written)
{
	virtq_push_many(q, &head, &written, 1);
}

void virtq_unpop(struct virtq *q, unsigned n)
{
	q->last_avail -= (uint16_t)n;
}

bool virtq_should_interrupt(struct virtq *q)
{
	uint16_t old, new_idx;
	bool need, valid;

	if (!q->used_ring)
		return false;
	/*
	 * Full barrier (store -> load): our used->idx store must be visible
	 * before we read used_event/flags. Otherwise a driver that re-enables
	 * interrupts, then re-checks used->idx (it has a full barrier between
	 * the two) could read the old index while we read its old used_event:
	 * both sides would wait for the other, and the completion would sit
	 * there without an interrupt.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (q->event_idx) {
		old = q->signalled_used;
		valid = q->signalled_valid;
		new_idx = q->used_idx;
		q->signalled_used = new_idx;
		q->signalled_valid = true;
		/* The first time we know nothing about the driver's past: interrupt. */
		need = !valid || vring_need_event(ring_load16(used_event_of(q)), new_idx, old);
	} else {
		need = !(ring_load16(&q->avail_ring->flags) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	}
	if (need)
		q->stats.interrupts++;
	else
		q->stats.suppressed++;
	return need;
}

void virtq_set_notify(struct virtq *q, bool enable)
{
	if (!q->used_ring)
		return;
	if (q->event_idx) {
		/*
		 * Kick me when you make slot last_avail available. Disabling
		 * needs no write: the old avail_event is behind us, so the
		 * driver does not kick again until we publish a new one.
		 */
		if (enable)
			ring_store16(avail_event_of(q), q->last_avail);
	} else {
		ring_store16(&q->used_ring->flags, enable ? 0 : VIRTQ_USED_F_NO_NOTIFY);
	}
	/*
	 * Full barrier (store -> load) after enabling: the caller re-reads
	 * avail->idx (virtq_has_work) next, and that read must not be done
	 * before our store is visible. Pairs with the driver's full barrier
	 * between publishing avail->idx and reading avail_event/flags: one of
	 * us is then sure to see the other's write (a kick, or the new work).
	 */
	if (enable)
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* ---- copying ---- */

size_t virtq_chain_read(const struct virtq_chain *c, size_t off, void *dst, size_t len)
{
	return iov_to_buf(c->iov, c->nr_out, off, dst, len);
}

size_t virtq_chain_write(const struct virtq_chain *c, size_t off, const void *src, size_t len)
{
	return iov_from_buf(c->iov + c->nr_out, c->nr_in, off, src, len);
}
