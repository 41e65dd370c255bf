/* SPDX-License-Identifier: MIT */
/*
 * serial.c -- 8250/16550A UART.
 *
 * Transmission is instantaneous: a byte written to THR goes to the console
 * output buffer (console_out.h: written on without ever blocking, dropped and
 * counted when a reader stops reading), so LSR always reports the
 * transmitter empty. Interrupts follow
 * the 16550 priority order (receive data, then THR empty); the line is only
 * touched in KVM when its level changes.
 */
#include "vireo/hw/serial.h"

#include <string.h>

enum {
	REG_RBR_THR = 0, /* DLL when DLAB */
	REG_IER = 1,	 /* DLM when DLAB */
	REG_IIR_FCR = 2,
	REG_LCR = 3,
	REG_MCR = 4,
	REG_LSR = 5,
	REG_MSR = 6,
	REG_SCR = 7,
};

#define IER_RDI	     0x01
#define IER_THRI     0x02
#define IIR_NONE     0x01
#define IIR_THRI     0x02
#define IIR_RDI	     0x04
#define IIR_FIFO     0xc0
#define FCR_ENABLE   0x01
#define FCR_CLEAR_RX 0x02
#define LCR_DLAB     0x80
#define MCR_DTR	     0x01
#define MCR_RTS	     0x02
#define MCR_OUT1     0x04
#define MCR_OUT2     0x08
#define MCR_LOOP     0x10
#define LSR_DR	     0x01
#define LSR_THRE     0x20
#define LSR_TEMT     0x40
#define MSR_CTS	     0x10
#define MSR_DSR	     0x20
#define MSR_RI	     0x40
#define MSR_DCD	     0x80

int serial_init(struct serial *s, int out_fd, unsigned irq, irq_line_fn set_irq, void *opaque)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->irq = irq;
	s->set_irq = set_irq;
	s->irq_opaque = opaque;
	s->mcr = MCR_OUT2;
	s->lcr = 0x03; /* 8N1 */
	s->dll = 12;   /* 9600 baud */
	s->out_ready = console_out_init(&s->out, out_fd) == 0;
	return s->out_ready ? 0 : -1;
}

void serial_destroy(struct serial *s)
{
	if (s->out_ready)
		console_out_destroy(&s->out);
	s->out_ready = false;
	pthread_mutex_destroy(&s->lock);
}

static uint8_t pending_iir(const struct serial *s)
{
	if ((s->ier & IER_RDI) && s->rx_count)
		return IIR_RDI;
	if ((s->ier & IER_THRI) && s->thri_pending)
		return IIR_THRI;
	return IIR_NONE;
}

/* Called with the lock held after every state change. */
static void update_irq(struct serial *s)
{
	bool level = pending_iir(s) != IIR_NONE;

	if (level != s->irq_level) {
		s->irq_level = level;
		if (s->set_irq)
			s->set_irq(s->irq_opaque, s->irq, level);
	}
}

/* Never blocks: a reader that stops reading costs dropped bytes, not a stuck vCPU. */
static void write_out(struct serial *s, uint8_t c)
{
	if (s->out_ready)
		console_out_put(&s->out, &c, 1);
	s->tx_bytes++;
}

static void rx_put(struct serial *s, uint8_t c)
{
	if (s->rx_count == SERIAL_RX_SIZE)
		return;
	s->rx[(s->rx_head + s->rx_count) % SERIAL_RX_SIZE] = c;
	s->rx_count++;
}

static uint8_t rx_get(struct serial *s)
{
	uint8_t c;

	if (!s->rx_count)
		return 0;
	c = s->rx[s->rx_head];
	s->rx_head = (s->rx_head + 1) % SERIAL_RX_SIZE;
	s->rx_count--;
	return c;
}

static void reg_write(struct serial *s, unsigned reg, uint8_t v)
{
	bool dlab = s->lcr & LCR_DLAB;

	switch (reg) {
	case REG_RBR_THR:
		if (dlab) {
			s->dll = v;
		} else if (s->mcr & MCR_LOOP) {
			rx_put(s, v); /* loopback: what is sent is received */
			s->thri_pending = true;
		} else {
			write_out(s, v);
			s->thri_pending = true;
		}
		break;
	case REG_IER:
		if (dlab) {
			s->dlm = v;
			break;
		}
		/* Enabling THRI with the transmitter empty raises it at once. */
		if (!(s->ier & IER_THRI) && (v & IER_THRI))
			s->thri_pending = true;
		s->ier = v & 0x0f;
		break;
	case REG_IIR_FCR:
		s->fcr = v & 0xc9;
		if (v & FCR_CLEAR_RX)
			s->rx_count = 0;
		break;
	case REG_LCR:
		s->lcr = v;
		break;
	case REG_MCR:
		s->mcr = v & 0x1f;
		break;
	case REG_SCR:
		s->scr = v;
		break;
	default: /* LSR and MSR are read-only */
		break;
	}
}

static uint8_t modem_status(const struct serial *s)
{
	if (s->mcr & MCR_LOOP) {
		/* Loopback wires DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD; Linux's
		 * probe checks exactly this. */
		return (
		    uint8_t)((s->mcr & MCR_DTR ? MSR_DSR : 0) | (s->mcr & MCR_RTS ? MSR_CTS : 0) |
			     (s->mcr & MCR_OUT1 ? MSR_RI : 0) | (s->mcr & MCR_OUT2 ? MSR_DCD : 0));
	}
	return MSR_DCD | MSR_DSR | MSR_CTS;
}

static uint8_t reg_read(struct serial *s, unsigned reg)
{
	bool dlab = s->lcr & LCR_DLAB;
	uint8_t iir;

	switch (reg) {
	case REG_RBR_THR:
		return dlab ? s->dll : rx_get(s);
	case REG_IER:
		return dlab ? s->dlm : s->ier;
	case REG_IIR_FCR:
		iir = pending_iir(s);
		if (iir == IIR_THRI)
			s->thri_pending = false; /* reading IIR acknowledges THRI */
		return iir | (s->fcr & FCR_ENABLE ? IIR_FIFO : 0);
	case REG_LCR:
		return s->lcr;
	case REG_MCR:
		return s->mcr;
	case REG_LSR:
		return (s->rx_count ? LSR_DR : 0) | LSR_THRE | LSR_TEMT;
	case REG_MSR:
		return modem_status(s);
	case REG_SCR:
		return s->scr;
	default:
		return 0xff;
	}
}

void serial_io(void *dev, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
	struct serial *s = dev;

	if (len != 1 || offset > REG_SCR)
		return; /* the UART has byte registers only; leave the open-bus value */
	pthread_mutex_lock(&s->lock);
	if (is_write)
		reg_write(s, (unsigned)offset, data[0]);
	else
		data[0] = reg_read(s, (unsigned)offset);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

size_t serial_push_input(struct serial *s, const uint8_t *buf, size_t len)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = SERIAL_RX_SIZE - s->rx_count;
	if (n > len)
		n = len;
	for (size_t i = 0; i < n; i++)
		rx_put(s, buf[i]);
	s->rx_bytes += n;
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}

size_t serial_rx_room(struct serial *s)
{
	size_t room;

	pthread_mutex_lock(&s->lock);
	room = SERIAL_RX_SIZE - s->rx_count;
	pthread_mutex_unlock(&s->lock);
	return room;
}

uint64_t serial_tx_dropped(const struct serial *s)
{
	return s->out_ready ? s->out.dropped : s->tx_bytes; /* no buffer: nothing went out */
}
