/* SPDX-License-Identifier: MIT */
/*
 * blk.c -- virtio-blk: the --disk argument and the device (config space,
 * queue handling, completions); the request parser is blk_req.c, the disk
 * engines src/block/. An engine's result (0 or -errno) becomes a status
 * byte here (blk_req_status), and only here.
 *
 * Threads and locks. Everything here runs on the I/O thread with d->lock
 * held: queue_notify (the transport's doorbell handler takes the lock) and
 * virtio_blk_process_completions (the io_uring eventfd's watch, which takes
 * it itself: the I/O thread calls watches holding only its own lock).
 * config_read, activate and reset come from the transport, also under
 * d->lock, on a vCPU thread. Reset must be bounded (a hung disk must not
 * hold a vCPU, the device and PCI locks, and so vireo's stop): it starts a
 * new generation, cancels the requests in flight and waits for them a
 * little (BLK_RESET_WAIT_NS). A request of an older generation that comes
 * back later is stale: it writes no status byte and no used entry. One that
 * is still stuck keeps its slot (quarantined), and the device refuses to be
 * activated again (DEVICE_NEEDS_RESET) until every one has come back, so the
 * driver cannot start over under I/O that still targets its old buffers.
 *
 * Doorbells: while requests are in flight the device asks for no kicks and
 * looks at the ring whenever completions come in (blk_run_queue).
 */
#include "vireo/virtio/blk.h"
#include "vireo/iothread.h"
#include "vireo/util.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(sizeof(struct virtio_blk_config) == 72, "virtio 1.2 blk config layout");
_Static_assert(offsetof(struct virtio_blk_config, blk_size) == 20, "blk_size");
_Static_assert(offsetof(struct virtio_blk_config, writeback) == 32, "writeback");
_Static_assert(offsetof(struct virtio_blk_config, max_discard_sectors) == 36, "discard");
_Static_assert(offsetof(struct virtio_blk_config, write_zeroes_may_unmap) == 56, "wz unmap");

/* ---- the --disk argument ---- */

int blk_parse_disk_arg(const char *arg, struct blk_disk_config *out, char *err, size_t errlen)
{
	const char *comma = strchr(arg, ',');
	size_t plen = comma ? (size_t)(comma - arg) : strlen(arg);

	memset(out, 0, sizeof(*out));
	if (plen == 0)
		return errf(err, errlen, "no file name before the options");
	if (plen >= sizeof(out->path))
		return errf(err, errlen, "file name longer than %zu bytes", sizeof(out->path) - 1);
	memcpy(out->path, arg, plen);
	while (comma) {
		const char *opt = comma + 1;
		size_t n;

		comma = strchr(opt, ',');
		n = comma ? (size_t)(comma - opt) : strlen(opt);
		if (n == 2 && !memcmp(opt, "ro", 2))
			out->ro = true;
		else if (n == 6 && !memcmp(opt, "direct", 6))
			out->direct = true;
		else
			return errf(err, errlen, "unknown option '%.*s' (known: ro, direct)",
				    (int)n, opt);
	}
	return 0;
}

/* ---- the device ---- */

struct blk_dev {
	struct virtio_dev *d;
	struct iothread *io;
	int fd;
	char path[PATH_MAX];
	struct blk_limits lim;
	struct virtio_blk_config cfg; /* little-endian, as the driver reads it */
	struct disk_backend *be;
	bool watching; /* be->event_fd is watched by io */

	struct blk_req *req; /* BLK_QUEUE_SIZE of them */
	unsigned free[BLK_QUEUE_SIZE];
	unsigned nr_free;
	struct blk_req scratch;	  /* answers a chain when every slot is taken */
	struct virtq_chain chain; /* blk_drain's */
	unsigned inflight;
	unsigned completed; /* pushes since the last virtio_notify_used */
	bool polling; /* requests in flight: doorbells off, the ring looked at on completion */
	bool backlog; /* the last look at the ring ran out of budget: chains still wait */
	uint32_t gen; /* device generation: bumped by every reset */
	struct virtio_blk_stats stats;
};

/* How long a reset waits for cancelled requests (on a vCPU, locks held). */
#define BLK_RESET_WAIT_NS 100000000ull
/* How long stopping waits for them. */
#define BLK_STOP_WAIT_NS 500000000ull

/*
 * Every slot not busy is free. Busy slots at a reset are requests of an old
 * generation the disk still holds: quarantined until they come back.
 */
static void pool_reset(struct blk_dev *b)
{
	b->nr_free = 0;
	for (unsigned i = BLK_QUEUE_SIZE; i-- > 0;)
		if (!b->req[i].busy)
			b->free[b->nr_free++] = i;
	b->inflight = 0;
	b->completed = 0;
	b->polling = false;
	b->backlog = false;
}

static struct blk_req *req_get(struct blk_dev *b)
{
	struct blk_req *r;

	if (b->nr_free == 0)
		return NULL;
	r = &b->req[b->free[--b->nr_free]];
	r->busy = true;
	r->gen = b->gen;
	r->disk.cancelled = false;
	return r;
}

static void req_put(struct blk_dev *b, struct blk_req *r)
{
	if (r == &b->scratch || !r->busy)
		return;
	r->busy = false;
	b->free[b->nr_free++] = (unsigned)(r - b->req);
}

/* Count r, write its status byte and work out what the driver gets back. */
static uint32_t finish(struct blk_dev *b, struct blk_req *r)
{
	struct virtio_blk_stats *s = &b->stats;

	switch (r->type) {
	case VIRTIO_BLK_T_IN:
		s->reads++;
		break;
	case VIRTIO_BLK_T_OUT:
		s->writes++;
		break;
	case VIRTIO_BLK_T_FLUSH:
		s->flushes++;
		break;
	case VIRTIO_BLK_T_GET_ID:
		s->get_ids++;
		break;
	case VIRTIO_BLK_T_DISCARD:
		s->discards++;
		break;
	case VIRTIO_BLK_T_WRITE_ZEROES:
		s->write_zeroes++;
		break;
	}
	if (r->status == VIRTIO_BLK_S_IOERR)
		s->io_errors++;
	else if (r->status == VIRTIO_BLK_S_UNSUPP)
		s->unsupported++;
	s->unaligned += r->unaligned;
	if (r->status == VIRTIO_BLK_S_OK &&
	    (r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_OUT))
		b->d->vq[0].stats.bytes += r->disk.len;
	if (r->written == 0) /* decided by the backend, not the parser */
		r->written = r->type == VIRTIO_BLK_T_IN && r->status == VIRTIO_BLK_S_OK
				 ? (uint32_t)r->disk.len + 1
				 : 1;
	*r->status_byte = r->status;
	return r->written;
}

/* virtio_process_queue's handler: answer the chain now, or leave it in flight (-1). */
static long blk_handle_chain(struct virtio_dev *d, unsigned q, struct virtq_chain *c)
{
	struct blk_dev *b = d->priv;
	struct blk_req *r = req_get(b);
	enum blk_parse_result res;
	uint32_t written;

	if (!r)
		r = &b->scratch;
	res = blk_parse_request(&b->lim, c, r);
	if (res == BLK_REQ_MALFORMED) {
		d->vq[q].stats.malformed++;
		req_put(b, r);
		return 0;
	}
	if (res == BLK_REQ_SUBMIT && r == &b->scratch) {
		/* The driver has more chains out than its ring holds: a driver bug. */
		b->stats.no_slot++;
		r->status = VIRTIO_BLK_S_IOERR;
		r->written = 1;
		res = BLK_REQ_DONE;
	}
	if (res == BLK_REQ_SUBMIT) {
		if (!b->be->ops->submit(b->be, &r->disk)) {
			b->inflight++;
			if (b->inflight > b->stats.max_inflight)
				b->stats.max_inflight = b->inflight;
			return -1;
		}
		r->status = blk_req_status(r);
	}
	written = finish(b, r);
	req_put(b, r);
	return written;
}

/* The backend finished r asynchronously (called from reap, d->lock held). */
static void blk_complete(void *opaque, struct disk_req *dr)
{
	struct blk_dev *b = opaque;
	struct blk_req *r = container_of(dr, struct blk_req, disk);
	uint32_t written;

	if (r->gen != b->gen) {
		/* Stale: the driver reset the device under it. Nothing reaches
		 * the guest; the slot is free again. */
		req_put(b, r);
		return;
	}
	r->status = blk_req_status(r);
	written = finish(b, r);

	virtq_push(&b->d->vq[0], r->head, written);
	b->inflight--;
	b->completed++;
	req_put(b, r);
}

/*
 * Busy: take what the driver added, as virtio_process_queue does (and with
 * its budget), but leave doorbells off (a completion brings the I/O thread
 * back here anyway). Returns true when the budget ran out with chains left.
 */
static bool blk_drain(struct virtio_dev *d)
{
	struct blk_dev *b = d->priv;
	struct virtq *vq = &d->vq[0];
	struct virtq_chain *c = &b->chain;
	bool pushed = false, was_broken = vq->broken;
	unsigned budget = virtio_queue_budget(vq);
	int r;

	if (d->dma_off)
		return false; /* bus mastering off: no ring access (setting it kicks us) */
	while (budget && (r = virtq_pop(vq, c)) != 0) {
		long n = r > 0 ? blk_handle_chain(d, 0, c) : 0; /* malformed: return it empty */

		budget--;
		if (n < 0)
			continue; /* in flight */
		virtq_push(vq, c->head, (size_t)n > c->in_len ? (uint32_t)c->in_len : (uint32_t)n);
		pushed = true;
	}
	if (pushed)
		virtio_notify_used(d, 0);
	if (vq->broken && !was_broken && d->needs_reset)
		d->needs_reset(d);
	return !budget && !vq->broken && virtq_has_work(vq);
}

/*
 * Take new chains and submit them. While requests are in flight the device
 * takes no doorbells: the completion of one brings the I/O thread back, and
 * it looks at the ring then (polling), without asking for kicks. Idle again,
 * it runs the standard loop, which asks for kicks and looks once more. So a
 * driver streaming requests kicks about once per busy period, not once per
 * batch. Invariant at the end: polling == (requests in flight).
 * Returns true (and sets backlog) when the budget ran out with chains left:
 * kicks stay off and the I/O thread calls back whichever watch got here.
 */
static bool blk_run_queue(struct virtio_dev *d)
{
	struct blk_dev *b = d->priv;

	if (b->inflight > 0)
		b->backlog = blk_drain(d);
	else
		b->backlog = virtio_process_queue(d, 0, blk_handle_chain);
	b->be->ops->kick(b->be);
	if (b->inflight > 0 && !b->polling)
		virtq_set_notify(&d->vq[0], false);
	b->polling = b->inflight > 0;
	return b->backlog;
}

static bool blk_queue_notify(struct virtio_dev *d, unsigned q)
{
	return q == 0 && blk_run_queue(d);
}

bool virtio_blk_process_completions(struct virtio_dev *d)
{
	struct blk_dev *b = d->priv;
	bool more = false;

	pthread_mutex_lock(&d->lock);
	b->be->ops->reap(b->be); /* pushes; queues remainders and next segments */
	if (b->completed) {
		b->completed = 0;
		virtio_notify_used(d, 0);
	}
	if (b->polling || b->backlog)
		more = blk_run_queue(d);
	else
		b->be->ops->kick(b->be); /* (nothing was in flight: nothing to kick, normally) */
	pthread_mutex_unlock(&d->lock);
	return more;
}

static bool blk_io_event(void *opaque, uint64_t count)
{
	(void)count;
	return virtio_blk_process_completions(opaque);
}

static void blk_config_read(struct virtio_dev *d, size_t off, void *buf, size_t len)
{
	struct blk_dev *b = d->priv;

	if (off > sizeof(b->cfg) || len > sizeof(b->cfg) - off) {
		memset(buf, 0, len);
		return;
	}
	memcpy(buf, (const uint8_t *)&b->cfg + off, len);
}

static void blk_config_write(struct virtio_dev *d, size_t off, const void *buf, size_t len)
{
	/* Nothing is writable: writeback needs VIRTIO_BLK_F_CONFIG_WCE, not offered. */
	(void)d, (void)off, (void)buf, (void)len;
}

/* Requests of an old generation still in flight (quarantined slots). */
static unsigned blk_stuck(const struct blk_dev *b)
{
	unsigned n = 0;

	for (unsigned i = 0; i < BLK_QUEUE_SIZE; i++)
		n += b->req[i].busy && b->req[i].gen != b->gen;
	return n;
}

static int blk_activate(struct virtio_dev *d)
{
	struct blk_dev *b = d->priv;

	/* The transport caps the size at queue_max_size; the pool is that big. */
	if (d->vq[0].size > BLK_QUEUE_SIZE)
		return -1;
	/* Reaped since the reset? Requests a hung disk held may be back now. */
	b->be->ops->reap(b->be);
	if (blk_stuck(b))
		return -1; /* the old generation's I/O still targets guest memory */
	pool_reset(b);
	return 0;
}

/*
 * Bounded: cancel what is in flight and wait a little. Whatever finishes is
 * stale (new generation) and touches neither the guest nor the ring; what
 * the disk still holds stays quarantined (see the top of the file).
 */
static void blk_cancel_all(struct blk_dev *b, uint64_t wait_ns)
{
	b->gen++;
	for (unsigned i = 0; i < BLK_QUEUE_SIZE; i++)
		if (b->req[i].busy)
			b->req[i].disk.cancelled = true;
	b->be->ops->cancel(b->be, wait_ns);
}

static void blk_reset(struct virtio_dev *d)
{
	struct blk_dev *b = d->priv;

	blk_cancel_all(b, BLK_RESET_WAIT_NS);
	pool_reset(b);
}

/* The exit report: what the requests were and how they ended (JSON only). */
static void blk_report(const struct virtio_dev *d, const char *name, FILE *f,
		       enum virtio_report_format fmt)
{
	struct virtio_blk_stats b;

	(void)name;
	if (fmt != VIRTIO_REPORT_JSON)
		return;
	virtio_blk_get_stats(d, &b);
	fprintf(f,
		", \"blk\": {\"reads\": %" PRIu64 ", \"writes\": %" PRIu64 ", \"flushes\": %" PRIu64
		", \"discards\": %" PRIu64 ", \"write_zeroes\": %" PRIu64 ", \"get_ids\": %" PRIu64
		", \"unsupported\": %" PRIu64 ", \"io_errors\": %" PRIu64
		", \"unaligned\": %" PRIu64 ", \"no_slot\": %" PRIu64 ", \"max_inflight\": %" PRIu64
		"}",
		b.reads, b.writes, b.flushes, b.discards, b.write_zeroes, b.get_ids, b.unsupported,
		b.io_errors, b.unaligned, b.no_slot, b.max_inflight);
}

#define BLK_FEATURES                                                                               \
	((1ull << VIRTIO_BLK_F_SIZE_MAX) | (1ull << VIRTIO_BLK_F_SEG_MAX) |                        \
	 (1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_FLUSH) |                          \
	 (1ull << VIRTIO_BLK_F_DISCARD) | (1ull << VIRTIO_BLK_F_WRITE_ZEROES))

#define BLK_OPS(feat)                                                                              \
	{                                                                                          \
		.name = "blk", .device_id = VIRTIO_ID_BLOCK, .features = (feat), .num_queues = 1,  \
		.queue_max_size = BLK_QUEUE_SIZE, .config_size = sizeof(struct virtio_blk_config), \
		.config_read = blk_config_read, .config_write = blk_config_write,                  \
		.activate = blk_activate, .queue_notify = blk_queue_notify, .reset = blk_reset,    \
		.backend = virtio_blk_backend_name, .report = blk_report,                          \
		.destroy = virtio_blk_destroy,                                                     \
	}

static const struct virtio_device_ops blk_ops_rw = BLK_OPS(BLK_FEATURES);
static const struct virtio_device_ops blk_ops_ro =
    BLK_OPS(BLK_FEATURES | (1ull << VIRTIO_BLK_F_RO));

/* ---- creation ---- */

/* "vireo-" and 12 hex digits of a hash of the file's identity: stable across runs. */
static void make_id(char id[VIRTIO_BLK_ID_BYTES], const struct stat *st)
{
	uint64_t h = 0xcbf29ce484222325ull, v[2] = {st->st_dev, st->st_ino};
	const uint8_t *p = (const uint8_t *)v;
	char s[VIRTIO_BLK_ID_BYTES + 1];

	for (size_t i = 0; i < sizeof(v); i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	snprintf(s, sizeof(s), "vireo-%012llx", (unsigned long long)(h & 0xffffffffffffull));
	memset(id, 0, VIRTIO_BLK_ID_BYTES);
	memcpy(id, s, strlen(s));
}

/*
 * O_DIRECT's alignment for fd: the larger of its memory and offset needs
 * (statx STATX_DIOALIGN, else the block device's logical block size), at
 * least 512. 0 when the file system says it cannot do direct I/O.
 */
static uint32_t direct_align(int fd, const struct stat *st)
{
	struct statx sx;
	uint32_t a = VIRTIO_BLK_SECTOR_SIZE;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 &&
	    (sx.stx_mask & STATX_DIOALIGN)) {
		if (sx.stx_dio_offset_align == 0)
			return 0;
		if (sx.stx_dio_offset_align > a)
			a = sx.stx_dio_offset_align;
		if (sx.stx_dio_mem_align > a)
			a = sx.stx_dio_mem_align;
	} else if (S_ISBLK(st->st_mode)) {
		int lbs = 0;

		if (ioctl(fd, BLKSSZGET, &lbs) == 0 && lbs > (int)a)
			a = (uint32_t)lbs;
	}
	return a;
}

static int open_disk(struct blk_dev *b, const struct blk_disk_config *cfg, struct stat *st,
		     char *err, size_t errlen)
{
	int flags = (cfg->ro ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK |
		    (cfg->direct ? O_DIRECT : 0);
	int fl;

	/* O_NONBLOCK: a FIFO must not hang the open. Cleared below (io_uring
	 * would otherwise answer EAGAIN instead of waiting for the disk). */
	b->fd = open(cfg->path, flags);
	if (b->fd < 0) {
		int e = errno;

		if (e == EISDIR)
			return errf(err, errlen, "is a directory");
		if (!cfg->ro && (e == EACCES || e == EROFS || e == EPERM))
			return errf(err, errlen, "%s (add ,ro for a read-only disk)", strerror(e));
		if (cfg->direct && e == EINVAL)
			return errf(err, errlen, "its file system cannot do O_DIRECT");
		return errf(err, errlen, "%s", strerror(e));
	}
	if (fstat(b->fd, st) < 0)
		return errf(err, errlen, "%s", strerror(errno));
	if (S_ISDIR(st->st_mode))
		return errf(err, errlen, "is a directory");
	if (!S_ISREG(st->st_mode) && !S_ISBLK(st->st_mode))
		return errf(err, errlen, "not a regular file or block device");
	fl = fcntl(b->fd, F_GETFL);
	if (fl < 0 || fcntl(b->fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return errf(err, errlen, "%s", strerror(errno));
	/* Two writers (two VMs, or one disk given twice) would corrupt it. */
	if (flock(b->fd, (cfg->ro ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0)
		return errf(err, errlen, "%s",
			    errno == EWOULDBLOCK ? "in use by another disk or process"
						 : strerror(errno));
	return 0;
}

static int size_disk(struct blk_dev *b, const struct blk_disk_config *cfg, const struct stat *st,
		     char *err, size_t errlen)
{
	uint64_t bytes, unit = b->lim.align > 1 ? b->lim.align : VIRTIO_BLK_SECTOR_SIZE;

	if (S_ISBLK(st->st_mode)) {
		if (ioctl(b->fd, BLKGETSIZE64, &bytes) < 0)
			return errf(err, errlen, "cannot read its size: %s", strerror(errno));
	} else {
		bytes = (uint64_t)st->st_size;
	}
	if (bytes % unit)
		vireo_warn("--disk %s: size %llu is not a multiple of %llu: the last %llu bytes "
			   "are not used",
			   cfg->path, (unsigned long long)bytes, (unsigned long long)unit,
			   (unsigned long long)(bytes % unit));
	b->lim.capacity = ALIGN_DOWN(bytes, unit) / VIRTIO_BLK_SECTOR_SIZE;
	if (b->lim.capacity == 0)
		vireo_warn("--disk %s: empty: the guest sees a disk of 0 sectors", cfg->path);
	return 0;
}

static void fill_config(struct blk_dev *b)
{
	struct virtio_blk_config *c = &b->cfg;
	uint32_t blk = b->lim.align > 1 ? b->lim.align : VIRTIO_BLK_SECTOR_SIZE;

	memset(c, 0, sizeof(*c));
	c->capacity = htole64(b->lim.capacity);
	c->size_max = htole32(BLK_SIZE_MAX);
	c->seg_max = htole32(BLK_SEG_MAX);
	c->blk_size = htole32(blk);
	c->num_queues = htole16(1);
	c->max_discard_sectors = htole32(BLK_DISCARD_SECTORS);
	c->max_discard_seg = htole32(BLK_DISCARD_SEG_MAX);
	c->discard_sector_alignment = htole32(b->lim.discard_align);
	c->max_write_zeroes_sectors = htole32(BLK_DISCARD_SECTORS);
	c->max_write_zeroes_seg = htole32(BLK_DISCARD_SEG_MAX);
	c->write_zeroes_may_unmap = 1;
}

static void blk_free(struct blk_dev *b)
{
	if (b->be)
		b->be->ops->destroy(b->be);
	if (b->fd >= 0)
		close(b->fd);
	free(b->req);
	free(b);
}

int virtio_blk_create(struct virtio_dev *d, const struct blk_disk_config *cfg, struct iothread *io,
		      char *err, size_t errlen)
{
	struct blk_dev *b = calloc(1, sizeof(*b));
	char why[256];
	struct stat st;

	if (!b)
		return errf(err, errlen, "out of memory");
	b->fd = -1;
	b->d = d;
	b->io = io;
	snprintf(b->path, sizeof(b->path), "%s", cfg->path);
	b->req = calloc(BLK_QUEUE_SIZE, sizeof(*b->req));
	if (!b->req) {
		blk_free(b);
		return errf(err, errlen, "out of memory");
	}
	if (open_disk(b, cfg, &st, err, errlen) < 0) {
		blk_free(b);
		return -1;
	}
	b->lim.ro = cfg->ro;
	b->lim.align = 1;
	if (cfg->direct) {
		uint32_t a = direct_align(b->fd, &st);

		if (a == 0 || a > 4096 || (a & (a - 1))) {
			blk_free(b);
			return errf(err, errlen, "direct I/O alignment %u unusable", a);
		}
		b->lim.align = a;
	}
	if (size_disk(b, cfg, &st, err, errlen) < 0) {
		blk_free(b);
		return -1;
	}
	make_id(b->lim.id, &st);
	/* Discards in whole file-system blocks punch real holes: say so (a hint). */
	b->lim.discard_align = b->lim.align > 1 ? b->lim.align / VIRTIO_BLK_SECTOR_SIZE : 1;
	if (st.st_blksize > (blksize_t)(b->lim.discard_align * VIRTIO_BLK_SECTOR_SIZE) &&
	    st.st_blksize <= (blksize_t)MIB(1) && !(st.st_blksize & (st.st_blksize - 1)))
		b->lim.discard_align = (uint32_t)st.st_blksize / VIRTIO_BLK_SECTOR_SIZE;
	fill_config(b);

	b->be = disk_backend_open(b->fd, BLK_QUEUE_SIZE, why, sizeof(why));
	if (!b->be) {
		blk_free(b);
		return errf(err, errlen, "%s", why);
	}
	b->be->complete = blk_complete;
	b->be->opaque = b;
	if (io && b->be->event_fd >= 0) {
		if (iothread_add(io, b->be->event_fd, blk_io_event, d) < 0) {
			blk_free(b);
			return errf(err, errlen, "cannot watch its completions");
		}
		b->watching = true;
	}
	pool_reset(b);
	d->ops = cfg->ro ? &blk_ops_ro : &blk_ops_rw;
	d->priv = b;
	if (!d->io)
		d->io = io;
	return 0;
}

void virtio_blk_destroy(struct virtio_dev *d)
{
	struct blk_dev *b = d->priv;

	if (!b)
		return;
	/* First the watch (no callback runs after this), then the I/O. */
	if (b->watching)
		iothread_del(b->io, b->be->event_fd);
	pthread_mutex_lock(&d->lock);
	blk_cancel_all(b, BLK_STOP_WAIT_NS);
	pthread_mutex_unlock(&d->lock);
	blk_free(b);
	d->priv = NULL;
}

struct disk_backend *virtio_blk_backend(struct virtio_dev *d)
{
	struct blk_dev *b = d->priv;

	return b->be;
}

const char *virtio_blk_backend_name(const struct virtio_dev *d)
{
	const struct blk_dev *b = d->priv;

	return b->be->ops->name;
}

uint64_t virtio_blk_capacity(const struct virtio_dev *d)
{
	const struct blk_dev *b = d->priv;

	return b->lim.capacity;
}

void virtio_blk_get_stats(const struct virtio_dev *d, struct virtio_blk_stats *out)
{
	const struct blk_dev *b = d->priv;

	*out = b->stats;
}
