/* SPDX-License-Identifier: MIT */
/*
 * internal_error.h -- what vireo tells about a vCPU KVM cannot run on
 * (KVM_EXIT_INTERNAL_ERROR): which failure, where, in which mode, on which
 * instruction bytes.
 *
 * Split in two so the words can be tested without KVM: the vCPU thread reads
 * the registers (ioctls) and hands them with the exit to
 * internal_error_capture(), which keeps plain facts in a struct
 * internal_error; internal_error_describe() and the report format those facts.
 */
#ifndef VIREO_X86_INTERNAL_ERROR_H
#define VIREO_X86_INTERNAL_ERROR_H

#include "vireo/core/gmem.h"
#include "vireo/arch/x86/paging.h"

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INTERNAL_ERROR_MAX_DATA 16 /* kvm_run's internal.data[] */
#define X86_MAX_INSN_LEN	15

/* Room for internal_error_insn_hex(): "xx " per byte, the last without the space. */
#define INTERNAL_ERROR_HEX_LEN (3 * X86_MAX_INSN_LEN)

/* Room for internal_error_describe()'s longest line (16 data words), NUL included. */
#define INTERNAL_ERROR_LINE_LEN 512

struct internal_error {
	unsigned vcpu;
	uint32_t suberror; /* KVM_INTERNAL_ERROR_* */
	uint32_t ndata;	   /* words of data[] KVM filled */
	uint64_t data[INTERNAL_ERROR_MAX_DATA];
	bool have_regs; /* false: the registers could not be read; rip, cpl, mode unknown */
	uint64_t rip;
	unsigned cpl;
	enum x86_cpu_mode mode;
	uint8_t insn[X86_MAX_INSN_LEN]; /* the bytes at CS:RIP */
	unsigned insn_len;		/* 0: unavailable */
	bool insn_from_kvm;		/* KVM's copy, not read from guest memory */
};

/*
 * "emulation failure", "exception while delivering an exception", "exit
 * while delivering an event", "unexpected exit reason"; NULL for a
 * suberror this list does not know.
 */
const char *internal_error_suberror_name(uint32_t suberror);

/*
 * Record vCPU `vcpu`'s internal-error exit `run`. regs and sregs are its
 * registers, or NULL when KVM would not give them. The instruction bytes are
 * KVM's when it gave them (KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES);
 * otherwise those readable at CS:RIP through the guest's page tables in m.
 */
void internal_error_capture(struct internal_error *e, unsigned vcpu, const struct kvm_run *run,
			    const struct kvm_regs *regs, const struct kvm_sregs *sregs,
			    const struct gmem *m);

/* The instruction bytes as "0f c7 0e", or "" when there are none. */
void internal_error_insn_hex(const struct internal_error *e, char *buf, size_t len);

/*
 * One line (no newline) for the exit report, truncated to fit len:
 *   vCPU 0: KVM internal error: emulation failure (suberror 1) at
 *   rip=0xffffffff81a2c3d4 cpl=0 mode=long64 insn=0f c7 0e 48 89
 * Other suberrors add KVM's data words, "data=0x1,0x2".
 */
void internal_error_describe(const struct internal_error *e, char *buf, size_t len);

#endif
