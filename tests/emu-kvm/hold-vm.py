#!/usr/bin/env python3
"""tests/emu-kvm/hold-vm.py -- keep one idle KVM VM open in L1 until killed.

Why: KVM switches a few static keys when the first VM (or vCPU) appears and
again when the last one goes away: preempt_notifier_key, which lives in
__schedule(), and the LAPIC's apic_sw_disabled. Each switch live-patches
kernel text with int3 (text_poke_bp). QEMU 7.2's multi-threaded TCG, which
runs L1, now and then leaves a CPU executing the stale int3 in __schedule()
forever, and L1 is wedged with no soft-lockup report (seen as
"exc_int3 <-> __schedule+0x2ab" in cpu-dump.py's output; a loop that creates
and destroys bare VMs wedges L1 within a few hundred). The tests create and
destroy a VM per case, so every case rolled that die. With this VM open the
keys stay on and the tests' VMs patch nothing (2000 VMs created and
destroyed in a row then ran through). run-in-vm.sh starts it before the
command and waits for its "ready"; it is L1-harness only, never part of
vireo.
"""
import fcntl
import os
import signal

KVM_CREATE_VM = 0xAE01
KVM_CREATE_VCPU = 0xAE41
KVM_CREATE_IRQCHIP = 0xAE60

kvm = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
vm = fcntl.ioctl(kvm, KVM_CREATE_VM, 0)
fcntl.ioctl(vm, KVM_CREATE_IRQCHIP, 0)  # so the vCPU gets an in-kernel LAPIC
vcpu = fcntl.ioctl(vm, KVM_CREATE_VCPU, 0)  # never run: its LAPIC stays sw-disabled
print("ready", flush=True)  # run-in-vm.sh's job waits for this line
signal.pause()
