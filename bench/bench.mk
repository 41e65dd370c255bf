# bench/bench.mk -- what the benchmarks build besides vireo and the test
# guest, included by the top-level (non-recursive) Makefile.
#
#   $(BENCH_STARTUP_BARE)   bench/startup's floor: the least a KVM program does
#                           to run a guest to its first port write and exit
#   $(BENCH_STARTUP_GUEST)  the guest bench/startup boots under every VMM: a
#                           PVH ELF that marks its first instruction and exits

BENCH_STARTUP_BARE := build/bench/startup-bare
BENCH_STARTUP_GUEST := build/bench/startup-guest.elf

.PHONY: bench-tools
bench-tools: $(BENCH_STARTUP_BARE) $(BENCH_STARTUP_GUEST)

# The host build's warnings, no libraries: it stands for any KVM program.
$(BENCH_STARTUP_BARE): bench/startup-bare.c bench/bench.mk | deps
	@mkdir -p $(@D)
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror -Wshadow -Wvla -Wstrict-prototypes \
		-Wmissing-prototypes -o $@ $<

# 32-bit code in an ELF64 at 1 MiB: what vireo's PVH loader and QEMU's take.
$(BENCH_STARTUP_GUEST): bench/startup-guest.S bench/startup-guest.ld bench/bench.mk | deps
	@mkdir -p $(@D)
	$(CC) -nostdlib -static -no-pie -ffreestanding -Wl,-T,bench/startup-guest.ld \
		-Wl,--build-id=none -Wl,-z,noexecstack -o $@ bench/startup-guest.S
