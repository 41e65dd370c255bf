/* SPDX-License-Identifier: MIT */
/* guest_ports.c -- the ports of vireo's guest ABI (see guest_abi.h). */
#include "vireo/hw/legacy.h"
#include "vireo/util.h"
#include "vireo/vm.h"

#include <stdio.h>

void debug_exit_io(void *dev, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
	struct vm *vm = dev;
	char detail[64];
	unsigned code;

	(void)offset;
	if (!is_write || len == 0) {
		if (!is_write)
			data[0] = 0;
		return;
	}
	/* QEMU's isa-debug-exit with iosize 1 looks at one byte: so do we. */
	code = data[0];
	snprintf(detail, sizeof(detail), "guest wrote %u to the debug-exit port", code);
	vm_request_stop(vm, STOP_DEBUG_EXIT, (int)((code << 1) | 1), detail);
}

void boot_timer_io(void *dev, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
	struct vm *vm = dev;
	uint64_t expected = 0;

	(void)offset;
	(void)len;
	if (!is_write) {
		data[0] = 0;
		return;
	}
	/* Only the first write counts: later ones keep the boot figure. */
	atomic_compare_exchange_strong(&vm->first_insn_ns, &expected, now_ns());
}

void sink_io(void *dev, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
	(void)dev;
	(void)offset;
	if (!is_write)
		for (unsigned i = 0; i < len; i++)
			data[i] = 0;
}
