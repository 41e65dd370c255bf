# tools/tools.mk -- host tools, included by the top-level (non-recursive) Makefile.
# Needs Debian's liblz4-dev and zlib1g-dev.

TOOLS_CFLAGS := -std=c11 -O2 -Wall -Wextra -Werror
TOOLS_LDLIBS := -llz4 -lz

# extract-vmlinux BZIMAGE OUT: the PVH vmlinux inside a bzImage (tests/linux/).
EXTRACT_VMLINUX := build/tools/extract-vmlinux

.PHONY: tools
tools: $(EXTRACT_VMLINUX)

$(EXTRACT_VMLINUX): tools/extract-vmlinux.c tools/tools.mk | deps
	@mkdir -p $(@D)
	$(CC) $(TOOLS_CFLAGS) -o $@ $< $(TOOLS_LDLIBS)
