/* SPDX-License-Identifier: MIT */
/*
 * test_internal_error.c -- a KVM internal error as vireo tells it: suberror
 * names, what is captured from a synthetic kvm_run and registers (KVM's
 * instruction bytes, or the guest's own read through its page tables), the
 * one-line detail and the "internal_error" object of the stats JSON.
 */
#include "unit.h"

#include "vireo/machine/machine.h"
#include "vireo/arch/x86/internal_error.h"

#define RAM MIB(16)

/* lock cmpxchg16b 0x20(%rbp), then whatever follows: what PVM stops on. */
static const uint8_t CMPXCHG16B[] = {0xf0, 0x48, 0x0f, 0xc7, 0x4d, 0x20, 0x74, 0x66,
				     0x4c, 0x8b, 0x44, 0x24, 0x08, 0x4d, 0x89};

static struct kvm_run *new_run(uint32_t suberror)
{
	struct kvm_run *run = calloc(1, sizeof(*run));

	assert_non_null(run);
	run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
	run->internal.suberror = suberror;
	return run;
}

/* An emulation failure the way KVM 5.14+ reports one: flags, then the bytes. */
static struct kvm_run *emulation_failure_with_bytes(const uint8_t *insn, uint8_t n)
{
	struct kvm_run *run = new_run(KVM_INTERNAL_ERROR_EMULATION);

	run->emulation_failure.ndata = 3;
	run->emulation_failure.flags = KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES;
	run->emulation_failure.insn_size = n;
	memcpy(run->emulation_failure.insn_bytes, insn, n);
	return run;
}

static void long_mode_regs(struct kvm_regs *r, struct kvm_sregs *s, uint64_t rip)
{
	*r = (struct kvm_regs){.rip = rip, .rflags = 0x2};
	*s = (struct kvm_sregs){.cr0 = X86_CR0_PE | X86_CR0_PG,
				.cr4 = X86_CR4_PAE,
				.efer = X86_EFER_LME | X86_EFER_LMA};
	s->cs.l = 1;
}

/* Flat 32-bit protected mode, paging off: CS.base + EIP is the physical address. */
static void prot32_regs(struct kvm_regs *r, struct kvm_sregs *s, uint64_t cs_base, uint64_t rip,
			unsigned cpl)
{
	*r = (struct kvm_regs){.rip = rip, .rflags = 0x2};
	*s = (struct kvm_sregs){.cr0 = X86_CR0_PE};
	s->cs.base = cs_base;
	s->cs.db = 1;
	s->cs.dpl = (uint8_t)cpl;
	s->ss.dpl = (uint8_t)cpl;
}

static void test_suberror_names(void **state)
{
	(void)state;
	assert_string_equal(internal_error_suberror_name(KVM_INTERNAL_ERROR_EMULATION),
			    "emulation failure");
	assert_string_equal(internal_error_suberror_name(KVM_INTERNAL_ERROR_SIMUL_EX),
			    "exception while delivering an exception");
	assert_string_equal(internal_error_suberror_name(KVM_INTERNAL_ERROR_DELIVERY_EV),
			    "exit while delivering an event");
	assert_string_equal(internal_error_suberror_name(KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON),
			    "unexpected exit reason");
	assert_null(internal_error_suberror_name(0));
	assert_null(internal_error_suberror_name(5));
	assert_null(internal_error_suberror_name(UINT32_MAX));
}

/* KVM gave the bytes: they are taken as they are, guest memory is not read. */
static void test_capture_kvm_bytes(void **state)
{
	struct kvm_run *run = emulation_failure_with_bytes(CMPXCHG16B, sizeof(CMPXCHG16B));
	struct internal_error e;
	struct kvm_regs r;
	struct kvm_sregs s;
	char line[512];

	(void)state;
	long_mode_regs(&r, &s, 0xffffffff81317850ull);
	/* No page tables at all: a read would find nothing. */
	internal_error_capture(&e, 0, run, &r, &s, NULL);
	assert_true(e.have_regs);
	assert_true(e.insn_from_kvm);
	assert_int_equal(e.insn_len, 15);
	assert_memory_equal(e.insn, CMPXCHG16B, 15);
	assert_int_equal(e.ndata, 3);
	assert_int_equal(e.data[0], KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES);
	internal_error_describe(&e, line, sizeof(line));
	assert_string_equal(line, "vCPU 0: KVM internal error: emulation failure (suberror 1) at "
				  "rip=0xffffffff81317850 cpl=0 mode=long64 insn=f0 48 0f c7 4d 20 "
				  "74 66 4c 8b 44 24 08 4d 89");
	free(run);
}

/* Without KVM's bytes, the bytes at CS.base + EIP are read from guest memory. */
static void test_capture_reads_guest_memory(void **state)
{
	struct kvm_run *run = new_run(KVM_INTERNAL_ERROR_EMULATION);
	struct internal_error e;
	struct kvm_regs r;
	struct kvm_sregs s;
	struct fake_mem f;
	char line[512];

	(void)state;
	fake_mem_init(&f, RAM);
	/* int3; hlt at the very end of RAM: only two bytes exist. */
	memcpy(fake_at(&f, RAM - 2, 2), "\xcc\xf4", 2);
	prot32_regs(&r, &s, 0x10000, RAM - 2 - 0x10000, 3);
	internal_error_capture(&e, 1, run, &r, &s, &f.m);
	assert_false(e.insn_from_kvm);
	assert_int_equal(e.insn_len, 2);
	internal_error_describe(&e, line, sizeof(line));
	assert_string_equal(line, "vCPU 1: KVM internal error: emulation failure (suberror 1) at "
				  "rip=0xfefffe cpl=3 mode=prot32 insn=cc f4");

	/* KVM says it has bytes but gives none: guest memory again. */
	free(run);
	run = emulation_failure_with_bytes(CMPXCHG16B, 0);
	internal_error_capture(&e, 1, run, &r, &s, &f.m);
	assert_false(e.insn_from_kvm);
	assert_int_equal(e.insn_len, 2);
	assert_memory_equal(e.insn, "\xcc\xf4", 2);
	/* Nor when the words that would hold them are not counted in ndata. */
	run->emulation_failure.insn_size = 15;
	run->emulation_failure.ndata = 2;
	internal_error_capture(&e, 1, run, &r, &s, &f.m);
	assert_false(e.insn_from_kvm);
	assert_int_equal(e.insn_len, 2);
	/* Bytes for another suberror's layout are not bytes. */
	run->emulation_failure.ndata = 3;
	run->internal.suberror = KVM_INTERNAL_ERROR_DELIVERY_EV;
	run->emulation_failure.insn_size = 15;
	internal_error_capture(&e, 1, run, &r, &s, &f.m);
	assert_false(e.insn_from_kvm);
	assert_int_equal(e.insn_len, 2);
	fake_mem_free(&f);
	free(run);
}

static void test_bytes_unavailable(void **state)
{
	struct kvm_run *run = new_run(KVM_INTERNAL_ERROR_EMULATION);
	struct internal_error e;
	struct kvm_regs r;
	struct kvm_sregs s;
	struct fake_mem f;
	char line[512];

	(void)state;
	fake_mem_init(&f, RAM);
	/* 64-bit mode with an empty PML4: RIP does not translate. */
	long_mode_regs(&r, &s, 0xffffffff81000000ull);
	s.cr3 = 0x1000;
	internal_error_capture(&e, 0, run, &r, &s, &f.m);
	assert_int_equal(e.insn_len, 0);
	internal_error_describe(&e, line, sizeof(line));
	assert_string_equal(line,
			    "vCPU 0: KVM internal error: emulation failure (suberror 1) at "
			    "rip=0xffffffff81000000 cpl=0 mode=long64 insn bytes unavailable");

	/* No registers: nothing but the suberror. */
	internal_error_capture(&e, 2, run, NULL, NULL, &f.m);
	assert_false(e.have_regs);
	internal_error_describe(&e, line, sizeof(line));
	assert_string_equal(line, "vCPU 2: KVM internal error: emulation failure (suberror 1), "
				  "registers unavailable insn bytes unavailable");
	fake_mem_free(&f);
	free(run);
}

/* Other suberrors carry KVM's data words into the line; unknown ones go by number. */
static void test_describe_other_suberrors(void **state)
{
	struct kvm_run *run = new_run(KVM_INTERNAL_ERROR_DELIVERY_EV);
	struct internal_error e;
	struct kvm_regs r;
	struct kvm_sregs s;
	struct fake_mem f;
	char line[512];

	(void)state;
	fake_mem_init(&f, RAM);
	/* hlt, the last byte of RAM. */
	memcpy(fake_at(&f, RAM - 1, 1), "\xf4", 1);
	prot32_regs(&r, &s, 0, RAM - 1, 0);
	run->internal.ndata = 4;
	run->internal.data[0] = 0x80000b0e;
	run->internal.data[1] = 0x30;
	run->internal.data[2] = 0;
	run->internal.data[3] = 0xfee00000;
	internal_error_capture(&e, 0, run, &r, &s, &f.m);
	internal_error_describe(&e, line, sizeof(line));
	assert_string_equal(line, "vCPU 0: KVM internal error: exit while delivering an event "
				  "(suberror 3) at rip=0xffffff cpl=0 mode=prot32 insn=f4 "
				  "data=0x80000b0e,0x30,0x0,0xfee00000");

	run->internal.suberror = 9;
	run->internal.ndata = 0;
	internal_error_capture(&e, 0, run, &r, &s, &f.m);
	internal_error_describe(&e, line, sizeof(line));
	assert_string_equal(line, "vCPU 0: KVM internal error: unknown suberror 9 at rip=0xffffff "
				  "cpl=0 mode=prot32 insn=f4");
	fake_mem_free(&f);
	free(run);
}

/* The longest line there can be fits INTERNAL_ERROR_LINE_LEN; a short buffer cuts it cleanly. */
static void test_describe_fits(void **state)
{
	/* The longest name, every field at its widest. */
	struct kvm_run *run = new_run(KVM_INTERNAL_ERROR_SIMUL_EX);
	struct internal_error e;
	struct kvm_regs r;
	struct kvm_sregs s;
	struct fake_mem f;
	char line[INTERNAL_ERROR_LINE_LEN + 100], small[40];

	(void)state;
	fake_mem_init(&f, RAM);
	long_mode_regs(&r, &s, UINT64_MAX);
	s.cs.l = 0;
	s.cs.db = 1;
	s.ss.dpl = 3;
	/* More words than kvm_run has room for: only 16 are kept. */
	run->internal.ndata = 1000;
	for (unsigned i = 0; i < INTERNAL_ERROR_MAX_DATA; i++)
		run->internal.data[i] = UINT64_MAX - i;
	internal_error_capture(&e, 253, run, &r, &s, &f.m);
	assert_int_equal(e.ndata, INTERNAL_ERROR_MAX_DATA);
	/* Longest bytes too (e.g. from KVM; not read from memory here). */
	e.insn_len = X86_MAX_INSN_LEN;
	memset(e.insn, 0xff, sizeof(e.insn));
	internal_error_describe(&e, line, sizeof(line));
	if (strlen(line) >= INTERNAL_ERROR_LINE_LEN)
		fail_msg("%zu characters do not fit %d: %s", strlen(line), INTERNAL_ERROR_LINE_LEN,
			 line);
	assert_substr(line, "mode=compat32 insn=ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff "
			    "data=0xffffffffffffffff,");
	assert_substr(line, ",0xfffffffffffffff0");

	internal_error_describe(&e, small, sizeof(small));
	assert_string_equal(small, "vCPU 253: KVM internal error: exception");
	fake_mem_free(&f);
	free(run);
}

/* --- the stats JSON ---------------------------------------------------- */

/* Write the JSON report of a bare VM (no KVM) and return it (malloc'd). */
static char *report_json(struct vm *vm)
{
	struct machine *m = container_of(vm, struct machine, vm);
	char path[] = "/tmp/vireo-test-ierr-XXXXXX";
	int fd = mkstemp(path);
	size_t len;
	char *text;

	assert_true(fd >= 0);
	close(fd);
	m->cfg.quiet = true;
	m->cfg.stats_json = path;
	machine_report(m);
	text = read_file(path, &len);
	unlink(path);
	assert_non_null(text);
	text = realloc(text, len + 1);
	assert_non_null(text);
	text[len] = '\0';
	return text;
}

/* The core of a bare machine (no KVM); free() it (it is the machine's first member). */
static struct vm *bare_vm(void)
{
	struct machine *m = calloc(1, sizeof(*m));
	struct vm_config cfg = {0};

	assert_non_null(m);
	machine_init_state(m, &cfg, 0);
	_Static_assert(offsetof(struct machine, vm) == 0, "free(vm) frees the machine");
	return &m->vm;
}

static void test_json(void **state)
{
	struct kvm_run *run = emulation_failure_with_bytes(CMPXCHG16B, 6);
	struct vm *vm = bare_vm();
	struct internal_error e;
	struct kvm_regs r;
	struct kvm_sregs s;
	char *json;

	(void)state;
	long_mode_regs(&r, &s, 0xffffffff81317850ull);
	internal_error_capture(&e, 0, run, &r, &s, NULL);
	vm_request_stop_internal_error(vm, &e);
	assert_int_equal(vm->exit_status, 3);
	json = report_json(vm);
	assert_substr(json, "\"stop_reason\": \"internal-error\"");
	assert_substr(json,
		      "\"stop_detail\": \"vCPU 0: KVM internal error: emulation failure "
		      "(suberror 1) at rip=0xffffffff81317850 cpl=0 mode=long64 insn=f0 48 0f "
		      "c7 4d 20\"");
	assert_substr(json, "\"internal_error\": {\"vcpu\": 0, \"suberror\": 1, \"suberror_name\": "
			    "\"emulation failure\", \"rip\": \"0xffffffff81317850\", \"cpl\": 0, "
			    "\"mode\": \"long64\", \"insn_bytes\": \"f0 48 0f c7 4d 20\", "
			    "\"insn_source\": \"kvm\", \"data\": [\"0x1\", \"0x204dc70f48f006\", "
			    "\"0x0\"]},");
	free(json);
	free(vm);
	free(run);
}

static void test_json_unknown_and_none(void **state)
{
	struct kvm_run *run = new_run(42);
	struct vm *vm = bare_vm();
	struct internal_error e;
	char *json;

	(void)state;
	internal_error_capture(&e, 1, run, NULL, NULL, NULL);
	vm_request_stop_internal_error(vm, &e);
	json = report_json(vm);
	assert_substr(json,
		      "\"internal_error\": {\"vcpu\": 1, \"suberror\": 42, \"suberror_name\": "
		      "null, \"rip\": null, \"cpl\": null, \"mode\": null, \"insn_bytes\": "
		      "null, \"insn_source\": null, \"data\": []},");
	free(json);
	free(vm);

	/* Any other stop: null. And the first stop stays the stop. */
	vm = bare_vm();
	vm_request_stop(vm, STOP_DEBUG_EXIT, 1, "guest wrote 0 to the debug-exit port");
	vm_request_stop_internal_error(vm, &e);
	json = report_json(vm);
	assert_substr(json, "\"stop_reason\": \"debug-exit\"");
	assert_substr(json, "\"internal_error\": null,\n");
	free(json);
	free(vm);
	free(run);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_suberror_names),
	    cmocka_unit_test(test_capture_kvm_bytes),
	    cmocka_unit_test(test_capture_reads_guest_memory),
	    cmocka_unit_test(test_bytes_unavailable),
	    cmocka_unit_test(test_describe_other_suberrors),
	    cmocka_unit_test(test_describe_fits),
	    cmocka_unit_test(test_json),
	    cmocka_unit_test(test_json_unknown_and_none),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
