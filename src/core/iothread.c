/* SPDX-License-Identifier: MIT */
/*
 * iothread.c -- an epoll loop over eventfds, one callback per fd.
 *
 * Removal is synchronous with respect to the callback: iothread_del() takes
 * the lock the loop holds while it dispatches, so once it returns the
 * callback is not running and will not run again for that fd.
 */
#include "vireo/core/iothread.h"
#include "vireo/lib/util.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

int iothread_init(struct iothread *t)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};

	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	t->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->epfd < 0 || t->wake_fd < 0 ||
	    epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->wake_fd, &ev) < 0) {
		vireo_perror("I/O thread set-up");
		return -1;
	}
	return 0;
}

/* Non-blocking eventfd: one read returns the counter and resets it. */
static uint64_t drain(int fd)
{
	uint64_t v = 0;
	ssize_t n;

	do
		n = read(fd, &v, sizeof(v));
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(v) ? v : 0;
}

/* Call watch slot's handler; remember whether it wants to come back. Lock held. */
static void dispatch(struct iothread *t, unsigned slot, uint64_t count)
{
	struct iothread_watch *w = &t->watch[slot];
	bool again = w->fn(w->opaque, count);

	if (again != w->again) {
		w->again = again;
		t->nr_again += again ? 1 : (unsigned)-1;
	}
}

/*
 * One round: the fds epoll reported, then every handler that asked to be
 * called back and was not just called. Each watch runs at most once per
 * round, so a handler that always has more work shares the thread fairly.
 * Returns false on a stop request.
 */
static bool run_round(struct iothread *t, const struct epoll_event *ev, int n)
{
	uint64_t round = ++t->round;

	for (int i = 0; i < n; i++) {
		uint64_t slot = ev[i].data.u64;

		if (slot == UINT64_MAX)
			return false; /* stop request */
		if (slot < IOTHREAD_MAX_FDS && t->watch[slot].used) {
			t->watch[slot].round = round;
			/* An eventfd's count; a raw fd (a tap) is the handler's to read. */
			dispatch(t, (unsigned)slot,
				 t->watch[slot].raw ? ev[i].events : drain(t->watch[slot].fd));
		}
	}
	/* Only while someone has work left: the idle path stays one epoll_wait. */
	for (unsigned slot = 0; t->nr_again && slot < IOTHREAD_MAX_FDS; slot++) {
		struct iothread_watch *w = &t->watch[slot];

		if (w->used && w->again && w->round != round) {
			w->round = round;
			t->callbacks++;
			dispatch(t, slot, 0);
		}
	}
	return true;
}

/* Name and set-up first; the starter waits for the answer. */
static bool thread_setup(struct iothread *t)
{
	if (t->name[0])
		prctl(PR_SET_NAME, t->name, 0, 0, 0); /* only cosmetic: errors ignored */
	t->start_failed = t->setup && t->setup(t, t->setup_opaque) < 0;
	sem_post(&t->started);
	return !t->start_failed;
}

static void *iothread_main(void *arg)
{
	struct iothread *t = arg;
	struct epoll_event ev[32];
	bool work_left = false; /* t->nr_again, as read under the lock after a round */

	if (!thread_setup(t))
		return NULL;

	for (;;) {
		/* Someone has work left: only look for new events, don't sleep. A
		 * stale value (iothread_del ran since) costs one more round. */
		int n = epoll_wait(t->epfd, ev, 32, work_left ? 0 : -1);
		bool go_on;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			vireo_perror("I/O thread epoll_wait");
			return NULL;
		}
		pthread_mutex_lock(&t->lock);
		go_on = run_round(t, ev, n);
		t->wakeups += go_on; /* the stop request is not a wakeup for work */
		work_left = t->nr_again != 0;
		pthread_mutex_unlock(&t->lock);
		if (!go_on)
			return NULL;
	}
}

int iothread_start(struct iothread *t)
{
	sigset_t all, old;
	int err;

	/* Signals belong to the main thread (signalfd) and vCPUs (kicks). */
	sigfillset(&all);
	sem_init(&t->started, 0, 0);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = pthread_create(&t->thread, NULL, iothread_main, t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		sem_destroy(&t->started);
		errno = err;
		vireo_perror("cannot start I/O thread");
		return -1;
	}
	while (sem_wait(&t->started) < 0 && errno == EINTR)
		;
	sem_destroy(&t->started);
	if (t->start_failed) {
		pthread_join(t->thread, NULL);
		return -1;
	}
	t->running = true;
	return 0;
}

void iothread_stop(struct iothread *t)
{
	uint64_t one = 1;
	struct timespec deadline;

	if (!t->running || t->stuck)
		return;
	if (write(t->wake_fd, &one, sizeof(one)) < 0)
		vireo_perror("I/O thread stop");
	clock_gettime(CLOCK_REALTIME, &deadline); /* pthread_timedjoin_np's clock */
	deadline.tv_sec += IOTHREAD_STOP_TIMEOUT_MS / 1000;
	deadline.tv_nsec += (IOTHREAD_STOP_TIMEOUT_MS % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	if (pthread_timedjoin_np(t->thread, NULL, &deadline) != 0) {
		vireo_err("I/O thread %s did not stop within %d ms (stuck in a system call: a hung "
			  "disk?); leaving it behind",
			  t->name[0] ? t->name : "(unnamed)", IOTHREAD_STOP_TIMEOUT_MS);
		t->stuck = true;
		return;
	}
	t->running = false;
}

void iothread_destroy(struct iothread *t)
{
	iothread_stop(t);
	if (t->stuck)
		return; /* its fds and lock may still be in use */
	if (t->epfd >= 0)
		close(t->epfd);
	if (t->wake_fd >= 0)
		close(t->wake_fd);
	t->epfd = t->wake_fd = -1;
	pthread_mutex_destroy(&t->lock);
}

static int add_watch(struct iothread *t, int fd, uint32_t events, bool raw, iothread_fn fn,
		     void *opaque)
{
	struct epoll_event ev = {.events = events};
	int rc = -1;

	pthread_mutex_lock(&t->lock);
	for (unsigned i = 0; i < IOTHREAD_MAX_FDS; i++) {
		if (t->watch[i].used)
			continue;
		ev.data.u64 = i;
		if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			vireo_perror("I/O thread: watch fd %d", fd);
			break;
		}
		t->watch[i] = (struct iothread_watch){
		    .fd = fd, .fn = fn, .opaque = opaque, .used = true, .raw = raw};
		rc = (int)i;
		break;
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

int iothread_add(struct iothread *t, int fd, iothread_fn fn, void *opaque)
{
	return add_watch(t, fd, EPOLLIN, false, fn, opaque) < 0 ? -1 : 0;
}

int iothread_add_raw(struct iothread *t, int fd, uint32_t events, iothread_fn fn, void *opaque)
{
	return add_watch(t, fd, events, true, fn, opaque);
}

int iothread_watch_events(struct iothread *t, int slot, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.u64 = (uint64_t)slot};

	/* epoll_ctl is safe against the thread's epoll_wait: no lock needed. */
	if (slot < 0 || slot >= IOTHREAD_MAX_FDS || !t->watch[slot].used)
		return -1;
	return epoll_ctl(t->epfd, EPOLL_CTL_MOD, t->watch[slot].fd, &ev);
}

void iothread_del(struct iothread *t, int fd)
{
	pthread_mutex_lock(&t->lock);
	for (unsigned i = 0; i < IOTHREAD_MAX_FDS; i++) {
		if (t->watch[i].used && t->watch[i].fd == fd) {
			epoll_ctl(t->epfd, EPOLL_CTL_DEL, fd, NULL);
			if (t->watch[i].again)
				t->nr_again--;
			t->watch[i] = (struct iothread_watch){0};
		}
	}
	pthread_mutex_unlock(&t->lock);
}
