/* SPDX-License-Identifier: MIT */
/*
 * sandbox.c -- chroot, id drop, Landlock and a seccomp allow-list per thread
 * role; the order and the reasons are in include/vireo/core/sandbox.h, the lists
 * and how they were found in README.md ("Security").
 */
#include "vireo/lib/term.h"
#include "vireo/core/sandbox.h"
#include "vireo/lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/close_range.h>
#include <linux/kvm.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define R_MAIN (1u << SANDBOX_MAIN)
#define R_VCPU (1u << SANDBOX_VCPU)
#define R_IO   (1u << SANDBOX_IO)
#define R_ALL  (R_MAIN | R_VCPU | R_IO)

/*
 * System calls allowed without argument checks, and the roles that may make
 * them. Found by running every test suite with VIREO_SECCOMP=log (each call
 * outside the lists is logged by the kernel, not stopped), checked against
 * `strace -f` of each thread (blk on both backends, rng, consoles, reset,
 * timeout), then trimmed and completed by reading the code paths the tests
 * cannot reach (errors, teardown, a device reset with I/O in flight).
 */
static const struct {
	int nr;
	unsigned roles;
} plain_rules[] = {
    /* Every thread: memory (malloc, thread stacks), locks, time, leaving. */
    {SCMP_SYS(brk), R_ALL},
    {SCMP_SYS(munmap), R_ALL},
    {SCMP_SYS(mremap), R_ALL},
    {SCMP_SYS(madvise), R_ALL}, /* free(), and a thread's stack at its exit */
    {SCMP_SYS(futex), R_ALL},
    {SCMP_SYS(clock_gettime), R_ALL}, /* the vDSO falls back to it on some clocksources */
    {SCMP_SYS(getpid), R_ALL},	      /* pthread_kill, raise: tgkill(getpid(), ...) */
    {SCMP_SYS(rt_sigprocmask), R_ALL},
    {SCMP_SYS(rt_sigreturn), R_ALL},
    {SCMP_SYS(restart_syscall), R_ALL},
    {SCMP_SYS(write), R_ALL}, /* stdout/stderr, eventfds (irqfd, stop, wake) */
    {SCMP_SYS(read), R_ALL},  /* eventfds, signalfd, stdin */
    {SCMP_SYS(exit), R_ALL},
    {SCMP_SYS(exit_group), R_ALL},
    /* A device reset (a vCPU's register write) waits for its in-flight I/O. */
    {SCMP_SYS(io_uring_enter), R_ALL},
    /* I/O threads: the epoll loop, disk I/O (io_uring or sync), entropy. */
    {SCMP_SYS(epoll_wait), R_IO},
    {SCMP_SYS(preadv), R_IO},
    {SCMP_SYS(pwritev), R_IO},
    {SCMP_SYS(pwrite64), R_IO}, /* write zeroes the plain way */
    {SCMP_SYS(fdatasync), R_IO},
    {SCMP_SYS(fallocate), R_IO}, /* discard (punch hole), write zeroes */
    {SCMP_SYS(getrandom), R_IO},
    {SCMP_SYS(readv), R_IO},  /* a tap: a frame straight into guest buffers */
    {SCMP_SYS(writev), R_IO}, /* a tap: a frame straight from guest buffers */
    /* Main: the control loop, then the report and the teardown. */
    {SCMP_SYS(poll), R_MAIN},
    {SCMP_SYS(close), R_MAIN},
    /* Watches: a disk's removed at teardown (main); a tap's events changed by
     * its device (I/O thread; a vCPU at reset and DRIVER_OK). */
    {SCMP_SYS(epoll_ctl), R_ALL},
    {SCMP_SYS(pread64), R_MAIN},    /* KVM's binary stats, /proc/self/status */
    {SCMP_SYS(newfstatat), R_MAIN}, /* stdio's first write to the report file */
    {SCMP_SYS(mincore), R_MAIN},    /* guest RAM's resident size, for the report */
};

#ifdef __SANITIZE_ADDRESS__
/*
 * The sanitized test build (build/vireo-san) only: what the ASan/UBSan/LSan
 * runtime calls at thread exit, in an error report and in the leak check at
 * exit (which stops the world with a ptrace-ing clone and reads /proc). Its
 * symbolizer subprocess gets EPERM (see add_sanitizer_rules): reports print
 * with module+offset frames where symbols cannot be read.
 */
static const int sanitizer_rules[] = {
    SCMP_SYS(sigaltstack), SCMP_SYS(rt_sigaction), SCMP_SYS(prctl),	  SCMP_SYS(getppid),
    SCMP_SYS(open),	   SCMP_SYS(openat),	   SCMP_SYS(readlink),	  SCMP_SYS(close),
    SCMP_SYS(wait4),	   SCMP_SYS(ptrace),	   SCMP_SYS(getdents64),  SCMP_SYS(getdents),
    SCMP_SYS(fstat),	   SCMP_SYS(newfstatat),   SCMP_SYS(lseek),	  SCMP_SYS(pipe2),
    SCMP_SYS(kill),	   SCMP_SYS(gettid),	   SCMP_SYS(sched_yield),
};
#endif

/* ioctl requests allowed, by role (any fd: the fds are all vireo's own). */
static const struct {
	unsigned long req;
	unsigned roles;
} ioctl_rules[] = {
    {KVM_RUN, R_VCPU},
    {KVM_GET_REGS, R_VCPU},	     /* an internal error's report */
    {KVM_GET_SREGS, R_VCPU},	     /* ditto */
    {KVM_IRQ_LINE, R_MAIN | R_VCPU}, /* the UART and i8042 lines (main: console input) */
    {KVM_SET_GSI_ROUTING, R_VCPU},   /* MSI-X table writes */
    {KVM_IOEVENTFD, R_VCPU},	     /* COMMAND.MEM toggled: doorbells out of / into KVM */
    {KVM_IRQFD, R_ALL},		     /* INTx's resampler, on the first raise; teardown */
    {TUNSETOFFLOAD, R_VCPU},	     /* virtio-net DRIVER_OK: the offloads the guest took */
    {TUNSETQUEUE, R_VCPU | R_IO}, /* virtio-net MQ: the pairs in use (DRIVER_OK, control queue) */
    {TCGETS, R_ALL},		  /* isatty(): stdin; a sanitizer report on stderr */
    {TCSETSF, R_ALL},		  /* restore the terminal: exit and the SIGSYS handler */
};

/* --- the SIGSYS handler -------------------------------------------------- */

/*
 * A signal handler gets no argument, so these two are static: the syscall
 * names of the one sandbox of this process (set once, before any filter is
 * loaded, read-only afterwards) and each thread's own name.
 */
static const struct sandbox *sigsys_sandbox;
static _Thread_local char thread_name[16] = "vireo";

static size_t put_str(char *buf, size_t len, size_t at, const char *s)
{
	while (*s && at < len)
		buf[at++] = *s++;
	return at;
}

static size_t put_uint(char *buf, size_t len, size_t at, unsigned long v)
{
	char digits[24];
	size_t n = 0;

	do
		digits[n++] = (char)('0' + v % 10);
	while ((v /= 10) && n < sizeof(digits));
	while (n && at < len)
		buf[at++] = digits[--n];
	return at;
}

/* Async-signal-safe: only write(2) and exit_group(2), no stdio, no malloc. */
static void on_sigsys(int sig, siginfo_t *si, void *uctx)
{
	const struct sandbox *sb = sigsys_sandbox;
	unsigned nr = (unsigned)si->si_syscall;
	char line[192];
	size_t n = 0;

	(void)sig;
	(void)uctx;
	term_raw_end();
	n = put_str(line, sizeof(line), n, "vireo: sandbox: thread ");
	n = put_str(line, sizeof(line), n, thread_name);
	n = put_str(line, sizeof(line), n, " made a forbidden system call: ");
	if (si->si_arch != AUDIT_ARCH_X86_64) {
		n = put_str(line, sizeof(line), n, "foreign-arch syscall ");
	} else if (sb && nr < SANDBOX_MAX_SYSCALL && sb->names[nr][0]) {
		n = put_str(line, sizeof(line), n, sb->names[nr]);
		n = put_str(line, sizeof(line), n, " ");
	}
	n = put_str(line, sizeof(line), n, "(");
	n = put_uint(line, sizeof(line), n, nr);
	n = put_str(line, sizeof(line), n, "); stopping\n");
	if (write(STDERR_FILENO, line, n) < 0) {
		/* Nothing left to tell it to. */
	}
	/* The raw call: a sanitizer's _exit interceptor would run its exit-time
	 * checks, whose system calls the filter forbids. */
	syscall(SYS_exit_group, SANDBOX_EXIT_STATUS);
}

static int install_sigsys_handler(struct sandbox *sb)
{
	struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};

	for (int nr = 0; nr < SANDBOX_MAX_SYSCALL; nr++) {
		char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);

		if (name) {
			snprintf(sb->names[nr], SANDBOX_NAME_LEN, "%s", name);
			free(name);
		}
	}
	sigsys_sandbox = sb;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0) {
		vireo_perror("sandbox: SIGSYS handler");
		return -1;
	}
	return 0;
}

/* --- seccomp filters ----------------------------------------------------- */

static int add_plain(scmp_filter_ctx f, unsigned role)
{
	for (size_t i = 0; i < ARRAY_SIZE(plain_rules); i++)
		if ((plain_rules[i].roles & (1u << role)) &&
		    seccomp_rule_add(f, SCMP_ACT_ALLOW, plain_rules[i].nr, 0) < 0)
			return -1;
	return 0;
}

static int add_ioctls(scmp_filter_ctx f, unsigned role)
{
	for (size_t i = 0; i < ARRAY_SIZE(ioctl_rules); i++)
		if ((ioctl_rules[i].roles & (1u << role)) &&
		    seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				     SCMP_A1(SCMP_CMP_EQ, ioctl_rules[i].req)) < 0)
			return -1;
	return 0;
}

/*
 * Rules on argument values: memory may be mapped or re-protected, never
 * executable (no code is loaded after set-up); signals go to this process's
 * own threads only (pthread_kill is tgkill with our pid).
 */
static int add_checked(scmp_filter_ctx f)
{
	if (seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
			     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)) < 0 ||
	    seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
			     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)) < 0 ||
	    seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
			     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid())) < 0)
		return -1;
	return 0;
}

#ifdef __SANITIZE_ADDRESS__
static int add_sanitizer_rules(scmp_filter_ctx f)
{
	for (size_t i = 0; i < ARRAY_SIZE(sanitizer_rules); i++)
		if (seccomp_rule_add(f, SCMP_ACT_ALLOW, sanitizer_rules[i], 0) < 0)
			return -1;
	/* LSan's stop-the-world thread shares our memory; a new process does not get made. */
	if (seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
			     SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_VM, CLONE_VM)) < 0 ||
	    seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
			     SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_VM, 0)) < 0)
		return -1;
	return 0;
}
#else
static int add_sanitizer_rules(scmp_filter_ctx f)
{
	(void)f;
	return 0;
}
#endif

static scmp_filter_ctx build_filter(const struct sandbox *sb, unsigned role)
{
	uint32_t deny = sb->seccomp_log ? SCMP_ACT_LOG : SCMP_ACT_TRAP;
	scmp_filter_ctx f = seccomp_init(deny);

	if (!f)
		return NULL;
	/* A 32-bit or x32 call would bypass a native-only list: trap it too. */
	if (seccomp_attr_set(f, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_TRAP) < 0 ||
	    add_plain(f, role) < 0 || add_ioctls(f, role) < 0 || add_checked(f) < 0 ||
	    add_sanitizer_rules(f) < 0) {
		seccomp_release(f);
		return NULL;
	}
	return f;
}

static int build_filters(struct sandbox *sb)
{
	const char *mode = getenv("VIREO_SECCOMP");

	sb->seccomp_log = mode && !strcmp(mode, "log");
	for (unsigned r = 0; r < SANDBOX_ROLES; r++) {
		sb->filter[r] = build_filter(sb, r);
		if (!sb->filter[r]) {
			vireo_err("sandbox: cannot build the seccomp filters (libseccomp)");
			return -1;
		}
	}
	sb->seccomp = true;
	return 0;
}

/* --- Landlock ------------------------------------------------------------ */

/* The uapi as of ABI 6; Debian 12's headers know only ABI 1. */
struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};
#define LL_CREATE_RULESET_VERSION (1u << 0)

/* Every access right the kernel's ABI version knows, so none is granted. */
static size_t landlock_attr(int abi, struct ll_ruleset_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->handled_access_fs = (1ull << 13) - 1; /* ABI 1: EXECUTE .. MAKE_SYM */
	if (abi >= 2)
		a->handled_access_fs |= 1ull << 13; /* REFER */
	if (abi >= 3)
		a->handled_access_fs |= 1ull << 14; /* TRUNCATE */
	if (abi >= 5)
		a->handled_access_fs |= 1ull << 15; /* IOCTL_DEV */
	if (abi >= 4)
		a->handled_access_net = 3; /* BIND_TCP, CONNECT_TCP */
	if (abi >= 6)
		a->scoped = 3; /* abstract UNIX sockets, signals out of the domain */
	return abi >= 6 ? 24 : abi >= 4 ? 16 : 8;
}

#ifdef __SANITIZE_ADDRESS__
/* The sanitized test build only: its runtime reads /proc (maps, task list). */
static int landlock_sanitizer_rule(int ruleset)
{
	struct __attribute__((packed)) {
		uint64_t allowed_access;
		int32_t parent_fd;
	} rule = {.allowed_access = (1u << 2) | (1u << 3), /* READ_FILE, READ_DIR */
		  .parent_fd = open("/proc", O_PATH | O_CLOEXEC)};
	int rc = rule.parent_fd < 0
		     ? -1
		     : (int)syscall(SYS_landlock_add_rule, ruleset, 1 /* PATH_BENEATH */, &rule, 0);

	if (rule.parent_fd >= 0)
		close(rule.parent_fd);
	return rc;
}
#else
static int landlock_sanitizer_rule(int ruleset)
{
	(void)ruleset;
	return 0;
}
#endif

static int enter_landlock(struct sandbox *sb)
{
	struct ll_ruleset_attr attr;
	size_t size;
	int fd;

	sb->landlock_abi =
	    (int)syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
	if (sb->landlock_abi <= 0) {
		snprintf(sb->landlock_note, sizeof(sb->landlock_note), "unavailable: %s",
			 strerror(errno));
		return 0; /* an older or differently configured kernel: skip, noted */
	}
	if (!sb->cfg.landlock) {
		snprintf(sb->landlock_note, sizeof(sb->landlock_note), "off (--no-landlock)");
		return 0;
	}
	size = landlock_attr(sb->landlock_abi, &attr);
	fd = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
	if (fd < 0 || landlock_sanitizer_rule(fd) < 0 ||
	    syscall(SYS_landlock_restrict_self, fd, 0) < 0) {
		vireo_perror("sandbox: Landlock (ABI %d)", sb->landlock_abi);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	sb->landlock = true;
	return 0;
}

/* --- chroot and ids ------------------------------------------------------ */

static int enter_chroot(const struct sandbox *sb)
{
	if (!sb->cfg.chroot)
		return 0;
	if (chroot(sb->cfg.chroot) < 0 || chdir("/") < 0) {
		vireo_perror("--chroot %s", sb->cfg.chroot);
		return -1;
	}
	return 0;
}

/* Groups first (they need the privilege setresuid gives up), then checked. */
static int drop_ids(struct sandbox *sb)
{
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;
	uid_t uid = (uid_t)sb->cfg.uid;
	gid_t gid = (gid_t)sb->cfg.gid;

	if (sb->cfg.uid < 0)
		return 0;
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0) {
		vireo_perror("--uid %u --gid %u", uid, gid);
		return -1;
	}
	if (getresuid(&ruid, &euid, &suid) < 0 || getresgid(&rgid, &egid, &sgid) < 0 ||
	    ruid != uid || euid != uid || suid != uid || rgid != gid || egid != gid ||
	    sgid != gid || (uid != 0 && setuid(0) == 0)) {
		vireo_err("--uid %u --gid %u: the ids did not stick", uid, gid);
		return -1;
	}
	sb->ids_dropped = true;
	return 0;
}

/* --- the public steps ---------------------------------------------------- */

void sandbox_init(struct sandbox *sb, const struct sandbox_config *cfg)
{
	memset(sb, 0, sizeof(*sb));
	sb->cfg = *cfg;
	sb->uid = getuid();
	sb->gid = getgid();
	pthread_mutex_init(&sb->load_lock, NULL);
#ifdef VIREO_TEST_HOOKS
	sb->cfg.test_hook = getenv("VIREO_TEST_FORBIDDEN_SYSCALL");
#else
	sb->cfg.test_hook = NULL;
#endif
}

int sandbox_enter(struct sandbox *sb)
{
	/* Ours are close-on-exec already; whatever the parent left open (fds
	 * above stderr) becomes so too. Best effort: before Linux 5.11, no-op. */
	close_range(3, ~0u, CLOSE_RANGE_CLOEXEC);
	/* libc state that opens files on first use, set up while files can
	 * still be opened: glibc's first gmtime_r() (the CMOS clock, on a
	 * vCPU) reads /etc/localtime. Before the chroot, which may lack it. */
	tzset();
	if (enter_chroot(sb) < 0 || drop_ids(sb) < 0)
		return -1;
	sb->uid = getuid();
	sb->gid = getgid();
	/* Landlock needs it, seccomp_load sets it anyway; execve gains nothing. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		vireo_perror("sandbox: no_new_privs");
		return -1;
	}
	if (enter_landlock(sb) < 0)
		return -1;
	if (sb->cfg.seccomp && (install_sigsys_handler(sb) < 0 || build_filters(sb) < 0))
		return -1;
	sb->entered = true;
	return 0;
}

#ifdef VIREO_TEST_HOOKS
/*
 * Test build only, in the thread the test names (VIREO_TEST_FORBIDDEN_SYSCALL
 * or VIREO_TEST_ASAN_REPORT = main|vcpu|io): a call no list allows, or a heap
 * overflow whose sanitizer report must still get out under the filter.
 */
static void test_hooks(const struct sandbox *sb, enum sandbox_role role)
{
	static const char *const roles[SANDBOX_ROLES] = {"main", "vcpu", "io"};
	const char *asan = getenv("VIREO_TEST_ASAN_REPORT");
	char *const argv[] = {"/nonexistent/vireo-test", NULL};

	if (sb->cfg.test_hook && !strcmp(sb->cfg.test_hook, roles[role]))
		syscall(SYS_execve, argv[0], argv, NULL); /* without seccomp: ENOENT */
	/* VIREO_TEST_OPEN=PATH: the main thread opens PATH once set-up is done
	 * and says how that went (with --no-seccomp, this shows Landlock). */
	if (role == SANDBOX_MAIN && getenv("VIREO_TEST_OPEN")) {
		int fd = open(getenv("VIREO_TEST_OPEN"), O_RDONLY | O_CLOEXEC);

		fprintf(stderr, "vireo: test hook: open %s: %s\n", getenv("VIREO_TEST_OPEN"),
			fd >= 0 ? "ok" : strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	if (asan && !strcmp(asan, roles[role])) {
		/* Volatile both ways: the store is not dead, and UBSan's object-size
		 * check does not see the size, so ASan reports it. */
		volatile char *volatile p = malloc(8);

		if (p)
			p[8] = 1;
		free((void *)p);
	}
}
#endif

int sandbox_thread(struct sandbox *sb, enum sandbox_role role, const char *name)
{
	sigset_t sys;
	int rc = 0;

	snprintf(thread_name, sizeof(thread_name), "%s", name);
	/* The main thread keeps the process's name; the others get theirs for
	 * ps and top (cosmetic: errors ignored). */
	if (role != SANDBOX_MAIN)
		prctl(PR_SET_NAME, thread_name, 0, 0, 0);
	if (!sb || !sb->entered || !sb->seccomp)
		goto out;
	/* A blocked SIGSYS would kill without the handler's line. */
	sigemptyset(&sys);
	sigaddset(&sys, SIGSYS);
	pthread_sigmask(SIG_UNBLOCK, &sys, NULL);
	pthread_mutex_lock(&sb->load_lock);
	rc = seccomp_load(sb->filter[role]);
	pthread_mutex_unlock(&sb->load_lock);
	if (rc < 0) {
		errno = -rc;
		vireo_perror("sandbox: %s: loading the seccomp filter", name);
		return -1;
	}
out:
#ifdef VIREO_TEST_HOOKS
	if (sb && sb->entered)
		test_hooks(sb, role);
#endif
	return 0;
}

void sandbox_destroy(struct sandbox *sb)
{
	/* The filters outlive this (they cannot be taken back): a forbidden call
	 * after it, e.g. at exit, must not make the handler read freed names. */
	if (sigsys_sandbox == sb)
		sigsys_sandbox = NULL;
	for (unsigned r = 0; r < SANDBOX_ROLES; r++) {
		if (sb->filter[r])
			seccomp_release(sb->filter[r]);
		sb->filter[r] = NULL;
	}
	pthread_mutex_destroy(&sb->load_lock);
}
