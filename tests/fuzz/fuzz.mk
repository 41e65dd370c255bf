# tests/fuzz/fuzz.mk -- libFuzzer targets, included by the top Makefile.
#
#   make fuzz         build build/fuzz/fuzz_NAME for every tests/fuzz/fuzz_NAME.c
#   make fuzz-smoke   run each one for FUZZ_TIME seconds (default 20) from its
#                     seed corpus, tests/fuzz/corpus/NAME/
#
# clang compiles the sources each target needs (FUZZ_SRCS_NAME) straight into
# the fuzzer with libFuzzer, ASan and UBSan: not the gcc-built library.

FUZZ_CC := clang
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -Iinclude -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all -Wall -Wextra -Werror -Wshadow -Wvla -Wstrict-prototypes \
	-Wmissing-prototypes -pthread
FUZZ_TIME ?= 20

FUZZ_NAMES := virtqueue
FUZZ_SRCS_virtqueue := src/virtio/queue.c src/virtio/device.c src/core/gmem.c src/lib/util.c
FUZZ_NAMES += blk
FUZZ_SRCS_blk := src/virtio/blk.c src/virtio/blk_req.c src/block/disk.c src/block/sync.c \
	src/virtio/queue.c src/virtio/device.c src/core/iothread.c src/core/gmem.c src/lib/util.c
FUZZ_NAMES += virtio_pci
FUZZ_SRCS_virtio_pci := src/virtio/virtio_pci.c src/pci/pci.c src/pci/msix.c src/pci/intx.c \
	src/core/irq.c src/core/bus.c src/virtio/blk.c src/virtio/blk_req.c src/block/disk.c \
	src/block/sync.c src/block/uring.c src/virtio/queue.c src/virtio/device.c \
	src/core/iothread.c src/core/gmem.c src/lib/util.c
# io_uring for real, and the engine opener wrapped so the fuzzer watches every request.
FUZZ_LDFLAGS_virtio_pci := -luring -Wl,--wrap=disk_backend_open
FUZZ_NAMES += virtio_net
FUZZ_SRCS_virtio_net := src/virtio/net.c src/net/tap.c src/virtio/queue.c src/virtio/device.c \
	src/core/iothread.c src/core/gmem.c src/lib/util.c
# The fake tap is a socket, which takes no TUNSETOFFLOAD: the fuzzer answers instead.
FUZZ_LDFLAGS_virtio_net := -Wl,--wrap=tap_set_offloads

FUZZERS := $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)
FUZZ_HDRS := $(wildcard include/vireo/*.h include/vireo/*/*.h)

define fuzz_rule
$(BUILD)/fuzz/fuzz_$(1): tests/fuzz/fuzz_$(1).c $(FUZZ_SRCS_$(1)) $(FUZZ_HDRS) tests/fuzz/fuzz.mk | deps
	@mkdir -p $$(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $$@ $$< $(FUZZ_SRCS_$(1)) $(FUZZ_LDFLAGS_$(1))
endef
$(foreach f,$(FUZZ_NAMES),$(eval $(call fuzz_rule,$(f))))

.PHONY: fuzz fuzz-smoke
fuzz: $(FUZZERS)

fuzz-smoke: $(FUZZERS)
	@FUZZ_TIME=$(FUZZ_TIME) tests/fuzz/run-fuzz-smoke.sh --no-build $(FUZZ_NAMES)
