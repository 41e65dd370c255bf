/* SPDX-License-Identifier: MIT */
/*
 * iothread.h -- an I/O thread: one epoll loop over the fds its devices care
 * about (queue ioeventfds, io_uring completion eventfds, ...).
 *
 * Device work happens here, never on a vCPU thread: a doorbell is an
 * ioeventfd that KVM signals without leaving the kernel, the I/O thread wakes
 * on it, processes the queue, and raises the interrupt through an irqfd.
 */
#ifndef VIREO_IOTHREAD_H
#define VIREO_IOTHREAD_H

#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * count: the eventfd counter that was drained, i.e. how many times the fd was
 * signalled since the last call (a doorbell's exact number of kicks); 0 when
 * the handler is called back because it asked to be.
 *
 * Returns true when the handler stopped early with work left (it used up its
 * budget): the loop calls it again, with count 0, once every other ready fd
 * has had its turn. That is what keeps one busy queue -- a guest refilling
 * its ring as fast as the device drains it -- from starving the other
 * devices on the same thread, or the thread's own stop request.
 */
typedef bool (*iothread_fn)(void *opaque, uint64_t count);

#define IOTHREAD_MAX_FDS 256

struct iothread_watch {
	int fd;
	iothread_fn fn;
	void *opaque;
	bool used;
	bool raw;	/* not an eventfd: the handler gets the epoll events, reads itself */
	bool again;	/* the handler asked to be called back */
	uint64_t round; /* the last round it ran in: at most once per round */
};

struct iothread {
	char name[16]; /* thread name for ps/top/perf ("vireo-io0"); may be empty */
	int epfd;
	int wake_fd; /* eventfd: stop request */
	pthread_t thread;
	bool running;
	/* Run first on the thread (e.g. to take its sandbox filter); NULL: none.
	 * Returns -1 after printing one line to keep the thread from starting. */
	int (*setup)(struct iothread *t, void *opaque);
	void *setup_opaque;
	sem_t started;	      /* iothread_start() waits for the thread's set-up */
	bool stuck;	      /* did not stop in time: left running (iothread_stop) */
	bool start_failed;    /* ... which failed (the thread has ended) */
	pthread_mutex_t lock; /* protects watch[] against concurrent add/del */
	struct iothread_watch watch[IOTHREAD_MAX_FDS];
	unsigned nr_again; /* watches with .again set: poll epoll, don't sleep */
	uint64_t round;	   /* rounds run (the loop's own clock) */
	uint64_t wakeups;
	uint64_t callbacks; /* handler calls made because a handler asked (count 0) */
};

int iothread_init(struct iothread *t);
/*
 * Start the thread; it names itself (name) and runs setup before it handles
 * anything. -1 after one line when it could not.
 */
int iothread_start(struct iothread *t);
/* How long iothread_stop() waits for a handler to return. */
#define IOTHREAD_STOP_TIMEOUT_MS 2000

/*
 * Stop and join the thread; handlers are not running when this returns,
 * unless one is stuck in a system call (a hung disk with the sync backend):
 * after IOTHREAD_STOP_TIMEOUT_MS it says so in one line, sets t->stuck and
 * returns with the thread left running, so stopping vireo stays bounded.
 * A stuck thread may still touch its devices: free nothing it uses.
 */
void iothread_stop(struct iothread *t);
void iothread_destroy(struct iothread *t);

/*
 * Call fn(opaque, count) on the I/O thread whenever fd (an eventfd) becomes
 * readable; the eventfd counter is drained (and passed as count) before fn
 * runs. Any thread may
 * add or remove watches, except a callback itself (the loop holds the lock
 * while it dispatches). Lock order: the I/O thread's lock before a device's
 * lock, so never call iothread_del() while holding a device lock.
 */
int iothread_add(struct iothread *t, int fd, iothread_fn fn, void *opaque);
/*
 * Watch an fd that is not an eventfd (a tap): nothing is read for the
 * handler, whose count is the epoll events (EPOLLIN, EPOLLOUT, EPOLLERR...).
 * `events` may be 0: registered, not waited for. Level-triggered, like every
 * watch: a handler that cannot act on what is ready turns the event off
 * (iothread_watch_events) or the thread would spin. The watch's slot, or -1.
 */
int iothread_add_raw(struct iothread *t, int fd, uint32_t events, iothread_fn fn, void *opaque);
/* Change what a raw watch waits for; any thread. 0, or -1. */
int iothread_watch_events(struct iothread *t, int slot, uint32_t events);
void iothread_del(struct iothread *t, int fd);

#endif
