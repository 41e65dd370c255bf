/* SPDX-License-Identifier: MIT */
/*
 * keeper.c -- the process that lets KVM tear the VM down after vireo has
 * exited (keeper.h says why).
 *
 * The keeper runs on vireo's memory with vireo's thread pointer, so its
 * code makes system calls itself and touches nothing of libc's: no errno,
 * no TLS, no sanitizer runtime.
 */
#include "vireo/core/keeper.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define KEEPER_STACK 16384
#define KEEPER_READY 'R'

#define NO_SANITIZE __attribute__((no_sanitize("address", "undefined", "thread")))

NO_SANITIZE static inline long sys3(long nr, long a, long b, long c)
{
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c)
			 : "rcx", "r11", "memory");
	return ret;
}

/* close_range() of [first, last], skipping an empty range. */
NO_SANITIZE static inline long close_fds(unsigned first, unsigned last)
{
	return first > last ? 0 : sys3(SYS_close_range, first, last, 0);
}

/*
 * The keeper: every fd closed but the VM's and its socket, confined, ready,
 * then one read that returns when vireo's end closes; its exit drops the VM.
 */
NO_SANITIZE static int keeper_main(void *arg)
{
	uint64_t fds = (uint64_t)(uintptr_t)arg;
	unsigned vm_fd = (unsigned)(fds >> 32), sock = (unsigned)(fds & 0xffffffffu);
	unsigned lo = vm_fd < sock ? vm_fd : sock, hi = vm_fd < sock ? sock : vm_fd;
	char c = KEEPER_READY;

	if ((lo > 0 && close_fds(0, lo - 1) < 0) || close_fds(lo + 1, hi - 1) < 0 ||
	    close_fds(hi + 1, ~0u) < 0)
		sys3(SYS_exit, 1, 0, 0);
	sys3(SYS_prctl, PR_SET_NAME, (long)"vireo-keeper", 0);
	if (sys3(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 0, 0) < 0)
		sys3(SYS_exit, 1, 0, 0);
	if (sys3(SYS_write, sock, (long)&c, 1) != 1)
		sys3(SYS_exit, 1, 0, 0);
	while (sys3(SYS_read, sock, (long)&c, 1) > 0)
		; /* vireo never writes: only its exit ends this */
	sys3(SYS_exit, 0, 0, 0);
	return 0;
}

void keeper_start(struct keeper *k, int vm_fd)
{
	/* One keeper a process: it runs on this stack until vireo is gone. */
	static char stack[KEEPER_STACK] __attribute__((aligned(16)));
	static int started;
	sigset_t all, old;
	int sv[2], pid;

	k->fd = -1;
	k->ready = false;
	if (started++ || vm_fd < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return;
	/* Blocked in the keeper for good: a Ctrl-C for vireo's process group must
	 * not end it early (that would only move the teardown back into vireo). */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pid = clone(keeper_main, stack + sizeof(stack), CLONE_VM,
		    (void *)(uintptr_t)((uint64_t)(unsigned)vm_fd << 32 | (unsigned)sv[1]));
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	close(sv[1]); /* the keeper's end: only the keeper may hold it, or no EOF comes */
	if (pid < 0) {
		close(sv[0]);
		return;
	}
	k->fd = sv[0];
}

bool keeper_wait_ready(struct keeper *k)
{
	char c = 0;
	ssize_t n;

	if (k->fd < 0)
		return false;
	if (!k->ready) {
		do
			n = read(k->fd, &c, 1);
		while (n < 0 && errno == EINTR);
		k->ready = n == 1 && c == KEEPER_READY;
	}
	if (!k->ready) {
		/* It exited: the VM is ours alone again, torn down at our exit. */
		close(k->fd);
		k->fd = -1;
	}
	return k->ready;
}
