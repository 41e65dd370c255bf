/* SPDX-License-Identifier: MIT */
/*
 * test_iothread.c -- the I/O thread's loop: counts passed to handlers, and
 * handlers that stop early with work left (a queue's budget ran out) being
 * called back without starving the other watches or the stop request.
 */
#include "unit.h"

#include "vireo/core/iothread.h"

#include <sys/eventfd.h>
#include <time.h>

struct watch_state {
	int fd;
	unsigned calls;		      /* atomic: written by the I/O thread */
	uint64_t counts;	      /* sum of the counts passed in */
	uint64_t first;		      /* the count of the first call */
	bool always_more;	      /* the handler says it has work left, every time */
	int poke_fd;		      /* signalled from the first call (-1: none) */
	unsigned other_calls_at_poke; /* calls of the busy watch when the other ran */
	struct watch_state *busy;     /* the busy watch, read when this one runs */
};

static bool handler(void *opaque, uint64_t count)
{
	struct watch_state *w = opaque;
	unsigned n = __atomic_load_n(&w->calls, __ATOMIC_RELAXED) + 1; /* one thread calls it */
	uint64_t one = 1;

	w->counts += count;
	if (n == 1)
		w->first = count;
	/* Published after counts and first: a test that saw calls may read them. */
	__atomic_store_n(&w->calls, n, __ATOMIC_SEQ_CST);
	if (n == 1) {
		if (w->poke_fd >= 0)
			assert_int_equal(write(w->poke_fd, &one, sizeof(one)), sizeof(one));
	}
	if (w->busy)
		w->other_calls_at_poke = __atomic_load_n(&w->busy->calls, __ATOMIC_SEQ_CST);
	return w->always_more;
}

static void watch_init(struct watch_state *w, bool always_more)
{
	memset(w, 0, sizeof(*w));
	w->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(w->fd >= 0);
	w->always_more = always_more;
	w->poke_fd = -1;
}

static void signal_fd(int fd, uint64_t n)
{
	assert_int_equal(write(fd, &n, sizeof(n)), sizeof(n));
}

static unsigned calls_of(struct watch_state *w)
{
	return __atomic_load_n(&w->calls, __ATOMIC_SEQ_CST);
}

/* Wait up to 5 s for w to have been called at least n times. */
static bool wait_calls(struct watch_state *w, unsigned n)
{
	struct timespec ts = {0, 1000 * 1000};

	for (int i = 0; i < 5000; i++) {
		if (calls_of(w) >= n)
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}

static void settle(void)
{
	struct timespec ts = {0, 50 * 1000 * 1000};

	nanosleep(&ts, NULL);
}

/* A handler that is done is called once per wakeup, with the eventfd's count. */
static void test_count_and_no_callback(void **state)
{
	struct iothread t;
	struct watch_state a;

	(void)state;
	watch_init(&a, false);
	assert_int_equal(iothread_init(&t), 0);
	assert_int_equal(iothread_add(&t, a.fd, handler, &a), 0);
	signal_fd(a.fd, 3); /* three doorbells before the thread looks */
	assert_int_equal(iothread_start(&t), 0);
	assert_true(wait_calls(&a, 1));
	settle();
	assert_int_equal(calls_of(&a), 1);
	assert_int_equal(a.first, 3);
	iothread_destroy(&t);
	assert_int_equal(t.callbacks, 0);
	close(a.fd);
}

/*
 * A watch whose handler always has work left (a guest refilling its ring as
 * fast as the device drains it) is called back with count 0, again and
 * again; the other watch still gets its turn at once, and the thread still
 * stops when asked.
 */
static void test_busy_watch_does_not_starve_others(void **state)
{
	struct iothread t;
	struct watch_state busy, quiet;

	(void)state;
	watch_init(&busy, true);
	watch_init(&quiet, false);
	busy.poke_fd = quiet.fd; /* quiet becomes ready while busy is running */
	quiet.busy = &busy;
	assert_int_equal(iothread_init(&t), 0);
	assert_int_equal(iothread_add(&t, busy.fd, handler, &busy), 0);
	assert_int_equal(iothread_add(&t, quiet.fd, handler, &quiet), 0);
	signal_fd(busy.fd, 1);
	assert_int_equal(iothread_start(&t), 0);
	assert_true(wait_calls(&quiet, 1));
	assert_true(wait_calls(&busy, 10)); /* called back over and over */
	/* quiet ran in the round right after busy's first call. */
	assert_true(quiet.other_calls_at_poke <= 2);
	iothread_stop(&t); /* returns although busy still has work */
	assert_int_equal(busy.first, 1);
	assert_int_equal(busy.counts, 1); /* every call back had count 0 */
	assert_int_equal(calls_of(&quiet), 1);
	assert_true(t.callbacks >= 9);
	iothread_destroy(&t);
	close(busy.fd);
	close(quiet.fd);
}

/* Removing a watch that asked to be called back: it is not called again. */
static void test_del_pending_watch(void **state)
{
	struct iothread t;
	struct watch_state busy;
	unsigned calls;

	(void)state;
	watch_init(&busy, true);
	assert_int_equal(iothread_init(&t), 0);
	assert_int_equal(iothread_add(&t, busy.fd, handler, &busy), 0);
	signal_fd(busy.fd, 1);
	assert_int_equal(iothread_start(&t), 0);
	assert_true(wait_calls(&busy, 3));
	iothread_del(&t, busy.fd);
	calls = calls_of(&busy);
	settle();
	assert_int_equal(calls_of(&busy), calls);
	assert_int_equal(t.nr_again, 0);
	iothread_destroy(&t);
	close(busy.fd);
}

/* A handler stuck in a system call: a read of a pipe nobody writes. */
static bool stuck_handler(void *opaque, uint64_t count)
{
	int *pipe_rd = opaque;
	char c;
	ssize_t n;

	(void)count;
	n = read(*pipe_rd, &c, 1); /* blocks until the test writes */
	(void)n;
	return false;
}

static void *stop_thread(void *arg)
{
	iothread_stop(arg);
	return NULL;
}

/*
 * Stopping is bounded: with a handler stuck (a hung disk under the sync
 * backend), iothread_stop() gives up after IOTHREAD_STOP_TIMEOUT_MS and
 * says the thread is stuck, instead of joining it forever.
 */
static void test_stop_with_stuck_handler(void **state)
{
	struct iothread t;
	struct watch_state w;
	pthread_t stopper;
	struct timespec limit;
	int p[2];

	(void)state;
	watch_init(&w, false);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(iothread_init(&t), 0);
	assert_int_equal(iothread_add(&t, w.fd, stuck_handler, &p[0]), 0);
	assert_int_equal(iothread_start(&t), 0);
	signal_fd(w.fd, 1); /* the handler runs and blocks */
	settle();
	assert_int_equal(pthread_create(&stopper, NULL, stop_thread, &t), 0);
	clock_gettime(CLOCK_REALTIME, &limit);
	limit.tv_sec += IOTHREAD_STOP_TIMEOUT_MS / 1000 + 3;
	assert_int_equal(pthread_timedjoin_np(stopper, NULL, &limit), 0); /* else: unbounded */
	assert_true(t.stuck);
	/* Unblock it; it then sees the stop request. Clean up by hand. */
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(pthread_join(t.thread, NULL), 0);
	t.stuck = false;
	t.running = false;
	iothread_destroy(&t);
	close(w.fd);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_count_and_no_callback),
	    cmocka_unit_test(test_busy_watch_does_not_starve_others),
	    cmocka_unit_test(test_del_pending_watch),
	    cmocka_unit_test(test_stop_with_stuck_handler),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
