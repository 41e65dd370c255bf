/* SPDX-License-Identifier: MIT */
/*
 * test_virtio_console.c -- virtio-console: the receive queue goes through the
 * shared queue loop and its budget, so a guest re-posting empty or malformed
 * receive buffers cannot pin the I/O thread.
 */
#include "unit.h"

#include "vireo/lib/console_out.h"
#include "vireo/core/iothread.h"
#include "vireo/virtio/devices.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <time.h>

#define C_RAM	MIB(1)
#define C_DESC	0x1000ull
#define C_AVAIL 0x2000ull
#define C_USED	0x3000ull
#define C_DATA	0x10000ull
#define C_QSIZE 16u /* the budget: one ring's worth per call */
#define RXQ	0
#define TXQ	1
#define T_DESC	0x4000ull /* the transmit queue's rings */
#define T_AVAIL 0x5000ull
#define T_USED	0x6000ull
#define T_DATA	0x20000ull

struct con {
	uint8_t *ram;
	struct gmem mem;
	struct iothread io;
	struct virtio_dev d;
	int out[2]; /* the console's output: a pipe the test reads */
	uint16_t avail_idx;
	unsigned irqs;
	/* The re-posting "driver" thread. */
	pthread_t poster;
	bool running, stop;
	unsigned posted;
};

static void count_irq(struct virtio_dev *d, unsigned q)
{
	struct con *c = (struct con *)((char *)d - offsetof(struct con, d));

	(void)q;
	__atomic_fetch_add(&c->irqs, 1, __ATOMIC_RELAXED);
}

static int setup(void **state)
{
	struct con *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	c->ram = mmap(NULL, C_RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	/* A blocking pipe, as stdout usually is, and small: a reader that
	 * stops reading fills it at once. */
	if (c->ram == MAP_FAILED || pipe2(c->out, O_CLOEXEC) < 0 ||
	    fcntl(c->out[1], F_SETPIPE_SZ, 4096) != 4096)
		return -1;
	gmem_layout(&c->mem, c->ram, C_RAM);
	if (iothread_init(&c->io) < 0)
		return -1;
	pthread_mutex_init(&c->d.lock, NULL);
	c->d.io = &c->io;
	c->d.mem = &c->mem;
	c->d.raise_irq = count_irq;
	if (virtio_console_setup(&c->d, c->out[1]) < 0)
		return -1;
	assert_true(virtq_init(&c->d.vq[RXQ], &c->mem, C_QSIZE, gpa(C_DESC), gpa(C_AVAIL),
			       gpa(C_USED), false, false));
	assert_true(virtq_init(&c->d.vq[TXQ], &c->mem, C_QSIZE, gpa(T_DESC), gpa(T_AVAIL),
			       gpa(T_USED), false, false));
	c->d.status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
		      VIRTIO_STATUS_DRIVER_OK;
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct con *c = *state;

	virtio_console_destroy(&c->d);
	iothread_destroy(&c->io);
	pthread_mutex_destroy(&c->d.lock);
	close(c->out[0]);
	close(c->out[1]);
	munmap(c->ram, C_RAM);
	free(c);
	return 0;
}

static void put_desc(struct con *c, unsigned i, uint64_t addr, uint32_t len, uint16_t flags)
{
	uint8_t *d = c->ram + C_DESC + 16ull * i;

	put64(d, 0, addr);
	put32(d, 8, len);
	put16(d, 12, flags);
	put16(d, 14, 0);
}

static uint16_t used_idx(struct con *c)
{
	return __atomic_load_n((uint16_t *)(c->ram + C_USED + 2), __ATOMIC_ACQUIRE);
}

/* Make descriptor `head` available (the ring entry, then the index). */
static void publish(struct con *c, uint16_t head)
{
	put16(c->ram, C_AVAIL + 4 + 2u * (c->avail_idx % C_QSIZE), head);
	c->avail_idx++;
	__atomic_store_n((uint16_t *)(c->ram + C_AVAIL + 2), c->avail_idx, __ATOMIC_RELEASE);
}

/* The doorbell of the receive queue, as the transport delivers it. */
static bool kick_rx(struct con *c)
{
	bool more;

	pthread_mutex_lock(&c->d.lock);
	more = c->d.ops->queue_notify(&c->d, RXQ);
	pthread_mutex_unlock(&c->d.lock);
	return more;
}

/*
 * A driver that hands every receive buffer straight back, empty: whatever
 * the device returns is available again at once, so the ring never runs dry
 * while it runs (at most a few seconds, so a device without a budget ends).
 */
static void *repost(void *arg)
{
	struct con *c = arg;
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	__atomic_store_n(&c->running, true, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		if ((uint16_t)(c->avail_idx - used_idx(c)) < C_QSIZE) {
			publish(c, (uint16_t)(c->avail_idx % C_QSIZE));
			__atomic_fetch_add(&c->posted, 1, __ATOMIC_RELAXED);
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec >= 3 || c->posted >= 200000)
			break;
	}
	return NULL;
}

/*
 * Zero-length receive buffers, re-posted as fast as they come back, while
 * input waits: one call takes at most the budget (one ring's worth) and
 * returns "more" for the I/O thread to call back. A loop without a budget
 * stays as long as the guest keeps posting.
 */
static void test_rx_zero_length_budget(void **state)
{
	struct con *c = *state;
	static const uint8_t in[] = "input that no buffer can take";
	uint64_t before;
	bool more;

	for (unsigned i = 0; i < C_QSIZE; i++) {
		put_desc(c, i, C_DATA, 0, VIRTQ_DESC_F_WRITE);
		publish(c, (uint16_t)i);
	}
	assert_int_equal(virtio_console_input(&c->d, in, sizeof(in)), sizeof(in));
	assert_int_equal(pthread_create(&c->poster, NULL, repost, c), 0);
	/* The driver is spinning on the used ring before the device looks. */
	while (!__atomic_load_n(&c->running, __ATOMIC_ACQUIRE))
		sched_yield();
	before = c->d.vq[RXQ].stats.requests;
	more = kick_rx(c);
	__atomic_store_n(&c->stop, true, __ATOMIC_RELEASE);
	pthread_join(c->poster, NULL);
	if (c->d.vq[RXQ].stats.requests - before > C_QSIZE)
		fail_msg("one call returned %" PRIu64 " receive buffers; the budget is %u",
			 c->d.vq[RXQ].stats.requests - before, C_QSIZE);
	assert_true(c->d.vq[RXQ].stats.requests > before);
	/* Input still waits: "more" when the guest had re-posted in time. */
	(void)more;
	/* Nothing of the input went into zero-length buffers. */
	assert_int_equal(virtio_console_room(&c->d) + sizeof(in), 4096);
}

/*
 * Malformed receive buffers (outside guest RAM) are returned empty and
 * counted, without reaching the input; a good buffer behind them gets it.
 */
static void test_rx_malformed_counted(void **state)
{
	struct con *c = *state;
	static const uint8_t in[] = "hello";
	const unsigned bad = 5;

	for (unsigned i = 0; i < bad; i++) {
		put_desc(c, i, C_RAM + 4096, 64, VIRTQ_DESC_F_WRITE);
		publish(c, (uint16_t)i);
	}
	put_desc(c, bad, C_DATA, 64, VIRTQ_DESC_F_WRITE);
	publish(c, (uint16_t)bad);
	assert_int_equal(virtio_console_input(&c->d, in, sizeof(in)), sizeof(in));
	assert_false(kick_rx(c));
	assert_int_equal(c->d.vq[RXQ].stats.malformed, bad);
	assert_int_equal(used_idx(c), bad + 1);
	for (unsigned i = 0; i < bad; i++)
		assert_int_equal(get32(c->ram, C_USED + 4 + 8u * i + 4), 0);
	assert_int_equal(get32(c->ram, C_USED + 4 + 8u * bad), bad);
	assert_int_equal(get32(c->ram, C_USED + 4 + 8u * bad + 4), sizeof(in));
	assert_memory_equal(c->ram + C_DATA, in, sizeof(in));
	assert_int_equal(c->d.vq[RXQ].stats.bytes, sizeof(in));
}

/* Without input the device leaves receive buffers posted (nothing taken). */
static void test_rx_no_input_takes_nothing(void **state)
{
	struct con *c = *state;

	put_desc(c, 0, C_DATA, 64, VIRTQ_DESC_F_WRITE);
	publish(c, 0);
	assert_false(kick_rx(c));
	assert_int_equal(used_idx(c), 0);
	assert_int_equal(c->d.vq[RXQ].stats.requests, 0);
}

/*
 * The guest transmits far more than a reader that stopped reading takes:
 * the transmit queue is served without waiting for it (the I/O thread and
 * the device lock are never held by a write), every chain goes back to the
 * driver, and what did not fit is counted as tx_dropped. (The old device
 * wrote straight to the fd and blocked here for good: the alarm ends it.)
 */
static void test_tx_stalled_reader_drops(void **state)
{
	struct con *c = *state;
	const uint32_t len = 32768;
	const unsigned chains = 8;
	uint8_t *avail = c->ram + T_AVAIL;
	uint64_t t0 = now_ns();

	for (unsigned i = 0; i < chains; i++) {
		uint8_t *d = c->ram + T_DESC + 16ull * i;

		put64(d, 0, T_DATA + (uint64_t)i * len);
		put32(d, 8, len);
		put16(d, 12, 0);
		put16(avail, 4 + 2u * i, (uint16_t)i);
	}
	memset(c->ram + T_DATA, 'z', (size_t)chains * len);
	__atomic_store_n((uint16_t *)(avail + 2), (uint16_t)chains, __ATOMIC_RELEASE);
	alarm(20);
	pthread_mutex_lock(&c->d.lock);
	c->d.ops->queue_notify(&c->d, TXQ);
	pthread_mutex_unlock(&c->d.lock);
	alarm(0);
	assert_true(now_ns() - t0 < 2000000000ull);
	assert_int_equal(get16(c->ram, T_USED + 2), chains);
	assert_int_equal(c->d.vq[TXQ].stats.bytes, (uint64_t)chains * len);
	assert_int_equal(virtio_console_tx_dropped(&c->d),
			 (uint64_t)chains * len - 4096 - CONSOLE_OUT_SIZE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_rx_zero_length_budget, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_malformed_counted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_no_input_takes_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tx_stalled_reader_drops, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
