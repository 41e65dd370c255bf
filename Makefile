# vireo -- top-level, non-recursive Makefile.
#
#   make          build build/vireo, the test guest, the host tools and the bench's programs
#   make run      ... and boot the test guest (hello), printing its exit report
#   make check    build everything and run every test; last line "N passed, N failed"
#   make format   clang-format the C sources
#
# Every target first runs mk/deps.sh, which installs missing Debian packages.

CC ?= gcc
BUILD := build

CFLAGS_COMMON := -std=c11 -D_GNU_SOURCE -g -Wall -Wextra -Werror -Wshadow -Wvla \
	-Wstrict-prototypes -Wmissing-prototypes -Iinclude -pthread -MMD -MP
CFLAGS := $(CFLAGS_COMMON) -O2
LDLIBS := -pthread -luring -lseccomp
# build/vireo is static-pie: no dynamic loader and no libraries to map and
# relocate at every start (0.6 ms of CPU a boot on our PVM host, bench/startup),
# still position-independent for ASLR. The sanitized builds stay dynamic.
VIREO_LDFLAGS := -static-pie
# The test build: the same sources with AddressSanitizer and UBSan.
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
# VIREO_TEST_HOOKS: test-only paths (e.g. VIREO_TEST_FORBIDDEN_SYSCALL, which
# makes a thread call execve to show the sandbox stops it); never in build/vireo.
SAN_CFLAGS := $(CFLAGS_COMMON) -O1 $(SAN_FLAGS) -DVIREO_TEST_HOOKS

VIREO_SRCS := $(sort $(wildcard src/*/*.c src/*/*/*.c))
VIREO_OBJS := $(VIREO_SRCS:%.c=$(BUILD)/obj/%.o)
VIREO_SAN_OBJS := $(VIREO_SRCS:%.c=$(BUILD)/san/%.o)
MAIN_OBJ := $(BUILD)/obj/src/main.o
MAIN_SAN_OBJ := $(BUILD)/san/src/main.o

VIREO := $(BUILD)/vireo
VIREO_SAN := $(BUILD)/vireo-san
LIBVIREO_SAN := $(BUILD)/libvireo-san.a

.PHONY: all deps run check unit-tests format clean
all: deps $(VIREO) guest tools bench-tools

deps:
	@sh mk/deps.sh

# Every compile waits for deps (order-only), so `make -j` on a fresh machine
# installs the packages before the first compiler runs.
$(BUILD)/obj/%.o: %.c Makefile | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/san/%.o: %.c Makefile | deps
	@mkdir -p $(@D)
	$(CC) $(SAN_CFLAGS) -c -o $@ $<

$(VIREO): $(VIREO_OBJS) $(MAIN_OBJ)
	$(CC) $(CFLAGS) $(VIREO_LDFLAGS) -o $@ $^ $(LDLIBS)

$(VIREO_SAN): $(VIREO_SAN_OBJS) $(MAIN_SAN_OBJ)
	$(CC) $(SAN_CFLAGS) -o $@ $^ $(LDLIBS)

$(LIBVIREO_SAN): $(VIREO_SAN_OBJS)
	@rm -f $@
	ar rcs $@ $^

include guest/guest.mk
include tools/tools.mk
include bench/bench.mk
include tests/tests.mk
include tests/fuzz/fuzz.mk

# After the includes: a prerequisite list is expanded when its rule is read.
all: $(GUEST_BZSHIM)

# Boot the test guest: its success is debug-exit code 0, i.e. status 1.
# Without /dev/kvm here, vireo runs on KVM inside an emulated machine
# (tests/emu-kvm), so the command works on every machine we have.
RUN_CMD := $(VIREO) run --debug-exit --kernel $(GUEST_BZ) --cmdline "console=ttyS0 test=hello"
run: all
	@if [ -c /dev/kvm ]; then $(RUN_CMD); else \
	echo "run: no /dev/kvm here: running vireo on KVM inside QEMU TCG (tests/emu-kvm)" >&2; \
	tests/emu-kvm/run-in-vm.sh $(RUN_CMD); fi; \
	status=$$?; [ $$status -eq 1 ] || { echo "vireo exited with $$status" >&2; exit 1; }

check: all $(VIREO_SAN) $(UNIT_TESTS)
	@tests/run-tests.sh

format:
	clang-format -i $$(git ls-files --cached --others --exclude-standard '*.c' '*.h')

clean:
	rm -rf $(BUILD)

-include $(VIREO_OBJS:.o=.d) $(VIREO_SAN_OBJS:.o=.d) $(MAIN_OBJ:.o=.d) $(MAIN_SAN_OBJ:.o=.d)
