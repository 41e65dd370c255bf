# tests/tests.mk -- unit tests (cmocka, no KVM), included by the top Makefile.
# Each tests/unit/test_NAME.c becomes build/tests/test_NAME, linked against
# the sanitized library of vireo's objects (everything but main).
#
# The tests that run threads (the I/O thread, the virtio-pci transport with
# its I/O thread) are also built with ThreadSanitizer into build/tests-tsan/,
# against a TSan build of the same objects: TSan and ASan cannot share a
# binary. tests/run-tests.sh runs both, the TSan ones with
# tests/unit/tsan.supp. (test_virtio_blk is not there yet: its helpers read
# guest memory ordered only by queue.c's fences, which TSan does not model.)

UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_TESTS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

$(BUILD)/tests/%: tests/unit/%.c $(LIBVIREO_SAN) tests/unit/unit.h | deps
	@mkdir -p $(@D)
	$(CC) $(SAN_CFLAGS) -Itests/unit -o $@ $< $(LIBVIREO_SAN) -lcmocka $(LDLIBS)

# -Wno-tsan: gcc warns that TSan does not model the fences of queue.c (the
# barriers against the guest); the ring indices they order are atomics anyway.
TSAN_CFLAGS := $(CFLAGS_COMMON) -O1 -fsanitize=thread -fno-omit-frame-pointer -Wno-tsan
VIREO_TSAN_OBJS := $(VIREO_SRCS:%.c=$(BUILD)/tsan/%.o)
LIBVIREO_TSAN := $(BUILD)/libvireo-tsan.a
TSAN_TESTS := $(addprefix $(BUILD)/tests-tsan/,test_iothread test_virtio_pci test_virtio_net)

$(BUILD)/tsan/%.o: %.c Makefile | deps
	@mkdir -p $(@D)
	$(CC) $(TSAN_CFLAGS) -c -o $@ $<

$(LIBVIREO_TSAN): $(VIREO_TSAN_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/tests-tsan/%: tests/unit/%.c $(LIBVIREO_TSAN) tests/unit/unit.h | deps
	@mkdir -p $(@D)
	$(CC) $(TSAN_CFLAGS) -Itests/unit -o $@ $< $(LIBVIREO_TSAN) -lcmocka $(LDLIBS)

unit-tests: $(UNIT_TESTS) $(TSAN_TESTS)
check: $(TSAN_TESTS)

-include $(VIREO_TSAN_OBJS:.o=.d)
