#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check-bzimage.py ELF BZIMAGE -- verify the test guest's two images agree.

Checks the Linux boot-protocol setup header of BZIMAGE field by field, that
the payload at (setup_sects + 1) * 512 is byte for byte the ELF's loadable
segment, that entry32_linux / entry64_linux sit at payload offsets 0 / 0x200
and start by writing the boot-timer port, and that the ELF carries a PVH note
pointing at pvh_entry. Prints one line per check; exit status 1 on a failure.
"""
import struct
import sys

LOAD_ADDR = 0x100000
PT_LOAD, PT_NOTE = 1, 4
# mov $0x4f4, %dx; out %al, %dx  (VIREO_PORT_BOOT_TIMER, the first I/O)
BOOT_TIMER_OUT = bytes([0x66, 0xBA, 0xF4, 0x04, 0xEE])

failures = 0


def check(ok, what):
    global failures
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures += 1


def elf_info(elf):
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        sys.exit("not an ELF64 file")
    (e_entry, e_phoff, e_shoff) = struct.unpack_from("<QQQ", elf, 24)
    (e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx) = struct.unpack_from("<HHHHH", elf, 54)
    phdrs = []
    for i in range(e_phnum):
        p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align = \
            struct.unpack_from("<IIQQQQQQ", elf, e_phoff + i * e_phentsize)
        phdrs.append(dict(type=p_type, offset=p_offset, vaddr=p_vaddr, paddr=p_paddr,
                          filesz=p_filesz, memsz=p_memsz))
    shdrs = []
    for i in range(e_shnum):
        sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, sh_link, sh_info, sh_addralign, \
            sh_entsize = struct.unpack_from("<IIQQQQIIQQ", elf, e_shoff + i * e_shentsize)
        shdrs.append(dict(type=sh_type, offset=sh_offset, size=sh_size, link=sh_link,
                          entsize=sh_entsize))
    symbols = {}
    for sh in shdrs:
        if sh["type"] != 2:  # SHT_SYMTAB
            continue
        strtab = shdrs[sh["link"]]
        for off in range(sh["offset"], sh["offset"] + sh["size"], sh["entsize"]):
            st_name, st_info, st_other, st_shndx, st_value, st_size = \
                struct.unpack_from("<IBBHQQ", elf, off)
            start = strtab["offset"] + st_name
            name = elf[start:elf.index(b"\0", start)].decode()
            if name:
                symbols[name] = st_value
    return e_entry, phdrs, symbols


def notes(elf, ph):
    off, end = ph["offset"], ph["offset"] + ph["filesz"]
    while off + 12 <= end:
        namesz, descsz, ntype = struct.unpack_from("<III", elf, off)
        name = elf[off + 12:off + 12 + namesz].rstrip(b"\0").decode()
        doff = off + 12 + ((namesz + 3) & ~3)
        yield name, ntype, elf[doff:doff + descsz]
        off = doff + ((descsz + 3) & ~3)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    elf = open(sys.argv[1], "rb").read()
    bz = open(sys.argv[2], "rb").read()
    e_entry, phdrs, syms = elf_info(elf)
    loads = [p for p in phdrs if p["type"] == PT_LOAD]
    check(len(loads) == 1, "ELF has exactly one PT_LOAD segment (%d)" % len(loads))
    seg = loads[0]
    check(seg["paddr"] == LOAD_ADDR and seg["vaddr"] == LOAD_ADDR,
          "PT_LOAD at paddr/vaddr 0x%x" % seg["paddr"])
    seg_bytes = elf[seg["offset"]:seg["offset"] + seg["filesz"]]

    def u8(o): return bz[o]
    def u16(o): return struct.unpack_from("<H", bz, o)[0]
    def u32(o): return struct.unpack_from("<I", bz, o)[0]
    def u64(o): return struct.unpack_from("<Q", bz, o)[0]

    setup_sects = u8(0x1f1) or 4
    payload_off = (setup_sects + 1) * 512
    payload = bz[payload_off:]
    check(u16(0x1fe) == 0xAA55, "boot_flag 0x1fe = 0xaa55")
    check(bz[0x202:0x206] == b"HdrS", "header 0x202 = \"HdrS\"")
    check(u16(0x206) == 0x020F, "version 0x206 = 0x%04x (want 0x020f)" % u16(0x206))
    check(u8(0x1f1) >= 1, "setup_sects 0x1f1 = %d" % u8(0x1f1))
    check(u32(0x1f4) == (len(payload) + 15) // 16,
          "syssize 0x1f4 = %d paragraphs for a %d-byte payload" % (u32(0x1f4), len(payload)))
    check(u8(0x211) & 0x01, "loadflags 0x211 = 0x%02x has LOADED_HIGH" % u8(0x211))
    check(u32(0x214) == LOAD_ADDR, "code32_start 0x214 = 0x%x" % u32(0x214))
    check(u32(0x230) == 0x200000, "kernel_alignment 0x230 = 0x%x" % u32(0x230))
    check(u8(0x234) == 0, "relocatable_kernel 0x234 = %d" % u8(0x234))
    check(u16(0x236) & 0x1, "xloadflags 0x236 = 0x%x has XLF_KERNEL_64" % u16(0x236))
    check(u32(0x238) >= 255, "cmdline_size 0x238 = %d" % u32(0x238))
    check(u64(0x258) == LOAD_ADDR, "pref_address 0x258 = 0x%x" % u64(0x258))
    span = syms["__image_end"] - LOAD_ADDR
    check(u32(0x260) >= seg["memsz"] and u32(0x260) >= span,
          "init_size 0x260 = 0x%x covers image + bss + stacks (0x%x)" % (u32(0x260), span))
    check(u32(0x228) == 0 and u32(0x218) == 0, "cmd_line_ptr and ramdisk_image are 0 (loader fills)")
    kv = 0x200 + u16(0x20e)
    check(bz[kv:bz.index(b"\0", kv)] == b"vireo test guest",
          "kernel_version string at 0x%x" % kv)
    check(payload == seg_bytes,
          "payload at file offset 0x%x (%d bytes) == ELF PT_LOAD bytes (%d)"
          % (payload_off, len(payload), len(seg_bytes)))
    e32 = syms["entry32_linux"] - LOAD_ADDR
    e64 = syms["entry64_linux"] - LOAD_ADDR
    check(e32 == 0, "entry32_linux at payload offset 0x%x" % e32)
    check(e64 == 0x200, "entry64_linux at payload offset 0x%x" % e64)
    check(e_entry == LOAD_ADDR + 0x200, "ELF e_entry = 0x%x (64-bit entry)" % e_entry)
    check(payload[e64:e64 + 5] == BOOT_TIMER_OUT, "entry64 starts with out to port 0x4f4")
    check(payload[e32:e32 + 5] == BOOT_TIMER_OUT, "entry32 starts with out to port 0x4f4")
    pvh = [d for p in phdrs if p["type"] == PT_NOTE for (n, t, d) in notes(elf, p)
           if n == "Xen" and t == 18]
    check(len(pvh) == 1 and len(pvh[0]) == 4, "PT_NOTE Xen/XEN_ELFNOTE_PHYS32_ENTRY, 4 bytes")
    if pvh:
        addr = struct.unpack("<I", pvh[0][:4])[0]
        check(addr == syms["pvh_entry"], "PVH entry 0x%x == pvh_entry" % addr)
        off = addr - LOAD_ADDR
        check(0 <= off < len(payload) and payload[off:off + 5] == BOOT_TIMER_OUT,
              "PVH entry is in the image and starts with out to port 0x4f4")
    print("%d check(s) failed" % failures if failures else "all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
