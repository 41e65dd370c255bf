/* SPDX-License-Identifier: MIT */
/*
 * sandbox.h -- what vireo gives up once the VM is built.
 *
 * The guest is hostile and vireo is the wall between it and the host. Once
 * every file, disk and /dev/kvm is open, nothing vireo does needs a new
 * file, a new process or a new privilege, so it gives them up, in this order
 * (each step would forbid the ones after it):
 *
 *   sandbox_enter()    main thread, before any vCPU or I/O thread exists
 *                      (they inherit all of it):
 *                      chroot(DIR) + chdir("/")      (--chroot)
 *                      setgroups(0), setresgid, setresuid   (--gid, --uid)
 *                      no_new_privs
 *                      Landlock: a ruleset handling every access right the
 *                      kernel's ABI knows, with no rules: no file system
 *                      access at all   (--no-landlock; skipped with a note
 *                      where the kernel has no Landlock)
 *                      the seccomp filters are built (not yet loaded) and the
 *                      SIGSYS handler is installed
 *   sandbox_thread()   each thread itself, after its own set-up and before
 *                      its work (a vCPU before its first KVM_RUN, the main
 *                      thread before its control loop): loads the seccomp
 *                      allow-list of its role (--no-seccomp: none)
 *
 * A system call outside a thread's list is trapped (SECCOMP_RET_TRAP): the
 * SIGSYS handler writes one line naming the thread and the call, e.g.
 *   vireo: sandbox: thread vireo-vcpu0 made a forbidden system call: execve (59)
 * and the process exits with SANDBOX_EXIT_STATUS.
 */
#ifndef VIREO_SANDBOX_H
#define VIREO_SANDBOX_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

/* vireo's exit status when its sandbox stopped a forbidden system call. */
#define SANDBOX_EXIT_STATUS 4

enum sandbox_role {
	SANDBOX_MAIN, /* control loop: signals, stdin, stop, then report and tear down */
	SANDBOX_VCPU, /* KVM_RUN and the exits it hands to userspace */
	SANDBOX_IO,   /* virtio queues: eventfds, disk I/O, entropy */
	SANDBOX_ROLES
};

/* What the command line asked for. */
struct sandbox_config {
	bool seccomp;	       /* default on; --no-seccomp */
	bool landlock;	       /* default on; --no-landlock */
	const char *chroot;    /* --chroot DIR, or NULL */
	long uid, gid;	       /* --uid N --gid N (both or neither); -1: not given */
	const char *test_hook; /* test build only: VIREO_TEST_FORBIDDEN_SYSCALL */
};

/* Syscall numbers whose names the SIGSYS handler can print (x86-64 has < 470). */
#define SANDBOX_MAX_SYSCALL 512
#define SANDBOX_NAME_LEN    24

struct sandbox {
	struct sandbox_config cfg;
	bool entered;		/* sandbox_enter() succeeded */
	bool seccomp;		/* filters built: each thread loads its own */
	bool seccomp_log;	/* VIREO_SECCOMP=log: log, do not stop (finding the lists) */
	int landlock_abi;	/* the kernel's Landlock ABI; <= 0 none */
	bool landlock;		/* Landlock ruleset in force */
	char landlock_note[64]; /* why not, when it is not */
	bool ids_dropped;
	unsigned uid, gid;	     /* the real ids vireo runs with after sandbox_enter() */
	void *filter[SANDBOX_ROLES]; /* scmp_filter_ctx per role */
	pthread_mutex_t load_lock;   /* one seccomp_load at a time (libseccomp is not MT-safe) */
	/* Names of syscall numbers, resolved before the filters are in force:
	 * libseccomp's resolver allocates, which a signal handler must not. */
	char names[SANDBOX_MAX_SYSCALL][SANDBOX_NAME_LEN];
};

/* Initialise (nothing given up yet); cfg is copied. */
void sandbox_init(struct sandbox *sb, const struct sandbox_config *cfg);

/*
 * The main thread, after set-up and before any other thread exists: chroot,
 * drop ids, no_new_privs, Landlock, build the filters, install the SIGSYS
 * handler. 0, or -1 after printing one line.
 */
int sandbox_enter(struct sandbox *sb);

/*
 * The calling thread takes its role's seccomp filter; name (at most 15
 * characters) names it in ps and in a violation's message. A no-op without
 * sandbox_enter(), with --no-seccomp or with sb NULL (the name is still set).
 * 0, or -1 after printing one line.
 */
int sandbox_thread(struct sandbox *sb, enum sandbox_role role, const char *name);

/* Free the filters (after every thread using them has been joined). */
void sandbox_destroy(struct sandbox *sb);

#endif
