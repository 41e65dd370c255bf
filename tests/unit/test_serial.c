/* SPDX-License-Identifier: MIT */
/*
 * test_serial.c -- the 8250/16550A UART through its bus handler, with the
 * output on a pipe and an IRQ callback recording every level change.
 */
#include "unit.h"

#include "vireo/hw/serial.h"

#include <fcntl.h>
#include <signal.h>

enum {
	RBR = 0,
	THR = 0,
	DLL = 0,
	IER = 1,
	DLM = 1,
	IIR = 2,
	FCR = 2,
	LCR = 3,
	MCR = 4,
	LSR = 5,
	MSR = 6,
	SCR = 7
};

#define IRQ_LINE  4
#define MAX_EDGES 64

struct uart {
	struct serial s;
	int pipe[2]; /* [0]: what the "console" reads */
	unsigned edges;
	bool level[MAX_EDGES];
	void *opaque_seen;
	unsigned irq_seen;
};

static void record_irq(void *opaque, unsigned irq, bool level)
{
	struct uart *u = opaque;

	assert_true(u->edges < MAX_EDGES);
	u->opaque_seen = opaque;
	u->irq_seen = irq;
	u->level[u->edges++] = level;
}

static int uart_setup(void **state)
{
	struct uart *u = calloc(1, sizeof(*u));

	if (!u || pipe2(u->pipe, O_NONBLOCK) < 0)
		return -1;
	serial_init(&u->s, u->pipe[1], IRQ_LINE, record_irq, u);
	*state = u;
	return 0;
}

static int uart_teardown(void **state)
{
	struct uart *u = *state;

	serial_destroy(&u->s);
	close(u->pipe[0]);
	close(u->pipe[1]);
	free(u);
	return 0;
}

static uint8_t rd(struct uart *u, unsigned reg)
{
	uint8_t v = 0xff;

	serial_io(&u->s, reg, &v, 1, false);
	return v;
}

static void wr(struct uart *u, unsigned reg, uint8_t v)
{
	serial_io(&u->s, reg, &v, 1, true);
}

/* Everything written to the console so far. */
static size_t drain_output(struct uart *u, char *buf, size_t len)
{
	ssize_t n = read(u->pipe[0], buf, len);

	return n < 0 ? 0 : (size_t)n;
}

static bool irq_level(struct uart *u)
{
	return u->edges ? u->level[u->edges - 1] : false;
}

static void test_reset_state(void **state)
{
	struct uart *u = *state;

	assert_int_equal(rd(u, IER), 0);
	assert_int_equal(rd(u, IIR), 0x01); /* no interrupt pending */
	assert_int_equal(rd(u, LCR), 0x03); /* 8N1 */
	assert_int_equal(rd(u, MCR), 0x08); /* OUT2 */
	assert_int_equal(rd(u, LSR), 0x60); /* THRE | TEMT, no data */
	assert_int_equal(rd(u, MSR), 0xb0); /* DCD | DSR | CTS */
	wr(u, SCR, 0x5a);
	assert_int_equal(rd(u, SCR), 0x5a);
	assert_int_equal(u->edges, 0);
}

static void test_transmit(void **state)
{
	struct uart *u = *state;
	char out[64];

	wr(u, THR, 'h');
	wr(u, THR, 'i');
	wr(u, THR, '\n');
	assert_int_equal(drain_output(u, out, sizeof(out)), 3);
	assert_memory_equal(out, "hi\n", 3);
	assert_int_equal(u->s.tx_bytes, 3);
	/* Transmission is instantaneous: always empty. */
	assert_int_equal(rd(u, LSR) & 0x60, 0x60);
	/* No interrupt with IER clear. */
	assert_int_equal(u->edges, 0);
	assert_int_equal(rd(u, IIR), 0x01);
}

static void test_divisor_latch(void **state)
{
	struct uart *u = *state;
	char out[8];

	wr(u, IER, 0x05);
	wr(u, LCR, 0x83);		  /* DLAB */
	assert_int_equal(rd(u, DLL), 12); /* 9600 baud at reset */
	wr(u, DLL, 0x01);
	wr(u, DLM, 0x02);
	assert_int_equal(rd(u, DLL), 0x01);
	assert_int_equal(rd(u, DLM), 0x02);
	assert_int_equal(drain_output(u, out, sizeof(out)), 0); /* a DLL write is not output */
	wr(u, LCR, 0x03);
	/* Back to the normal registers, which the latch did not touch. */
	assert_int_equal(rd(u, IER), 0x05);
	wr(u, THR, 'x');
	assert_int_equal(drain_output(u, out, sizeof(out)), 1);
	assert_int_equal(out[0], 'x');
	wr(u, LCR, 0x83);
	assert_int_equal(rd(u, DLL), 0x01); /* the latch kept its value */
	assert_int_equal(rd(u, DLM), 0x02);
	assert_int_equal(rd(u, LCR), 0x83);
}

static void test_loopback(void **state)
{
	struct uart *u = *state;
	char out[8];

	/* What Linux's 8250 probe writes and expects. */
	wr(u, MCR, 0x1a); /* LOOP | OUT2 | RTS */
	assert_int_equal(rd(u, MSR) & 0xf0, 0x90);
	wr(u, MCR, 0x10);
	assert_int_equal(rd(u, MSR) & 0xf0, 0x00);
	wr(u, MCR, 0x11); /* DTR -> DSR */
	assert_int_equal(rd(u, MSR) & 0xf0, 0x20);
	wr(u, MCR, 0x14); /* OUT1 -> RI */
	assert_int_equal(rd(u, MSR) & 0xf0, 0x40);
	wr(u, MCR, 0x1f);
	assert_int_equal(rd(u, MSR) & 0xf0, 0xf0);
	/* In loopback, what is sent comes back and nothing reaches the console. */
	wr(u, THR, 'L');
	assert_int_equal(drain_output(u, out, sizeof(out)), 0);
	assert_int_equal(rd(u, LSR) & 0x01, 0x01);
	assert_int_equal(rd(u, RBR), 'L');
	assert_int_equal(rd(u, LSR) & 0x01, 0);
	/* Out of loopback the modem lines read as connected again. */
	wr(u, MCR, 0x0b);
	assert_int_equal(rd(u, MSR) & 0xf0, 0xb0);
}

static void test_receive_and_irq(void **state)
{
	struct uart *u = *state;

	assert_int_equal(rd(u, LSR) & 0x01, 0);
	wr(u, IER, 0x01);	       /* RDI */
	assert_int_equal(u->edges, 0); /* nothing to receive yet */
	assert_int_equal(serial_push_input(&u->s, (const uint8_t *)"abc", 3), 3);
	assert_int_equal(u->edges, 1);
	assert_true(irq_level(u));
	assert_ptr_equal(u->opaque_seen, u);
	assert_int_equal(u->irq_seen, IRQ_LINE);
	assert_int_equal(rd(u, IIR) & 0x0f, 0x04); /* received data available */
	assert_int_equal(rd(u, LSR) & 0x01, 0x01);
	assert_int_equal(rd(u, RBR), 'a');
	assert_int_equal(rd(u, RBR), 'b');
	assert_true(irq_level(u)); /* still data */
	assert_int_equal(u->edges, 1);
	assert_int_equal(rd(u, RBR), 'c');
	/* Drained: the line drops, exactly once. */
	assert_int_equal(u->edges, 2);
	assert_false(irq_level(u));
	assert_int_equal(rd(u, LSR) & 0x01, 0);
	assert_int_equal(rd(u, IIR) & 0x0f, 0x01);
	assert_int_equal(u->s.rx_bytes, 3);
}

static void test_rdi_enabled_after_data(void **state)
{
	struct uart *u = *state;

	assert_int_equal(serial_push_input(&u->s, (const uint8_t *)"z", 1), 1);
	assert_int_equal(u->edges, 0); /* IER clear */
	wr(u, IER, 0x01);
	assert_int_equal(u->edges, 1);
	assert_true(irq_level(u));
	wr(u, IER, 0x00);
	assert_int_equal(u->edges, 2);
	assert_false(irq_level(u));
	assert_int_equal(rd(u, RBR), 'z');
}

static void test_thri(void **state)
{
	struct uart *u = *state;
	char out[8];

	/* Enabling THRI with the transmitter empty raises it at once. */
	wr(u, IER, 0x02);
	assert_int_equal(u->edges, 1);
	assert_true(irq_level(u));
	/* Reading IIR reports and acknowledges it. */
	assert_int_equal(rd(u, IIR) & 0x0f, 0x02);
	assert_int_equal(u->edges, 2);
	assert_false(irq_level(u));
	assert_int_equal(rd(u, IIR) & 0x0f, 0x01);
	/* Each transmitted byte raises it again. */
	wr(u, THR, '!');
	assert_int_equal(u->edges, 3);
	assert_true(irq_level(u));
	assert_int_equal(drain_output(u, out, sizeof(out)), 1);
	assert_int_equal(rd(u, IIR) & 0x0f, 0x02);
	assert_false(irq_level(u));
	/* Rewriting IER with THRI already on does not re-raise. */
	wr(u, IER, 0x02);
	assert_false(irq_level(u));
	assert_int_equal(u->edges, 4);
}

static void test_irq_priority(void **state)
{
	struct uart *u = *state;

	wr(u, IER, 0x03);
	assert_int_equal(serial_push_input(&u->s, (const uint8_t *)"q", 1), 1);
	assert_true(irq_level(u));
	/* Received data outranks THR empty; reading IIR then does not ack THRI. */
	assert_int_equal(rd(u, IIR) & 0x0f, 0x04);
	assert_int_equal(rd(u, IIR) & 0x0f, 0x04);
	assert_int_equal(rd(u, RBR), 'q');
	assert_true(irq_level(u)); /* THRI still pending */
	assert_int_equal(rd(u, IIR) & 0x0f, 0x02);
	assert_false(irq_level(u));
}

static void test_rx_full(void **state)
{
	struct uart *u = *state;
	uint8_t buf[SERIAL_RX_SIZE + 10];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)i;
	assert_int_equal(serial_rx_room(&u->s), SERIAL_RX_SIZE);
	assert_int_equal(serial_push_input(&u->s, buf, sizeof(buf)), SERIAL_RX_SIZE);
	assert_int_equal(serial_rx_room(&u->s), 0);
	assert_int_equal(serial_push_input(&u->s, buf, 1), 0);
	assert_int_equal(u->s.rx_bytes, SERIAL_RX_SIZE);
	/* Reads come out in order; a read makes room for one more. */
	assert_int_equal(rd(u, RBR), 0);
	assert_int_equal(rd(u, RBR), 1);
	assert_int_equal(serial_rx_room(&u->s), 2);
	assert_int_equal(serial_push_input(&u->s, (const uint8_t *)"\xaa\xbb\xcc", 3), 2);
	for (size_t i = 2; i < SERIAL_RX_SIZE; i++)
		assert_int_equal(rd(u, RBR), (uint8_t)i);
	assert_int_equal(rd(u, RBR), 0xaa); /* wrapped around the ring */
	assert_int_equal(rd(u, RBR), 0xbb);
	assert_int_equal(rd(u, LSR) & 0x01, 0);
}

static void test_fifo_control(void **state)
{
	struct uart *u = *state;

	wr(u, FCR, 0x01);
	assert_int_equal(rd(u, IIR), 0xc1); /* FIFOs enabled, no interrupt */
	assert_int_equal(serial_push_input(&u->s, (const uint8_t *)"abc", 3), 3);
	wr(u, FCR, 0x03); /* clear the receive FIFO */
	assert_int_equal(rd(u, LSR) & 0x01, 0);
	assert_int_equal(serial_rx_room(&u->s), SERIAL_RX_SIZE);
	wr(u, FCR, 0x00);
	assert_int_equal(rd(u, IIR), 0x01);
}

static void test_odd_accesses(void **state)
{
	struct uart *u = *state;
	uint8_t data[4] = {0xff, 0xff, 0xff, 0xff};
	char out[8];

	/* Wider than a byte, or past the 8 registers: ignored, open bus stays. */
	serial_io(&u->s, LSR, data, 2, false);
	assert_memory_equal(data, "\xff\xff", 2);
	serial_io(&u->s, 8, data, 1, false);
	assert_int_equal(data[0], 0xff);
	data[0] = 'w';
	serial_io(&u->s, THR, data, 2, true);
	assert_int_equal(drain_output(u, out, sizeof(out)), 0);
	/* LSR and MSR are read-only. */
	wr(u, LSR, 0x00);
	assert_int_equal(rd(u, LSR), 0x60);
	wr(u, MSR, 0x00);
	assert_int_equal(rd(u, MSR), 0xb0);
}

static void test_closed_console(void **state)
{
	struct uart *u = *state;

	/* A console that went away drops output, never blocks the guest. */
	close(u->pipe[0]);
	u->pipe[0] = open("/dev/null", O_RDONLY);
	signal(SIGPIPE, SIG_IGN);
	wr(u, THR, 'a');
	wr(u, THR, 'b');
	assert_int_equal(u->s.tx_bytes, 2);
	assert_int_equal(rd(u, LSR) & 0x60, 0x60);
}

#define UART_TEST(f) cmocka_unit_test_setup_teardown(f, uart_setup, uart_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    UART_TEST(test_reset_state),
	    UART_TEST(test_transmit),
	    UART_TEST(test_divisor_latch),
	    UART_TEST(test_loopback),
	    UART_TEST(test_receive_and_irq),
	    UART_TEST(test_rdi_enabled_after_data),
	    UART_TEST(test_thri),
	    UART_TEST(test_irq_priority),
	    UART_TEST(test_rx_full),
	    UART_TEST(test_fifo_control),
	    UART_TEST(test_odd_accesses),
	    UART_TEST(test_closed_console),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
