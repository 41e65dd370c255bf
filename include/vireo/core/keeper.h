/* SPDX-License-Identifier: MIT */
/*
 * keeper.h -- KVM's teardown of the VM off the user's clock.
 *
 * Destroying a KVM VM is mostly waiting: SRCU grace periods for the PIT's
 * notifiers and for an I/O bus changed by an ioeventfd, the unmapping of
 * guest RAM; 5 to 30 ms on our PVM host (bench/startup), all of it after
 * the exit status is known. In one process it cannot be moved out of a
 * waiting shell's way: the last close of the VM fd happens in exit_group()
 * before the parent is told, whether vireo closes it or the exit does.
 *
 * So right after KVM_CREATE_VM vireo starts a keeper: a process sharing its
 * memory (clone(CLONE_VM): no page tables copied, nothing to copy-on-write
 * later) that keeps the VM fd and one end of a socket pair, closes every
 * other fd (stdout too: a reader of vireo's output sees its end at vireo's
 * exit), enters strict seccomp (read, write and exit only) and blocks
 * reading. vireo's end closes when vireo's process ends; the keeper then
 * reads end-of-file and exits, dropping the last reference to the VM and to
 * the memory, and KVM tears the VM down while the shell already has vireo's
 * status, its report and its output. Nothing else outlives vireo, and the
 * keeper lives only as long as KVM takes.
 *
 * Strict seccomp matters: the keeper shares vireo's memory, so a guest that
 * took over a vireo thread could write the keeper's stack; it would find a
 * process that can only read, write and exit. vireo waits for the keeper's
 * "ready" byte (sent once it is confined) before any guest code runs.
 */
#ifndef VIREO_CORE_KEEPER_H
#define VIREO_CORE_KEEPER_H

#include <stdbool.h>

/* vireo's side of a keeper. */
struct keeper {
	int fd;	    /* our end of the socket pair; -1 without a keeper */
	bool ready; /* the keeper said it is confined and holds the VM */
};

/*
 * Starts a keeper that holds vm_fd. Without one (a host that refuses it),
 * teardown stays where it was: k->fd is -1, and nothing else changes.
 */
void keeper_start(struct keeper *k, int vm_fd);

/*
 * Waits for the keeper's ready byte; false (and no keeper) if it exited
 * instead. Call before the guest runs.
 */
bool keeper_wait_ready(struct keeper *k);

#endif
