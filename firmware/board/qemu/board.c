/*
 * firmware/board/qemu/board.c: the modem on qemu-system-arm -M mps2-an386.
 *
 * The emulated board is a Cortex-M4 with ARM's CMSDK peripherals (ARM AN386; CMSDK
 * technical reference manual, ARM DDI 0479, 4.2 APB UART). It has no radio, so the
 * SX1262 behind spi_transfer() is the chip model of the host build
 * (firmware/host/sx126x_model.c, plain C with no I/O), and its antenna faces a
 * reflector: every frame the chip sends is sent back to it once, right after it ends,
 * as a nearby station repeating it would. The real driver and the real core run above
 * it unchanged, with airtime, CAD and receive windows as the model times them.
 * tests/integration/firmware_qemu.sh drives this image over UART0.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../hal.h"
#include "../../modem.h"
#include "../../sx126x.h"
#include "../common/cortex_m.h"
#include "../common/rx_ring.h"
#include "../../host/sx126x_model.h"

/* qemu's mps2 boards run the core (and SysTick) at 25 MHz (AN386 SYSCLK). */
#define CORE_HZ 25000000u

/* CMSDK APB UART0 (AN386 memory map) and its registers (DDI 0479 table 4-3). */
#define UART0_BASE    0x40004000u
#define UART_DATA     REG32(UART0_BASE + 0x00)
#define UART_STATE    REG32(UART0_BASE + 0x04)
#define UART_CTRL     REG32(UART0_BASE + 0x08)
#define UART_INTCLEAR REG32(UART0_BASE + 0x0C)
#define UART_BAUDDIV  REG32(UART0_BASE + 0x10)
#define UART_STATE_TXFULL (1u << 0)
#define UART_STATE_RXFULL (1u << 1)
#define UART_CTRL_TXEN    (1u << 0)
#define UART_CTRL_RXEN    (1u << 1)
#define UART_CTRL_RXIE    (1u << 3)
#define UART_INT_RX       (1u << 1)
#define UART0_RX_IRQ      0     /* AN386 interrupt map: UART0 RX */

/* PLATFORM/MCU bytes: RNode assigns none to an emulated board, so these are
 * apagon's own (firmware/board/README.md; the host simulation reports 0xF0). */
#define QEMU_PLATFORM APG_PLATFORM_QEMU
#define QEMU_MCU      APG_MCU_QEMU


/* How the reflected frame is heard: a strong nearby signal (dBm, SNR in 1/4 dB). */
#define ECHO_RSSI_DBM -40
#define ECHO_SNR_DB4  40

enum echo_state { ECHO_IDLE, ECHO_WAIT, ECHO_ON_AIR };

struct echo {
	enum echo_state state;
	uint32_t id;
	uint8_t data[255];
	size_t len;
	uint32_t freq_hz, bw_hz, airtime_us;
	uint8_t sf;
	uint64_t at_us;    /* WAIT: our transmission ends; ON_AIR: the reflection ends */
};

struct board {
	struct rx_ring rx;
	uint64_t spi_now_us;           /* time of the SPI transaction under way */
	struct sx_model radio;
	struct echo echo;
};

static struct board board;

void
board_irq(unsigned irq)
{
	if (irq != UART0_RX_IRQ)
		return;
	/* Clear first, then drain: a byte landing after the last RXFULL check raises
	 * the interrupt again. Cleared last, that byte would sit in the UART with no
	 * interrupt pending, and the UART would take no more. */
	UART_INTCLEAR = UART_INT_RX;
	while (UART_STATE & UART_STATE_RXFULL) {
		rx_ring_put(&board.rx, (uint8_t)UART_DATA);
	}
}

static size_t
qemu_uart_read(void *ctx, uint8_t *buf, size_t cap)
{
	struct board *b = ctx;

	return rx_ring_read(&b->rx, buf, cap);
}

static size_t
qemu_uart_write(void *ctx, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	(void)ctx;
	while (n < len && !(UART_STATE & UART_STATE_TXFULL))
		UART_DATA = buf[n++];
	return n;
}

static uint64_t
now_us(void)
{
	return cm_now_ms() * 1000u;
}

/* The model sends a frame (called from inside sx_model_spi): keep it to reflect. A
 * frame sent before the previous reflection went out replaces it. */
static void
echo_tx(void *ctx, uint32_t freq_hz, uint32_t bw_hz, uint8_t sf, uint8_t cr, int8_t power_dbm,
    uint32_t airtime_us, const uint8_t *data, size_t len)
{
	struct board *b = ctx;
	struct echo *e = &b->echo;

	(void)cr;
	(void)power_dbm;
	if (len > sizeof e->data)
		len = sizeof e->data;
	memcpy(e->data, data, len);
	e->len = len;
	e->freq_hz = freq_hz;
	e->bw_hz = bw_hz;
	e->sf = sf;
	e->airtime_us = airtime_us;
	e->at_us = b->spi_now_us + airtime_us;
	e->state = ECHO_WAIT;
}

/* Advance the chip and the reflector to `t`: once our transmission has ended and the
 * chip listens again, the reflection goes on air for the same airtime, then ends. */
static void
radio_step(struct board *b, uint64_t t)
{
	struct echo *e = &b->echo;

	sx_model_tick(&b->radio, t);
	if (e->state == ECHO_WAIT && t >= e->at_us && b->radio.mode == SXM_RX) {
		sx_model_onair(&b->radio, ++e->id, e->freq_hz, e->bw_hz, e->sf, ECHO_RSSI_DBM,
		    ECHO_SNR_DB4, e->airtime_us, t);
		e->at_us = t + e->airtime_us;
		e->state = ECHO_ON_AIR;
	}
	if (e->state == ECHO_ON_AIR && t >= e->at_us) {
		sx_model_rxend(&b->radio, e->id, 1, e->data, e->len, t);
		e->state = ECHO_IDLE;
	}
}

static void
qemu_spi_transfer(void *ctx, const uint8_t *tx, uint8_t *rx, size_t len)
{
	struct board *b = ctx;

	b->spi_now_us = now_us();
	radio_step(b, b->spi_now_us);
	sx_model_spi(&b->radio, tx, rx, len, b->spi_now_us);
}

static int
qemu_radio_busy(void *ctx)
{
	(void)ctx;
	return 0;   /* the model finishes every command within the transaction */
}

static int
qemu_radio_dio1(void *ctx)
{
	struct board *b = ctx;

	radio_step(b, now_us());
	return sx_model_dio1(&b->radio);
}

static void
qemu_radio_reset(void *ctx)
{
	struct board *b = ctx;

	sx_model_reset(&b->radio);
	b->echo.state = ECHO_IDLE;
}

static void
qemu_delay_ms(void *ctx, uint32_t ms)
{
	(void)ctx;
	cm_delay_ms(ms);
}

static void
qemu_idle(void *ctx, uint32_t max_ms)
{
	(void)ctx;
	/* The next SysTick or UART byte ends the wait, well within max_ms. */
	if (max_ms > 0)
		cm_wfi();
}

static const struct hal_ops qemu_hal_ops = {
	.now_ms = board_now_ms,
	.uart_read = qemu_uart_read,
	.uart_write = qemu_uart_write,
	.spi_transfer = qemu_spi_transfer,
	.radio_busy = qemu_radio_busy,
	.radio_dio1 = qemu_radio_dio1,
	.radio_reset = qemu_radio_reset,
	.delay_ms = qemu_delay_ms,
	.idle = qemu_idle,
	.antenna = NULL,
};

static const struct hal_info qemu_hal_info = {
	.name = "qemu-mps2-an386",
	.platform = QEMU_PLATFORM,
	.mcu = QEMU_MCU,
	.tcxo_mv = 0,
	.dio2_rf_switch = 1,
	.dcdc = 1,
	.max_dbm = 22,
};

static void
uart_init(void)
{
	UART_BAUDDIV = CORE_HZ / 115200u;   /* meaningless to qemu, kept honest */
	UART_CTRL = UART_CTRL_TXEN | UART_CTRL_RXEN | UART_CTRL_RXIE;
	cm_irq_enable(UART0_RX_IRQ);
}

int
main(void)
{
	static struct modem modem;
	static struct sx126x sx;
	static const struct hal hal = { &qemu_hal_ops, &board, &qemu_hal_info };
	struct radio radio;

	static const struct sxm_link link = { echo_tx, &board };

	sx_model_init(&board.radio, &link);
	uart_init();
	cm_tick_start(CORE_HZ);
	radio = sx126x_radio(&sx, &hal);
	/* On failure the core still answers the host (RADIO_STATE on reports
	 * ERROR_INITRADIO), so the loop runs either way. */
	(void)modem_init(&modem, &hal, &radio);
	for (;;)
		modem_poll(&modem);
}
