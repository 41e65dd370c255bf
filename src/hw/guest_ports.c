/* SPDX-License-Identifier: MIT */
/* guest_ports.c -- the ports of vireo's guest ABI (see guest_abi.h). */
#include "vireo/hw/legacy.h"
#include "vireo/lib/util.h"

void debug_exit_io(void *dev, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
	struct debug_exit *de = dev;

	(void)offset;
	if (!is_write || len == 0) {
		if (!is_write)
			data[0] = 0;
		return;
	}
	/* QEMU's isa-debug-exit with iosize 1 looks at one byte: so do we. */
	de->exit(de->opaque, data[0]);
}

void boot_timer_io(void *dev, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
	struct boot_timer *t = dev;
	uint64_t expected = 0;

	(void)offset;
	(void)len;
	if (!is_write) {
		data[0] = 0;
		return;
	}
	/* Only the first write counts: later ones keep the boot figure. */
	atomic_compare_exchange_strong(&t->first_write_ns, &expected, now_ns());
}

void sink_io(void *dev, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
	(void)dev;
	(void)offset;
	if (!is_write)
		for (unsigned i = 0; i < len; i++)
			data[i] = 0;
}
