/* SPDX-License-Identifier: MIT */
/*
 * runloop.c -- the main thread while the VM runs.
 *
 * It starts the vCPU threads, then waits in poll() for one of: a stop
 * request (eventfd written by vm_request_stop), a signal (signalfd), console
 * input for the UART, stdout becoming writable while console output waits
 * for it (console_out.h), or the --timeout deadline. To stop, it sets every
 * vCPU's immediate_exit and sends SIGUSR1, so a thread about to enter
 * KVM_RUN returns at once and one inside it is interrupted: no lost wake-up.
 */
#include "vireo/lib/console_out.h"
#include "vireo/machine/machine.h"
#include "vireo/lib/term.h"
#include "vireo/lib/util.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

/* At exit, console output still buffered gets this long to go out, then is dropped. */
#define CONSOLE_FINISH_NS 1000000000ull

static int block_signals(struct machine *m)
{
	struct vm *vm = &m->vm;
	sigset_t set;

	/* Blocked in every thread (they inherit the mask); the main thread
	 * takes INT/TERM/HUP through a signalfd. vCPU threads unblock USR1. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sigdelset(&set, SIGUSR1);
	m->signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	vm->stop_eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->signal_fd < 0 || vm->stop_eventfd < 0) {
		vireo_perror("signalfd/eventfd");
		return -1;
	}
	/* SIGPIPE: a closed stdout must not kill the VMM mid-report. */
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static void on_signal(struct machine *m)
{
	struct signalfd_siginfo si;
	char detail[64];

	if (read(m->signal_fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return;
	snprintf(detail, sizeof(detail), "stopped by signal %s", strsignal((int)si.ssi_signo));
	vm_request_stop(&m->vm, STOP_SIGNAL, 128 + (int)si.ssi_signo, detail);
}

/* Returns false once stdin is at end of file (then it is polled no more). */
static bool on_console_input(struct machine *m, struct term_input *ci, bool tty)
{
	uint8_t buf[256];
	size_t room = m->console.room(m->console.dev);
	ssize_t n;
	bool quit = false;

	if (room == 0)
		return true;
	n = read(STDIN_FILENO, buf, room < sizeof(buf) ? room : sizeof(buf));
	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	if (n == 0)
		return false;
	if (tty)
		n = (ssize_t)term_filter(ci, buf, (size_t)n, &quit);
	m->console.input(m->console.dev, buf, (size_t)n);
	if (quit)
		vm_request_stop(&m->vm, STOP_CONSOLE_QUIT, 0, "quit from the console (Ctrl-A x)");
	return true;
}

static int poll_timeout_ms(const struct machine *m, uint64_t deadline)
{
	uint64_t now;

	if (!m->cfg.timeout_s)
		return -1;
	now = now_ns();
	if (now >= deadline)
		return 0;
	/* Wake at least once a second; poll's int cannot hold long waits. */
	return (deadline - now) / 1000000 > 1000 ? 1000 : (int)((deadline - now) / 1000000) + 1;
}

/* The consoles' output buffers (struct console_sink). */
static unsigned console_outs(struct machine *m, struct console_out *out[2])
{
	for (unsigned i = 0; i < m->console.nr_outputs; i++)
		out[i] = m->console.outputs[i];
	return m->console.nr_outputs;
}

/*
 * Poll entries for console output: each buffer's wake-up eventfd (output
 * stalled), and its fd for POLLOUT while output waits. Returns the count.
 */
static unsigned poll_outputs(struct console_out *const *out, unsigned n, struct pollfd *p)
{
	unsigned k = 0;

	for (unsigned i = 0; i < n; i++) {
		p[k++] = (struct pollfd){out[i]->wake_fd, POLLIN, 0};
		/* Only while stalled: a closed reader's POLLERR would wake us for ever. */
		p[k++] = (struct pollfd){console_out_stalled(out[i]) ? out[i]->fd : -1, POLLOUT, 0};
	}
	return k;
}

static void on_outputs(struct console_out *const *out, unsigned n, const struct pollfd *p)
{
	uint64_t v;

	for (unsigned i = 0; i < n; i++) {
		if ((p[2 * i].revents & POLLIN) && read(out[i]->wake_fd, &v, sizeof(v)) < 0) {
			/* EAGAIN: someone else took it; the stall is in out[i]->stalled */
		}
		if (p[2 * i + 1].revents & (POLLOUT | POLLERR | POLLHUP))
			console_out_flush(out[i]);
	}
}

/* At exit: what the consoles still hold, with one bounded wait for all of them. */
static void finish_outputs(struct machine *m)
{
	struct console_out *out[2];
	unsigned n = console_outs(m, out);
	uint64_t deadline = now_ns() + CONSOLE_FINISH_NS;

	for (unsigned i = 0; i < n; i++)
		console_out_finish(out[i], deadline);
}

static void control_loop(struct machine *m)
{
	struct vm *vm = &m->vm;
	uint64_t deadline = now_ns() + (uint64_t)m->cfg.timeout_s * 1000000000ull;
	bool tty = isatty(STDIN_FILENO), stdin_open = true;
	struct term_input ci = {0};
	struct console_out *out[2];
	unsigned nout = console_outs(m, out);

	while (!atomic_load(&vm->stopping)) {
		/* stdin is polled only while the console can take what we read. */
		bool want_input = stdin_open && m->console.room(m->console.dev) > 0;
		struct pollfd p[7] = {{vm->stop_eventfd, POLLIN, 0},
				      {m->signal_fd, POLLIN, 0},
				      {want_input ? STDIN_FILENO : -1, POLLIN, 0}};
		unsigned np = 3 + poll_outputs(out, nout, p + 3);
		int timeout = poll_timeout_ms(m, deadline);
		int n;

		if (stdin_open && !want_input && (timeout < 0 || timeout > 20))
			timeout = 20; /* the guest is draining the UART: look again soon */
		n = poll(p, np, timeout);
		if (n < 0 && errno != EINTR)
			break;
		if (p[1].revents & POLLIN)
			on_signal(m);
		if (want_input && (p[2].revents & (POLLIN | POLLHUP | POLLERR)))
			stdin_open = on_console_input(m, &ci, tty);
		if (n > 0)
			on_outputs(out, nout, p + 3);
		if (m->cfg.timeout_s && now_ns() >= deadline) {
			char detail[64];

			snprintf(detail, sizeof(detail), "--timeout of %u s reached",
				 m->cfg.timeout_s);
			vm_request_stop(vm, STOP_TIMEOUT, 124, detail);
		}
	}
}

/* An I/O thread's first act: its own filter, before any device work. */
static int iothread_sandbox(struct iothread *t, void *sandbox)
{
	return sandbox_thread(sandbox, SANDBOX_IO, t->name);
}

/*
 * Set-up is over: open the report's files, then give up the file system,
 * privileges and (per thread, as each starts) most system calls.
 */
static int enter_sandbox(struct machine *m)
{
	if (machine_report_open(m) < 0 || sandbox_enter(&m->vm.sandbox) < 0)
		return -1;
	for (unsigned i = 0; i < m->nr_io; i++) {
		m->io[i].setup = iothread_sandbox;
		m->io[i].setup_opaque = &m->vm.sandbox;
	}
	return 0;
}

int machine_run(struct machine *m)
{
	struct vm *vm = &m->vm;

	if (block_signals(m) < 0 || enter_sandbox(m) < 0)
		return 2;
	/* Device work first, so no doorbell of a running vCPU goes unheard. */
	for (unsigned i = 0; i < m->nr_io; i++)
		if (iothread_start(&m->io[i]) < 0)
			return 2;
	term_raw_begin();
	/* The main thread's filter last: the threads it starts must not inherit it. */
	if (vcpus_start(vm) == 0 && sandbox_thread(&vm->sandbox, SANDBOX_MAIN, "main") == 0)
		control_loop(m);
	else
		vm_request_stop(vm, STOP_ERROR, 2, "sandbox or thread set-up failed");
	vcpus_stop(vm);
	for (unsigned i = 0; i < m->nr_io; i++)
		iothread_stop(&m->io[i]);
	finish_outputs(m);
	term_raw_end();
	return vm->exit_status;
}
