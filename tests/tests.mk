# tests/tests.mk -- unit tests (cmocka, no KVM), included by the top Makefile.
# Each tests/unit/test_NAME.c becomes build/tests/test_NAME, linked against
# the sanitized library of vireo's objects (everything but main).

UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_TESTS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

$(BUILD)/tests/%: tests/unit/%.c $(LIBVIREO_SAN) tests/unit/unit.h | deps
	@mkdir -p $(@D)
	$(CC) $(SAN_CFLAGS) -Itests/unit -o $@ $< $(LIBVIREO_SAN) -lcmocka $(LDLIBS)

unit-tests: $(UNIT_TESTS)
