# guest/guest.mk -- the freestanding test guest, included by the top-level
# (non-recursive) Makefile. Paths are relative to the repository root. Every
# variable is GUEST_-prefixed; nothing here touches the host build's flags.
#
#   make guest   builds the two interface files:
#     $(GUEST_ELF)  ELF64 at 1 MiB with a PVH note (QEMU -kernel, vireo PVH path)
#     $(GUEST_BZ)   the same code behind a Linux boot-protocol header (vireo bzImage path)
#   make guest-check   checks the bzImage header against the ELF (needs python3)
#   make guest-qemu    runs every workload under QEMU (needs qemu-system-x86_64)

GUEST_ELF := build/guest/test-guest.elf
GUEST_BZ := build/guest/test-guest.bzImage
GUEST_BIN := build/guest/test-guest.bin
GUEST_MKBZIMAGE := build/guest/mkbzimage
# Test-only: a PVH loader that boots $(GUEST_BZ) under QEMU through its 64-bit entry.
GUEST_BZSHIM := build/guest/bzshim.elf

GUEST_CC ?= gcc
GUEST_OBJCOPY ?= objcopy
GUEST_HOSTCC ?= cc

GUEST_CFLAGS := -std=gnu11 -O2 -g -ffreestanding -nostdlib -fno-pic -fno-pie -mno-red-zone \
	-mgeneral-regs-only -fno-stack-protector -fcf-protection=none -fno-asynchronous-unwind-tables \
	-fno-common -Wall -Wextra -Werror -Iinclude -Iguest -MMD -MP
GUEST_LDFLAGS := -nostdlib -static -no-pie -Wl,-T,guest/link.ld -Wl,--build-id=none \
	-Wl,-z,max-page-size=4096 -Wl,-z,noexecstack -Wl,--no-warn-rwx-segments
GUEST_HOST_CFLAGS := -std=c11 -O2 -Wall -Wextra -Werror
GUEST_SHIM_CFLAGS := -m32 -std=gnu11 -O2 -ffreestanding -nostdlib -fno-pic -fno-pie \
	-mgeneral-regs-only -fno-stack-protector -fcf-protection=none -fno-asynchronous-unwind-tables \
	-fno-tree-loop-distribute-patterns -Wall -Wextra -Werror

GUEST_C_SRCS := guest/main.c guest/console.c guest/lib.c guest/time.c guest/workloads.c \
	guest/smp.c guest/pci.c guest/virtio.c guest/blk.c guest/rng_console.c guest/net.c \
	guest/ablation.c
GUEST_S_SRCS := guest/entry.S guest/tables.S
GUEST_C_OBJS := $(patsubst guest/%.c,build/guest/obj/%.o,$(GUEST_C_SRCS))
GUEST_S_OBJS := $(patsubst guest/%.S,build/guest/obj/%.o,$(GUEST_S_SRCS))
GUEST_OBJS := $(GUEST_C_OBJS) $(GUEST_S_OBJS)
GUEST_DEPS := $(GUEST_OBJS:.o=.d)

# Do not become the default goal of the including Makefile.
GUEST_SAVED_DEFAULT_GOAL := $(.DEFAULT_GOAL)

.PHONY: guest guest-check guest-qemu guest-bzshim
guest: $(GUEST_ELF) $(GUEST_BZ)

$(GUEST_C_OBJS): build/guest/obj/%.o: guest/%.c guest/guest.mk | deps
	@mkdir -p $(@D)
	$(GUEST_CC) $(GUEST_CFLAGS) -c -o $@ $<

$(GUEST_S_OBJS): build/guest/obj/%.o: guest/%.S guest/guest.mk | deps
	@mkdir -p $(@D)
	$(GUEST_CC) $(GUEST_CFLAGS) -D__ASSEMBLY__ -c -o $@ $<

$(GUEST_ELF): $(GUEST_OBJS) guest/link.ld
	@mkdir -p $(@D)
	$(GUEST_CC) $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -o $@ $(GUEST_OBJS)

$(GUEST_BIN): $(GUEST_ELF)
	$(GUEST_OBJCOPY) -O binary $< $@

$(GUEST_MKBZIMAGE): guest/mkbzimage.c guest/guest.mk | deps
	@mkdir -p $(@D)
	$(GUEST_HOSTCC) $(GUEST_HOST_CFLAGS) -o $@ $<

$(GUEST_BZ): $(GUEST_ELF) $(GUEST_BIN) $(GUEST_MKBZIMAGE)
	$(GUEST_MKBZIMAGE) $(GUEST_ELF) $(GUEST_BIN) $@

$(GUEST_BZSHIM): guest/bzshim/shim.c guest/bzshim/shim.S guest/bzshim/shim.ld guest/guest.mk | deps
	@mkdir -p $(@D)
	$(GUEST_CC) $(GUEST_SHIM_CFLAGS) -static -no-pie -Wl,-T,guest/bzshim/shim.ld \
		-Wl,--build-id=none -Wl,-z,noexecstack -Wl,--no-warn-rwx-segments -o $@ \
		guest/bzshim/shim.c guest/bzshim/shim.S

guest-bzshim: $(GUEST_BZSHIM)

guest-check: $(GUEST_ELF) $(GUEST_BZ)
	python3 guest/check-bzimage.py $(GUEST_ELF) $(GUEST_BZ)

# Every workload under QEMU, booted as PVH ELF and as bzImage (64- and 32-bit entries).
guest-qemu: $(GUEST_ELF) $(GUEST_BZ) $(GUEST_BZSHIM)
	guest/qemu-test.sh $(GUEST_ELF)
	BOOT=bzimage guest/qemu-test.sh $(GUEST_ELF)
	BOOT=bzimage32 guest/qemu-test.sh $(GUEST_ELF)

-include $(GUEST_DEPS)

.DEFAULT_GOAL := $(GUEST_SAVED_DEFAULT_GOAL)
