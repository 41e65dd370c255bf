# shellcheck shell=bash
# tests/linux/kvm-limit.sh -- sourced by the stock-Linux tests: tells a host
# whose KVM cannot run the kernel apart from a failure of vireo.
#
# kvm_cannot_run STATS_JSON: true, printing the report's stop_detail, when
# vireo's --stats-json says the VM stopped because KVM's instruction emulator
# gave up (stop_reason "internal-error", suberror 1 =
# KVM_INTERNAL_ERROR_EMULATION). A KVM that emulates the guest's kernel
# instruction by instruction (PVM, on our machines) stops a stock kernel that
# way in early boot, on an instruction it does not emulate (cmpxchg16b,
# xrstor, int3). That is the host's limit, so the case skips with the reason;
# any other stop, other suberrors included, is for the case to judge.
kvm_cannot_run() {
	[[ -s $1 ]] || return 1
	jq -er 'select(.stop_reason == "internal-error" and .internal_error.suberror == 1)
		| .stop_detail' "$1" 2>/dev/null
}
