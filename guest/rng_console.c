// SPDX-License-Identifier: MIT
/*
 * rng_console.c -- the virtio-rng (virtio 1.2, 5.4) and virtio-console (5.3)
 * workloads, on the driver in virtio.c.
 *
 * The console driver does not accept VIRTIO_CONSOLE_F_MULTIPORT (nor SIZE or
 * EMERG_WRITE): port 0 then lives on queue 0 (receiveq) and queue 1
 * (transmitq), and the device needs no control queue. That is the plain
 * one-port console vireo offers; QEMU's virtio-serial-pci (which offers
 * MULTIPORT) behaves the same way when the feature is refused.
 */
#include "virtio.h"

#define CONSOLE_RXQ	0
#define CONSOLE_TXQ	1
#define CONSOLE_RX_BUFS 4
#define CONSOLE_RX_LEN	64
#define ECHO_MAX	256

static struct vdev rng_dev;
static struct vdev con_dev;

/* ---- rng ------------------------------------------------------------------------------ */

int run_rng(void)
{
	uint64_t count = cmdline_u64("count", 4096), chunk = cmdline_u64("chunk", 64);
	uint64_t got = 0, requests = 0, empty = 0, errors = 0, t0, ns, irqs0, notifies0;
	struct vdev *d = &rng_dev;
	struct vq *q = &d->vq[0];
	uint8_t first[16], or_all = 0, byte0 = 0;
	bool varied = false;
	uint8_t *buf;

	if (count == 0 || chunk == 0 || chunk > 65536)
		fail_exit(EXIT_USAGE, "rng: count must be > 0 and chunk 1..65536");
	d->name = "rng";
	d->type = VIRTIO_ID_RNG;
	d->nr_vqs = 1;
	d->want = 0;
	dma_scratch_reset();
	if (vdev_open(d))
		return -1;
	vdev_describe(d);
	if (!(buf = dma_scratch_alloc(chunk)))
		return -1;

	irqs0 = vdev_queue_irqs(d);
	notifies0 = q->notifies;
	t0 = rdtsc();
	while (got < count) {
		uint32_t want = (uint32_t)(count - got < chunk ? count - got : chunk), len;
		struct vbuf b = {pa(buf), want, true};
		int w;

		memset(buf, 0, want);
		if (vq_add(q, &b, 1, buf) < 0)
			return fail("rng: queue full");
		w = vq_kick_and_take(q, buf, d->timeout_tsc, &len);
		if (w)
			return fail("rng: %s after %lu of %lu bytes", vq_wait_name(w), got, count);
		requests++;
		if (len > want) {
			kprintf("rng: device wrote %u bytes into a %u-byte buffer\n", len, want);
			errors++;
			len = want;
		}
		if (len == 0 && ++empty > 1000)
			return fail("rng: 1000 empty answers");
		for (uint32_t i = 0; i < len; i++) {
			uint64_t at = got + i;

			if (at < sizeof(first))
				first[at] = buf[i];
			if (at == 0)
				byte0 = buf[i];
			else if (buf[i] != byte0)
				varied = true;
			or_all |= buf[i];
		}
		got += len;
	}
	ns = tsc_to_ns(rdtsc() - t0);
	vdev_close(d);

	kprintf("rng: first bytes");
	for (unsigned i = 0; i < sizeof(first) && i < got; i++)
		kprintf(" %02x", first[i]);
	kprintf("\n");
	if (!or_all) {
		kprintf("rng: every byte is zero\n");
		errors++;
	} else if (!varied && got > 1) {
		kprintf("rng: every byte is 0x%02x\n", byte0);
		errors++;
	}
	kprintf("RESULT test=rng ops=%lu ns=%lu errors=%lu requests=%lu chunk=%lu notifies=%lu "
		"irqs=%lu\n",
		got, ns, errors, requests, chunk, q->notifies - notifies0,
		vdev_queue_irqs(d) - irqs0);
	if (errors)
		return fail("rng: the entropy looks wrong");
	return 0;
}

/* ---- console ------------------------------------------------------------------------------ */

static void print_sanitized(const char *prefix, const uint8_t *s, size_t n)
{
	char line[ECHO_MAX + 1];

	for (size_t i = 0; i < n; i++)
		line[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? (char)s[i] : '.';
	line[n] = '\0';
	kprintf("%s%s\n", prefix, line);
}

int run_console(void)
{
	static const char msg[] = "virtio-console: hello from the guest\n";
	uint64_t echo = cmdline_u64("echo", 0);
	uint64_t echo_tsc = tsc_khz * cmdline_u64("timeout_ms", 20000);
	uint64_t t0, ns, irqs0, notifies0;
	struct vdev *d = &con_dev;
	struct vq *rx = &d->vq[CONSOLE_RXQ], *tx = &d->vq[CONSOLE_TXQ];
	uint8_t got[ECHO_MAX];
	uint8_t *rxbuf, *txbuf;
	size_t ngot = 0;
	void *token;
	uint32_t len;
	int w;

	if (echo > ECHO_MAX)
		fail_exit(EXIT_USAGE, "console: echo must be at most %u", ECHO_MAX);
	d->name = "console";
	d->type = VIRTIO_ID_CONSOLE;
	d->nr_vqs = 2;
	d->want = 0; /* no MULTIPORT, SIZE or EMERG_WRITE */
	dma_scratch_reset();
	if (vdev_setup(d))
		return -1;
	rxbuf = dma_scratch_alloc(CONSOLE_RX_BUFS * CONSOLE_RX_LEN);
	txbuf = dma_scratch_alloc(sizeof(msg));
	if (!rxbuf || !txbuf)
		return -1;
	/* Receive buffers go in before DRIVER_OK; the kick only after it. */
	for (unsigned i = 0; i < CONSOLE_RX_BUFS; i++) {
		struct vbuf b = {pa(rxbuf + i * CONSOLE_RX_LEN), CONSOLE_RX_LEN, true};

		vq_add(rx, &b, 1, rxbuf + i * CONSOLE_RX_LEN);
	}
	vdev_driver_ok(d);
	vdev_describe(d);
	vq_kick(rx);

	irqs0 = vdev_queue_irqs(d);
	notifies0 = tx->notifies + rx->notifies;
	t0 = rdtsc();
	memcpy(txbuf, msg, sizeof(msg) - 1);
	struct vbuf b = {pa(txbuf), sizeof(msg) - 1, false};

	if (vq_add(tx, &b, 1, txbuf) < 0)
		return fail("console: transmitq full");
	w = vq_kick_and_take(tx, txbuf, d->timeout_tsc, &len);
	if (w)
		return fail("console: transmitq: %s", vq_wait_name(w));
	kprintf("console: sent %u bytes on the transmitq\n", (unsigned)(sizeof(msg) - 1));

	while (ngot < echo) {
		w = vq_wait(rx, echo_tsc);
		if (w)
			return fail("console: only %lu of %lu bytes arrived on the receiveq (%s)",
				    (uint64_t)ngot, echo,
				    w == VQ_WAIT_TIMEOUT ? "timeout" : "device needs reset");
		while (vq_get_used(rx, &token, &len) == 1) {
			uint8_t *p = token;

			if (len > CONSOLE_RX_LEN)
				return fail("console: %u bytes in a %u-byte buffer", len,
					    CONSOLE_RX_LEN);
			for (uint32_t i = 0; i < len && ngot < echo; i++)
				got[ngot++] = p[i];
			struct vbuf rb = {pa(p), CONSOLE_RX_LEN, true};

			vq_add(rx, &rb, 1, p);
		}
		vq_kick(rx);
	}
	ns = tsc_to_ns(rdtsc() - t0);
	vdev_close(d);
	if (echo)
		print_sanitized("virtio-console: echo: ", got, ngot);
	kprintf("RESULT test=console ops=%u ns=%lu errors=0 rx=%lu notifies=%lu irqs=%lu\n",
		(unsigned)(sizeof(msg) - 1), ns, (uint64_t)ngot,
		tx->notifies + rx->notifies - notifies0, vdev_queue_irqs(d) - irqs0);
	return 0;
}
