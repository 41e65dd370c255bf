/* SPDX-License-Identifier: MIT */
/*
 * internal_error.c -- the facts of a KVM_EXIT_INTERNAL_ERROR, and the line
 * that tells them. No ioctls here: vcpu.c reads the registers.
 */
#include "vireo/arch/x86/internal_error.h"

#include "vireo/lib/util.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *internal_error_suberror_name(uint32_t suberror)
{
	switch (suberror) {
	case KVM_INTERNAL_ERROR_EMULATION:
		return "emulation failure";
	case KVM_INTERNAL_ERROR_SIMUL_EX:
		return "exception while delivering an exception";
	case KVM_INTERNAL_ERROR_DELIVERY_EV:
		return "exit while delivering an event";
	case KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON:
		return "unexpected exit reason";
	default:
		return NULL;
	}
}

/*
 * KVM's copy of the instruction, when it says it gave one: the emulation
 * failure layout puts flags in data[0] and the size and bytes in data[1..2].
 */
static bool kvm_insn_bytes(struct internal_error *e, const struct kvm_run *run)
{
	unsigned n = run->emulation_failure.insn_size;

	if (run->internal.suberror != KVM_INTERNAL_ERROR_EMULATION || run->internal.ndata < 3 ||
	    !(run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES) ||
	    n == 0)
		return false;
	e->insn_len = n < X86_MAX_INSN_LEN ? n : X86_MAX_INSN_LEN;
	memcpy(e->insn, run->emulation_failure.insn_bytes, e->insn_len);
	e->insn_from_kvm = true;
	return true;
}

void internal_error_capture(struct internal_error *e, unsigned vcpu, const struct kvm_run *run,
			    const struct kvm_regs *regs, const struct kvm_sregs *sregs,
			    const struct gmem *mem)
{
	memset(e, 0, sizeof(*e));
	e->vcpu = vcpu;
	e->suberror = run->internal.suberror;
	e->ndata = run->internal.ndata < INTERNAL_ERROR_MAX_DATA ? run->internal.ndata
								 : INTERNAL_ERROR_MAX_DATA;
	memcpy(e->data, run->internal.data, e->ndata * sizeof(e->data[0]));
	if (regs && sregs) {
		e->have_regs = true;
		e->rip = regs->rip;
		e->mode = x86_cpu_mode(sregs, regs->rflags);
		e->cpl = x86_cpl(sregs, e->mode);
	}
	if (kvm_insn_bytes(e, run) || !e->have_regs)
		return;
	e->insn_len = (unsigned)x86_read_linear(
	    mem, sregs, x86_code_address(sregs, e->mode, e->rip), e->insn, X86_MAX_INSN_LEN);
}

void internal_error_insn_hex(const struct internal_error *e, char *buf, size_t len)
{
	size_t used = 0;

	if (len)
		buf[0] = '\0';
	for (unsigned i = 0; i < e->insn_len && used < len; i++) {
		int n = snprintf(buf + used, len - used, "%s%02x", i ? " " : "", e->insn[i]);

		if (n < 0)
			break;
		used += (size_t)n;
	}
}

/* snprintf at buf[*used], keeping *used within len (output past it is cut). */
__attribute__((format(printf, 4, 5))) static void append(char *buf, size_t len, size_t *used,
							 const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*used >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *used, len - *used, fmt, ap);
	va_end(ap);
	if (n > 0)
		*used = *used + (size_t)n < len ? *used + (size_t)n : len;
}

void internal_error_describe(const struct internal_error *e, char *buf, size_t len)
{
	const char *name = internal_error_suberror_name(e->suberror);
	char hex[INTERNAL_ERROR_HEX_LEN];
	size_t used = 0;

	if (!len)
		return;
	buf[0] = '\0';
	append(buf, len, &used, "vCPU %u: KVM internal error: ", e->vcpu);
	if (name)
		append(buf, len, &used, "%s (suberror %" PRIu32 ")", name, e->suberror);
	else
		append(buf, len, &used, "unknown suberror %" PRIu32, e->suberror);
	if (e->have_regs)
		append(buf, len, &used, " at rip=0x%" PRIx64 " cpl=%u mode=%s", e->rip, e->cpl,
		       x86_cpu_mode_name(e->mode));
	else
		append(buf, len, &used, ", registers unavailable");
	internal_error_insn_hex(e, hex, sizeof(hex));
	if (e->insn_len)
		append(buf, len, &used, " insn=%s", hex);
	else
		append(buf, len, &used, " insn bytes unavailable");
	/* An emulation failure's words are the flags and bytes shown above. */
	if (e->suberror == KVM_INTERNAL_ERROR_EMULATION)
		return;
	for (unsigned i = 0; i < e->ndata; i++)
		append(buf, len, &used, "%s0x%" PRIx64, i ? "," : " data=", e->data[i]);
}
