/* SPDX-License-Identifier: MIT */
/*
 * i8042.c -- just enough of the PS/2 controller for a guest to reset the
 * machine (Linux reboot=k pulses the CPU reset line with command 0xfe).
 * No keyboard: status reads 0 (both buffers empty) and data reads 0, so a
 * probing driver sees a controller that never answers and gives up quietly.
 */
#include "vireo/hw/legacy.h"
#include "vireo/vm.h"

#define I8042_CMD_RESET_CPU 0xfe

void i8042_data_io(void *dev, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
	(void)dev;
	(void)offset;
	if (!is_write && len == 1)
		data[0] = 0; /* no keyboard: never any data */
}

void i8042_cmd_io(void *dev, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
	struct vm *vm = dev;

	(void)offset;
	if (len != 1)
		return;
	if (!is_write) {
		data[0] = 0; /* status: both buffers empty */
		return;
	}
	if (data[0] == I8042_CMD_RESET_CPU)
		vm_request_stop(vm, STOP_RESET, 0, "guest reset through the i8042");
}
