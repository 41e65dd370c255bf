/* SPDX-License-Identifier: MIT */
/* no_pit.c -- the PIT's ports when there is no PIT (--no-pit); see no_pit.h. */
#include "vireo/hw/no_pit.h"

#include <string.h>

void no_pit_io(void *dev, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
	(void)dev;
	(void)offset;
	if (!is_write)
		memset(data, 0, len);
}

void no_pit_port61_io(void *dev, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
	(void)dev;
	(void)offset;
	if (is_write || len == 0)
		return;
	memset(data, 0, len);
	data[0] = NO_PIT_PORT61_OUT;
}
