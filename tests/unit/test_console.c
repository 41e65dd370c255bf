/* SPDX-License-Identifier: MIT */
/*
 * test_console.c -- term_filter(): the Ctrl-A escape sequence on keyboard
 * input; console_out: output that never blocks, whatever the reader does.
 */
#include "unit.h"

#include "vireo/lib/console_out.h"
#include "vireo/lib/term.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#define CA "\x01"

struct filtered {
	uint8_t buf[64];
	size_t n;
	bool quit;
};

static void filter(struct term_input *c, const char *in, size_t len, struct filtered *f)
{
	assert_true(len <= sizeof(f->buf));
	memcpy(f->buf, in, len);
	f->quit = true; /* must be overwritten */
	f->n = term_filter(c, f->buf, len, &f->quit);
}

#define FILTER(c, lit, f) filter((c), (lit), sizeof(lit) - 1, (f))

static void test_plain_bytes_pass(void **state)
{
	struct term_input c = {0};
	struct filtered f;

	(void)state;
	FILTER(&c, "hello\r\n\x03\x1b[A", &f);
	assert_false(f.quit);
	assert_int_equal(f.n, 11);
	assert_memory_equal(f.buf, "hello\r\n\x03\x1b[A", 11);
	FILTER(&c, "", &f);
	assert_int_equal(f.n, 0);
	assert_false(f.quit);
}

static void test_ctrl_a_x_quits(void **state)
{
	struct term_input c = {0};
	struct filtered f;

	(void)state;
	FILTER(&c, "ab" CA "xcd", &f);
	assert_true(f.quit);
	assert_int_equal(f.n, 2); /* what came before still goes to the guest */
	assert_memory_equal(f.buf, "ab", 2);
	/* Upper case too. */
	memset(&c, 0, sizeof(c));
	FILTER(&c, CA "X", &f);
	assert_true(f.quit);
	assert_int_equal(f.n, 0);
}

static void test_ctrl_a_ctrl_a_sends_one(void **state)
{
	struct term_input c = {0};
	struct filtered f;

	(void)state;
	FILTER(&c, "a" CA CA "b", &f);
	assert_false(f.quit);
	assert_int_equal(f.n, 3);
	assert_memory_equal(f.buf, "a" CA "b", 3);
	/* Three in a row: one sent, the third starts a new sequence. */
	FILTER(&c, CA CA CA "x", &f);
	assert_true(f.quit);
	assert_int_equal(f.n, 1);
	assert_int_equal(f.buf[0], 0x01);
}

static void test_ctrl_a_other_passes_both(void **state)
{
	struct term_input c = {0};
	struct filtered f;

	(void)state;
	FILTER(&c, CA "c" CA "\r", &f);
	assert_false(f.quit);
	assert_int_equal(f.n, 4);
	assert_memory_equal(f.buf, CA "c" CA "\r", 4);
	assert_false(c.escape_seen);
}

static void test_escape_across_reads(void **state)
{
	struct term_input c = {0};
	struct filtered f;

	(void)state;
	/* Ctrl-A at the end of one read, x at the start of the next. */
	FILTER(&c, "ls" CA, &f);
	assert_false(f.quit);
	assert_int_equal(f.n, 2);
	assert_true(c.escape_seen);
	FILTER(&c, "x", &f);
	assert_true(f.quit);
	assert_int_equal(f.n, 0);

	/* Split Ctrl-A Ctrl-A and Ctrl-A other. */
	memset(&c, 0, sizeof(c));
	FILTER(&c, CA, &f);
	assert_int_equal(f.n, 0);
	FILTER(&c, CA "z", &f);
	assert_int_equal(f.n, 2);
	assert_memory_equal(f.buf, CA "z", 2);
	FILTER(&c, CA, &f);
	FILTER(&c, "q", &f);
	assert_false(f.quit);
	assert_int_equal(f.n, 2);
	assert_memory_equal(f.buf, CA "q", 2);
}

/* ---- console_out ---- */

#define PIPE_SIZE 4096

/* A pipe of PIPE_SIZE bytes whose reader (fds[0]) does not read. */
static void small_pipe(int fds[2])
{
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	assert_int_equal(fcntl(fds[1], F_SETPIPE_SZ, PIPE_SIZE), PIPE_SIZE);
}

static size_t drain(int fd)
{
	uint8_t b[8192];
	size_t total = 0;
	ssize_t n;

	while ((n = read(fd, b, sizeof(b))) > 0)
		total += (size_t)n;
	return total;
}

/*
 * A reader that stops reading: the pipe takes PIPE_SIZE, the buffer its
 * size, the rest is dropped and counted, and no call waits for the reader
 * (the pipe's own fd is blocking: console_out must not be).
 */
static void test_out_bounded_never_blocks(void **state)
{
	static uint8_t big[3 * CONSOLE_OUT_SIZE];
	struct console_out *o = malloc(sizeof(*o));
	struct pollfd wake;
	uint64_t t0;
	int fds[2];

	(void)state;
	small_pipe(fds);
	assert_int_equal(console_out_init(o, fds[1]), 0);
	memset(big, 'x', sizeof(big));
	t0 = now_ns();
	assert_int_equal(console_out_put(o, big, PIPE_SIZE), PIPE_SIZE);
	assert_false(console_out_stalled(o)); /* all of it went out */
	assert_int_equal(console_out_put(o, big, sizeof(big)), CONSOLE_OUT_SIZE);
	for (unsigned i = 0; i < 1000; i++) /* a guest printing byte by byte */
		assert_int_equal(console_out_put(o, "y", 1), 0);
	assert_true(now_ns() - t0 < 1000000000ull);
	assert_true(console_out_stalled(o));
	assert_int_equal(o->written, PIPE_SIZE);
	assert_int_equal(o->dropped, sizeof(big) - CONSOLE_OUT_SIZE + 1000);
	/* The main loop was told, once. */
	wake = (struct pollfd){o->wake_fd, POLLIN, 0};
	assert_int_equal(poll(&wake, 1, 0), 1);

	/* The reader reads again: the main loop's flush moves the buffer on. */
	assert_int_equal(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(drain(fds[0]), PIPE_SIZE);
	assert_false(console_out_flush(o));
	assert_int_equal(o->written, 2 * PIPE_SIZE);
	while (drain(fds[0]) && !console_out_flush(o))
		;
	assert_false(console_out_stalled(o));
	assert_int_equal(o->written, PIPE_SIZE + CONSOLE_OUT_SIZE);
	console_out_destroy(o);
	close(fds[0]);
	close(fds[1]);
	free(o);
}

/* At exit, a reader that never reads costs the deadline, not a hang; the rest is dropped. */
static void test_out_finish_bounded(void **state)
{
	static uint8_t big[2 * PIPE_SIZE];
	struct console_out *o = malloc(sizeof(*o));
	uint64_t t0;
	int fds[2];

	(void)state;
	small_pipe(fds);
	assert_int_equal(console_out_init(o, fds[1]), 0);
	assert_int_equal(console_out_put(o, big, sizeof(big)), sizeof(big));
	t0 = now_ns();
	console_out_finish(o, t0 + 200000000ull);
	assert_true(now_ns() - t0 < 1000000000ull);
	assert_int_equal(o->written, PIPE_SIZE);
	assert_int_equal(o->dropped, sizeof(big) - PIPE_SIZE);
	assert_false(console_out_stalled(o));
	console_out_destroy(o);
	close(fds[0]);
	close(fds[1]);
	free(o);
}

/* A socket cannot be reopened non-blocking: poll() before each write keeps it from blocking. */
static void test_out_socket_never_blocks(void **state)
{
	static uint8_t big[4 * CONSOLE_OUT_SIZE];
	struct console_out *o = malloc(sizeof(*o));
	uint64_t t0;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(console_out_init(o, sv[1]), 0);
	assert_false(o->own_fd);
	t0 = now_ns();
	for (unsigned i = 0; i < 64; i++)
		console_out_put(o, big, sizeof(big));
	assert_true(now_ns() - t0 < 2000000000ull);
	assert_true(o->dropped > 0);
	assert_int_equal(o->written + o->len + o->dropped, 64 * sizeof(big));
	console_out_destroy(o);
	close(sv[0]);
	close(sv[1]);
	free(o);
}

/* A closed reader: output goes nowhere, counted, never an error for the guest. */
static void test_out_closed_reader(void **state)
{
	struct console_out *o = malloc(sizeof(*o));
	int fds[2];

	(void)state;
	small_pipe(fds);
	assert_int_equal(console_out_init(o, fds[1]), 0);
	close(fds[0]);
	assert_int_equal(console_out_put(o, "abc", 3), 3);
	assert_int_equal(o->dropped, 3);
	assert_false(console_out_stalled(o));
	console_out_destroy(o);
	close(fds[1]);
	free(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain_bytes_pass),
	    cmocka_unit_test(test_ctrl_a_x_quits),
	    cmocka_unit_test(test_ctrl_a_ctrl_a_sends_one),
	    cmocka_unit_test(test_ctrl_a_other_passes_both),
	    cmocka_unit_test(test_escape_across_reads),
	    cmocka_unit_test(test_out_bounded_never_blocks),
	    cmocka_unit_test(test_out_finish_bounded),
	    cmocka_unit_test(test_out_socket_never_blocks),
	    cmocka_unit_test(test_out_closed_reader),
	};

	signal(SIGPIPE, SIG_IGN); /* as vireo does: a closed reader is EPIPE */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
