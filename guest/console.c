// SPDX-License-Identifier: MIT
/*
 * console.c -- output on COM1 by polling the 8250 (works at CPL3 with IOPL 3),
 * and a small printf: %d %i %u %x %X %s %c %p %%, with '0' and width, and the
 * length modifiers l, ll, z.
 */
#include "guest.h"

#define UART_THR      0
#define UART_LSR      5
#define UART_LSR_THRE 0x20
#define UART_POLL_MAX 100000 /* give up waiting on a UART that never drains */

static volatile uint32_t console_lock;
static bool console_unlocked; /* the trap path prints without the lock */

static void serial_putc(char c)
{
	for (unsigned i = 0; i < UART_POLL_MAX; i++) {
		if (inb(VIREO_PORT_COM1 + UART_LSR) & UART_LSR_THRE)
			break;
		cpu_relax();
	}
	outb(VIREO_PORT_COM1 + UART_THR, (uint8_t)c);
}

static void lock(void)
{
	if (console_unlocked)
		return;
	while (__atomic_exchange_n(&console_lock, 1, __ATOMIC_ACQUIRE))
		while (console_lock)
			cpu_relax();
}

static void unlock(void)
{
	if (console_unlocked)
		return;
	__atomic_store_n(&console_lock, 0, __ATOMIC_RELEASE);
}

void console_break_lock(void)
{
	console_unlocked = true;
}

/* Where formatted characters go. */
struct sink {
	void (*put)(struct sink *s, char c);
	char *buf;
	size_t len;
	size_t pos;
};

static void put_serial(struct sink *s, char c)
{
	(void)s;
	serial_putc(c);
}

static void put_buf(struct sink *s, char c)
{
	if (s->pos + 1 < s->len)
		s->buf[s->pos] = c;
	s->pos++;
}

static void emit_num(struct sink *s, uint64_t v, unsigned base, bool upper, bool neg,
		     unsigned width, char pad)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	unsigned n = 0;

	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v);
	if (neg)
		tmp[n++] = '-';
	if (neg && pad == '0') {
		s->put(s, tmp[--n]);
		if (width)
			width--;
	}
	for (unsigned i = n; i < width; i++)
		s->put(s, pad);
	while (n)
		s->put(s, tmp[--n]);
}

static void format(struct sink *s, const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			s->put(s, *fmt);
			continue;
		}
		fmt++;
		char pad = ' ';
		unsigned width = 0, lng = 0;

		if (*fmt == '0') {
			pad = '0';
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (unsigned)(*fmt++ - '0');
		while (*fmt == 'l' || *fmt == 'z') {
			lng++;
			fmt++;
		}
		switch (*fmt) {
		case 'd':
		case 'i': {
			int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
			uint64_t m = v < 0 ? -(uint64_t)v : (uint64_t)v;

			emit_num(s, m, 10, false, v < 0, width, pad);
			break;
		}
		case 'u':
		case 'x':
		case 'X': {
			uint64_t v = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);

			emit_num(s, v, *fmt == 'u' ? 10 : 16, *fmt == 'X', false, width, pad);
			break;
		}
		case 'p':
			s->put(s, '0');
			s->put(s, 'x');
			emit_num(s, (uintptr_t)va_arg(ap, void *), 16, false, false, width, pad);
			break;
		case 's': {
			const char *str = va_arg(ap, const char *);
			size_t n = 0;

			if (!str)
				str = "(null)";
			for (; str[n]; n++)
				s->put(s, str[n]);
			for (; n < width; n++)
				s->put(s, ' ');
			break;
		}
		case 'c':
			s->put(s, (char)va_arg(ap, int));
			break;
		case '%':
			s->put(s, '%');
			break;
		case '\0':
			return;
		default:
			s->put(s, '%');
			s->put(s, *fmt);
			break;
		}
	}
}

void kvprintf(const char *fmt, va_list ap)
{
	struct sink s = {.put = put_serial};

	lock();
	format(&s, fmt, ap);
	unlock();
}

void kprintf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
}

int kvsnprintf(char *buf, size_t len, const char *fmt, va_list ap)
{
	struct sink s = {.put = put_buf, .buf = buf, .len = len};

	format(&s, fmt, ap);
	if (len)
		buf[s.pos < len ? s.pos : len - 1] = '\0';
	return (int)s.pos;
}

int ksnprintf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = kvsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return n;
}
