/* SPDX-License-Identifier: MIT */
/*
 * term.c -- the host terminal behind the guest's console: raw mode and its
 * restoration, the Ctrl-A x escape (term.h).
 */
#include "vireo/lib/term.h"

#include <signal.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

/* The one terminal this process may have changed; see term.h. */
static struct termios saved_termios;
static volatile sig_atomic_t raw_active;

void term_raw_end(void)
{
	if (raw_active) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_termios);
		raw_active = 0;
	}
}

static void restore_and_reraise(int sig)
{
	term_raw_end();
	signal(sig, SIG_DFL);
	raise(sig);
}

void term_raw_begin(void)
{
	static const int fatal[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL};
	struct termios raw;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_termios) < 0)
		return;
	raw = saved_termios;
	cfmakeraw(&raw);
	raw.c_oflag |= OPOST | ONLCR; /* keep our own messages readable */
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) < 0)
		return;
	raw_active = 1;
	atexit(term_raw_end);
	for (unsigned i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++) {
		struct sigaction sa = {.sa_handler = restore_and_reraise, .sa_flags = SA_RESETHAND};

		sigaction(fatal[i], &sa, NULL);
	}
}

size_t term_filter(struct term_input *c, uint8_t *buf, size_t len, bool *quit)
{
	size_t out = 0;

	*quit = false;
	for (size_t i = 0; i < len; i++) {
		uint8_t b = buf[i];

		if (c->escape_seen) {
			c->escape_seen = false;
			if (b == 'x' || b == 'X') {
				*quit = true;
				return out;
			}
			if (b != TERM_ESCAPE)
				buf[out++] = TERM_ESCAPE; /* not a command: pass both on */
			buf[out++] = b;
		} else if (b == TERM_ESCAPE) {
			c->escape_seen = true;
		} else {
			buf[out++] = b;
		}
	}
	return out;
}
