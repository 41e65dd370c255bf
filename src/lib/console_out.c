/* SPDX-License-Identifier: MIT */
/*
 * console_out.c -- console output that never blocks the VMM (console_out.h):
 * a bounded buffer per console, flushed as far as the fd takes it.
 */
#include "vireo/lib/console_out.h"
#include "vireo/lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * A non-blocking description of fd's pipe, FIFO or terminal, or -1. (A
 * regular file never makes a writer wait for a reader; a socket cannot be
 * reopened this way.)
 */
static int reopen_nonblocking(int fd)
{
	char path[32];
	struct stat st;

	if (fstat(fd, &st) < 0 || !(S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)))
		return -1;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
}

int console_out_init(struct console_out *o, int fd)
{
	struct stat st;
	int nb = reopen_nonblocking(fd);

	memset(o, 0, sizeof(*o));
	pthread_mutex_init(&o->lock, NULL);
	o->fd = nb >= 0 ? nb : fd;
	o->own_fd = nb >= 0;
	o->nonblock = nb >= 0 || (fstat(fd, &st) == 0 && S_ISREG(st.st_mode));
	o->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return o->wake_fd < 0 ? -1 : 0;
}

void console_out_destroy(struct console_out *o)
{
	if (o->own_fd)
		close(o->fd);
	if (o->wake_fd >= 0)
		close(o->wake_fd);
	o->own_fd = false;
	o->wake_fd = -1;
	pthread_mutex_destroy(&o->lock);
}

/* One write that cannot block: -1 with EAGAIN when the fd is not writable. */
static ssize_t write_some(struct console_out *o, const uint8_t *p, size_t n)
{
	struct pollfd pf = {o->fd, POLLOUT, 0};

	if (!o->nonblock) {
		/* Writable means room for PIPE_BUF bytes in a pipe: never more. */
		if (poll(&pf, 1, 0) <= 0 || !(pf.revents & (POLLOUT | POLLERR | POLLHUP))) {
			errno = EAGAIN;
			return -1;
		}
		if (n > PIPE_BUF)
			n = PIPE_BUF;
	}
	return write(o->fd, p, n);
}

/* With o->lock: write from the buffer until it is empty or the fd says wait. */
static bool flush_locked(struct console_out *o)
{
	while (o->len) {
		size_t chunk = CONSOLE_OUT_SIZE - o->head;
		ssize_t n;

		if (chunk > o->len)
			chunk = o->len;
		n = write_some(o, o->buf + o->head, chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			/* A closed or broken console: its output goes nowhere. */
			o->dropped += o->len;
			o->head = o->len = 0;
			break;
		}
		o->written += (uint64_t)n;
		o->head = (o->head + (size_t)n) % CONSOLE_OUT_SIZE;
		o->len -= (size_t)n;
	}
	if (!o->len)
		o->head = 0;
	return o->len == 0;
}

/* With o->lock, after a flush: remember a stall and wake the main loop once for it. */
static void note_stall(struct console_out *o)
{
	uint64_t one = 1;

	if (o->len && !o->stalled) {
		o->stalled = true;
		if (write(o->wake_fd, &one, sizeof(one)) < 0) {
			/* Only EAGAIN (counter full): a wake-up is pending anyway. */
		}
	} else if (!o->len) {
		o->stalled = false;
	}
}

size_t console_out_put(struct console_out *o, const void *p, size_t len)
{
	const uint8_t *src = p;
	size_t room, n;

	pthread_mutex_lock(&o->lock);
	room = CONSOLE_OUT_SIZE - o->len;
	n = len < room ? len : room;
	for (size_t done = 0; done < n;) {
		size_t tail = (o->head + o->len) % CONSOLE_OUT_SIZE;
		size_t chunk = CONSOLE_OUT_SIZE - tail;

		if (chunk > n - done)
			chunk = n - done;
		memcpy(o->buf + tail, src + done, chunk);
		o->len += chunk;
		done += chunk;
	}
	o->dropped += len - n;
	/* Stalled: the main loop flushes when the fd is writable; don't try each byte. */
	if (!o->stalled)
		flush_locked(o);
	note_stall(o);
	pthread_mutex_unlock(&o->lock);
	return n;
}

bool console_out_flush(struct console_out *o)
{
	bool empty;

	pthread_mutex_lock(&o->lock);
	empty = flush_locked(o);
	if (empty)
		o->stalled = false;
	pthread_mutex_unlock(&o->lock);
	return empty;
}

bool console_out_stalled(struct console_out *o)
{
	bool stalled;

	pthread_mutex_lock(&o->lock);
	stalled = o->stalled;
	pthread_mutex_unlock(&o->lock);
	return stalled;
}

void console_out_finish(struct console_out *o, uint64_t deadline_ns)
{
	while (!console_out_flush(o)) {
		struct pollfd pf = {o->fd, POLLOUT, 0};
		uint64_t now = now_ns();

		if (now >= deadline_ns)
			break;
		/* Bounded wait; a reader that never comes costs at most the deadline. */
		poll(&pf, 1, (int)((deadline_ns - now) / 1000000) + 1);
	}
	pthread_mutex_lock(&o->lock);
	o->dropped += o->len;
	o->head = o->len = 0;
	o->stalled = false;
	pthread_mutex_unlock(&o->lock);
}
