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
#include "vireo/core/iothread.h"
#include "vireo/lib/util.h"

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
	struct virtio_dev *vdev;
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
	struct blk_req scratch; /* answers a chain when every slot is taken */
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
static void pool_reset(struct blk_dev *blk)
{
	blk->nr_free = 0;
	for (unsigned i = BLK_QUEUE_SIZE; i-- > 0;)
		if (!blk->req[i].busy)
			blk->free[blk->nr_free++] = i;
	blk->inflight = 0;
	blk->completed = 0;
	blk->polling = false;
	blk->backlog = false;
}

static struct blk_req *req_get(struct blk_dev *blk)
{
	struct blk_req *r;

	if (blk->nr_free == 0)
		return NULL;
	r = &blk->req[blk->free[--blk->nr_free]];
	r->busy = true;
	r->gen = blk->gen;
	r->disk.cancelled = false;
	return r;
}

static void req_put(struct blk_dev *blk, struct blk_req *r)
{
	if (r == &blk->scratch || !r->busy)
		return;
	r->busy = false;
	blk->free[blk->nr_free++] = (unsigned)(r - blk->req);
}

/* Count r, write its status byte and work out what the driver gets back. */
static uint32_t finish(struct blk_dev *blk, struct blk_req *r)
{
	struct virtio_blk_stats *s = &blk->stats;

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
		blk->vdev->vq[0].stats.bytes += r->disk.len;
	if (r->written == 0) /* decided by the backend, not the parser */
		r->written = r->type == VIRTIO_BLK_T_IN && r->status == VIRTIO_BLK_S_OK
				 ? (uint32_t)r->disk.len + 1
				 : 1;
	*r->status_byte = r->status;
	return r->written;
}

/* virtio_process_queue's handler: answer the chain now, or leave it in flight (-1). */
static long blk_handle_chain(struct virtio_dev *vdev, unsigned q, struct virtq_chain *c)
{
	struct blk_dev *blk = vdev->priv;
	struct blk_req *r = req_get(blk);
	enum blk_parse_result res;
	uint32_t written;

	if (!r)
		r = &blk->scratch;
	res = blk_parse_request(&blk->lim, c, r);
	if (res == BLK_REQ_MALFORMED) {
		vdev->vq[q].stats.malformed++;
		req_put(blk, r);
		return 0;
	}
	if (res == BLK_REQ_SUBMIT && r == &blk->scratch) {
		/* The driver has more chains out than its ring holds: a driver bug. */
		blk->stats.no_slot++;
		r->status = VIRTIO_BLK_S_IOERR;
		r->written = 1;
		res = BLK_REQ_DONE;
	}
	if (res == BLK_REQ_SUBMIT) {
		if (!blk->be->ops->submit(blk->be, &r->disk)) {
			blk->inflight++;
			if (blk->inflight > blk->stats.max_inflight)
				blk->stats.max_inflight = blk->inflight;
			return -1;
		}
		r->status = blk_req_status(r);
	}
	written = finish(blk, r);
	req_put(blk, r);
	return written;
}

/* The backend finished r asynchronously (called from reap, d->lock held). */
static void blk_complete(void *opaque, struct disk_req *dr)
{
	struct blk_dev *blk = opaque;
	struct blk_req *r = container_of(dr, struct blk_req, disk);
	uint32_t written;

	if (r->gen != blk->gen) {
		/* Stale: the driver reset the device under it. Nothing reaches
		 * the guest; the slot is free again. */
		req_put(blk, r);
		return;
	}
	r->status = blk_req_status(r);
	written = finish(blk, r);

	virtq_push(&blk->vdev->vq[0], r->head, written);
	blk->inflight--;
	blk->completed++;
	req_put(blk, r);
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
static bool blk_run_queue(struct virtio_dev *vdev)
{
	struct blk_dev *blk = vdev->priv;

	if (blk->inflight > 0)
		blk->backlog =
		    virtio_drain_queue(vdev, 0, blk_handle_chain); /* doorbells stay off */
	else
		blk->backlog = virtio_process_queue(vdev, 0, blk_handle_chain);
	blk->be->ops->kick(blk->be);
	if (blk->inflight > 0 && !blk->polling)
		virtq_set_notify(&vdev->vq[0], false);
	blk->polling = blk->inflight > 0;
	return blk->backlog;
}

static bool blk_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	return q == 0 && blk_run_queue(vdev);
}

bool virtio_blk_process_completions(struct virtio_dev *vdev)
{
	struct blk_dev *blk = vdev->priv;
	bool more = false;

	pthread_mutex_lock(&vdev->lock);
	blk->be->ops->reap(blk->be); /* pushes; queues remainders and next segments */
	if (blk->completed) {
		blk->completed = 0;
		virtio_notify_used(vdev, 0);
	}
	if (blk->polling || blk->backlog)
		more = blk_run_queue(vdev);
	else
		blk->be->ops->kick(
		    blk->be); /* (nothing was in flight: nothing to kick, normally) */
	pthread_mutex_unlock(&vdev->lock);
	return more;
}

static bool blk_io_event(void *opaque, uint64_t count)
{
	(void)count;
	return virtio_blk_process_completions(opaque);
}

static void blk_config_read(struct virtio_dev *vdev, size_t off, void *buf, size_t len)
{
	struct blk_dev *blk = vdev->priv;

	if (off > sizeof(blk->cfg) || len > sizeof(blk->cfg) - off) {
		memset(buf, 0, len);
		return;
	}
	memcpy(buf, (const uint8_t *)&blk->cfg + off, len);
}

static void blk_config_write(struct virtio_dev *vdev, size_t off, const void *buf, size_t len)
{
	/* Nothing is writable: writeback needs VIRTIO_BLK_F_CONFIG_WCE, not offered. */
	(void)vdev, (void)off, (void)buf, (void)len;
}

/* Requests of an old generation still in flight (quarantined slots). */
static unsigned blk_stuck(const struct blk_dev *blk)
{
	unsigned n = 0;

	for (unsigned i = 0; i < BLK_QUEUE_SIZE; i++)
		n += blk->req[i].busy && blk->req[i].gen != blk->gen;
	return n;
}

static int blk_activate(struct virtio_dev *vdev)
{
	struct blk_dev *blk = vdev->priv;

	/* The transport caps the size at queue_max_size; the pool is that big. */
	if (vdev->vq[0].size > BLK_QUEUE_SIZE)
		return -1;
	/* Reaped since the reset? Requests a hung disk held may be back now. */
	blk->be->ops->reap(blk->be);
	if (blk_stuck(blk))
		return -1; /* the old generation's I/O still targets guest memory */
	pool_reset(blk);
	return 0;
}

/*
 * Bounded: cancel what is in flight and wait a little. Whatever finishes is
 * stale (new generation) and touches neither the guest nor the ring; what
 * the disk still holds stays quarantined (see the top of the file).
 */
static void blk_cancel_all(struct blk_dev *blk, uint64_t wait_ns)
{
	blk->gen++;
	for (unsigned i = 0; i < BLK_QUEUE_SIZE; i++)
		if (blk->req[i].busy)
			blk->req[i].disk.cancelled = true;
	blk->be->ops->cancel(blk->be, wait_ns);
}

static void blk_reset(struct virtio_dev *vdev)
{
	struct blk_dev *blk = vdev->priv;

	blk_cancel_all(blk, BLK_RESET_WAIT_NS);
	pool_reset(blk);
}

/* The exit report: what the requests were and how they ended (JSON only). */
static void blk_report(const struct virtio_dev *vdev, const char *name, FILE *f,
		       enum virtio_report_format fmt)
{
	struct virtio_blk_stats st;

	(void)name;
	if (fmt != VIRTIO_REPORT_JSON)
		return;
	virtio_blk_get_stats(vdev, &st);
	fprintf(f,
		", \"blk\": {\"reads\": %" PRIu64 ", \"writes\": %" PRIu64 ", \"flushes\": %" PRIu64
		", \"discards\": %" PRIu64 ", \"write_zeroes\": %" PRIu64 ", \"get_ids\": %" PRIu64
		", \"unsupported\": %" PRIu64 ", \"io_errors\": %" PRIu64
		", \"unaligned\": %" PRIu64 ", \"no_slot\": %" PRIu64 ", \"max_inflight\": %" PRIu64
		"}",
		st.reads, st.writes, st.flushes, st.discards, st.write_zeroes, st.get_ids,
		st.unsupported, st.io_errors, st.unaligned, st.no_slot, st.max_inflight);
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

static int open_disk(struct blk_dev *blk, const struct blk_disk_config *cfg, struct stat *st,
		     char *err, size_t errlen)
{
	int flags = (cfg->ro ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK |
		    (cfg->direct ? O_DIRECT : 0);
	int fl;

	/* O_NONBLOCK: a FIFO must not hang the open. Cleared below (io_uring
	 * would otherwise answer EAGAIN instead of waiting for the disk). */
	blk->fd = open(cfg->path, flags);
	if (blk->fd < 0) {
		int e = errno;

		if (e == EISDIR)
			return errf(err, errlen, "is a directory");
		if (!cfg->ro && (e == EACCES || e == EROFS || e == EPERM))
			return errf(err, errlen, "%s (add ,ro for a read-only disk)", strerror(e));
		if (cfg->direct && e == EINVAL)
			return errf(err, errlen, "its file system cannot do O_DIRECT");
		return errf(err, errlen, "%s", strerror(e));
	}
	if (fstat(blk->fd, st) < 0)
		return errf(err, errlen, "%s", strerror(errno));
	if (S_ISDIR(st->st_mode))
		return errf(err, errlen, "is a directory");
	if (!S_ISREG(st->st_mode) && !S_ISBLK(st->st_mode))
		return errf(err, errlen, "not a regular file or block device");
	fl = fcntl(blk->fd, F_GETFL);
	if (fl < 0 || fcntl(blk->fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return errf(err, errlen, "%s", strerror(errno));
	/* Two writers (two VMs, or one disk given twice) would corrupt it. */
	if (flock(blk->fd, (cfg->ro ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0)
		return errf(err, errlen, "%s",
			    errno == EWOULDBLOCK ? "in use by another disk or process"
						 : strerror(errno));
	return 0;
}

static int size_disk(struct blk_dev *blk, const struct blk_disk_config *cfg, const struct stat *st,
		     char *err, size_t errlen)
{
	uint64_t bytes, unit = blk->lim.align > 1 ? blk->lim.align : VIRTIO_BLK_SECTOR_SIZE;

	if (S_ISBLK(st->st_mode)) {
		if (ioctl(blk->fd, BLKGETSIZE64, &bytes) < 0)
			return errf(err, errlen, "cannot read its size: %s", strerror(errno));
	} else {
		bytes = (uint64_t)st->st_size;
	}
	if (bytes % unit)
		vireo_warn("--disk %s: size %llu is not a multiple of %llu: the last %llu bytes "
			   "are not used",
			   cfg->path, (unsigned long long)bytes, (unsigned long long)unit,
			   (unsigned long long)(bytes % unit));
	blk->lim.capacity = ALIGN_DOWN(bytes, unit) / VIRTIO_BLK_SECTOR_SIZE;
	if (blk->lim.capacity == 0)
		vireo_warn("--disk %s: empty: the guest sees a disk of 0 sectors", cfg->path);
	return 0;
}

static void fill_config(struct blk_dev *blk)
{
	struct virtio_blk_config *c = &blk->cfg;
	uint32_t bsize = blk->lim.align > 1 ? blk->lim.align : VIRTIO_BLK_SECTOR_SIZE;

	memset(c, 0, sizeof(*c));
	c->capacity = htole64(blk->lim.capacity);
	c->size_max = htole32(BLK_SIZE_MAX);
	c->seg_max = htole32(BLK_SEG_MAX);
	c->blk_size = htole32(bsize);
	c->num_queues = htole16(1);
	c->max_discard_sectors = htole32(BLK_DISCARD_SECTORS);
	c->max_discard_seg = htole32(BLK_DISCARD_SEG_MAX);
	c->discard_sector_alignment = htole32(blk->lim.discard_align);
	c->max_write_zeroes_sectors = htole32(BLK_DISCARD_SECTORS);
	c->max_write_zeroes_seg = htole32(BLK_DISCARD_SEG_MAX);
	c->write_zeroes_may_unmap = 1;
}

static void blk_free(struct blk_dev *blk)
{
	if (blk->be)
		blk->be->ops->destroy(blk->be);
	if (blk->fd >= 0)
		close(blk->fd);
	free(blk->req);
	free(blk);
}

int virtio_blk_create(struct virtio_dev *vdev, const struct blk_disk_config *cfg,
		      struct iothread *io, char *err, size_t errlen)
{
	struct blk_dev *blk = calloc(1, sizeof(*blk));
	char why[256];
	struct stat st;

	if (!blk)
		return errf(err, errlen, "out of memory");
	blk->fd = -1;
	blk->vdev = vdev;
	blk->io = io;
	snprintf(blk->path, sizeof(blk->path), "%s", cfg->path);
	blk->req = calloc(BLK_QUEUE_SIZE, sizeof(*blk->req));
	if (!blk->req) {
		blk_free(blk);
		return errf(err, errlen, "out of memory");
	}
	if (open_disk(blk, cfg, &st, err, errlen) < 0) {
		blk_free(blk);
		return -1;
	}
	blk->lim.ro = cfg->ro;
	blk->lim.align = 1;
	if (cfg->direct) {
		uint32_t a = direct_align(blk->fd, &st);

		if (a == 0 || a > 4096 || (a & (a - 1))) {
			blk_free(blk);
			return errf(err, errlen, "direct I/O alignment %u unusable", a);
		}
		blk->lim.align = a;
	}
	if (size_disk(blk, cfg, &st, err, errlen) < 0) {
		blk_free(blk);
		return -1;
	}
	make_id(blk->lim.id, &st);
	/* Discards in whole file-system blocks punch real holes: say so (a hint). */
	blk->lim.discard_align = blk->lim.align > 1 ? blk->lim.align / VIRTIO_BLK_SECTOR_SIZE : 1;
	if (st.st_blksize > (blksize_t)(blk->lim.discard_align * VIRTIO_BLK_SECTOR_SIZE) &&
	    st.st_blksize <= (blksize_t)MIB(1) && !(st.st_blksize & (st.st_blksize - 1)))
		blk->lim.discard_align = (uint32_t)st.st_blksize / VIRTIO_BLK_SECTOR_SIZE;
	fill_config(blk);

	blk->be = disk_backend_open(blk->fd, BLK_QUEUE_SIZE, why, sizeof(why));
	if (!blk->be) {
		blk_free(blk);
		return errf(err, errlen, "%s", why);
	}
	blk->be->complete = blk_complete;
	blk->be->opaque = blk;
	if (io && blk->be->event_fd >= 0) {
		if (iothread_add(io, blk->be->event_fd, blk_io_event, vdev) < 0) {
			blk_free(blk);
			return errf(err, errlen, "cannot watch its completions");
		}
		blk->watching = true;
	}
	pool_reset(blk);
	vdev->ops = cfg->ro ? &blk_ops_ro : &blk_ops_rw;
	vdev->priv = blk;
	if (!vdev->io)
		vdev->io = io;
	return 0;
}

void virtio_blk_destroy(struct virtio_dev *vdev)
{
	struct blk_dev *blk = vdev->priv;

	if (!blk)
		return;
	/* First the watch (no callback runs after this), then the I/O. */
	if (blk->watching)
		iothread_del(blk->io, blk->be->event_fd);
	pthread_mutex_lock(&vdev->lock);
	blk_cancel_all(blk, BLK_STOP_WAIT_NS);
	pthread_mutex_unlock(&vdev->lock);
	blk_free(blk);
	vdev->priv = NULL;
}

struct disk_backend *virtio_blk_backend(struct virtio_dev *vdev)
{
	struct blk_dev *blk = vdev->priv;

	return blk->be;
}

const char *virtio_blk_backend_name(const struct virtio_dev *vdev)
{
	const struct blk_dev *blk = vdev->priv;

	return blk->be->ops->name;
}

uint64_t virtio_blk_capacity(const struct virtio_dev *vdev)
{
	const struct blk_dev *blk = vdev->priv;

	return blk->lim.capacity;
}

void virtio_blk_get_stats(const struct virtio_dev *vdev, struct virtio_blk_stats *out)
{
	const struct blk_dev *blk = vdev->priv;

	*out = blk->stats;
}
