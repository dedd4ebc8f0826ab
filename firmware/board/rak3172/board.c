/*
 * firmware/board/rak3172/board.c: the modem on a RAK3172 (STM32WLE5CC, sub-GHz radio
 * in the same die). Why this board: firmware/board/README.md.
 *
 * Wiring (RAK3172 datasheet; RF switch from RAK's internal schematic):
 *	host serial   USART2, PA2 TX / PA3 RX (AF7), 115200 8N1: the module's AT port
 *	radio SPI     SUBGHZSPI, NSS = PWR_SUBGHZSPICR.NSS, BUSY = PWR_SR2.RFBUSYS
 *	radio reset   RCC_CSR.RFRST
 *	radio IRQ     EXTI line 44 -> NVIC 50 (its pending bit is read, never taken)
 *	RF switch     PB8 = CTRL1, PC13 = CTRL2: RX 1/0, TX (high-power PA) 0/1, off 0/0
 *	clock         32 MHz crystal (HSE32); the module has no TCXO (the -SiP variant
 *	              does: tcxo_mv below must change for it)
 */
#include <stddef.h>
#include <stdint.h>

#include "../../hal.h"
#include "../../modem.h"
#include "../../sx126x.h"
#include "stm32wl.h"
#include "../common/rx_ring.h"

#define BAUD 115200u

/* PLATFORM/MCU bytes: RNode assigns none to STM32WL boards, so these are apagon's
 * own (firmware/board/README.md). */
#define RAK3172_PLATFORM APG_PLATFORM_RAK3172
#define RAK3172_MCU      APG_MCU_STM32WL

struct board {
	uint32_t core_hz;
	struct rx_ring rx;            /* filled by the USART2 interrupt */
};

static struct board board;

/*
 * Clocks. After reset the core runs from MSI at 4 MHz. The radio's own 32 MHz crystal
 * oscillator (HSE32) is the most accurate clock on the module, so the system runs from
 * it: the UART divider then errs by 0.08 % instead of MSI's factory trim (RM0461 6.2.3:
 * about +-1 %). If HSE32 does not start (a module with a TCXO that must first be
 * powered), the core falls back to MSI at 48 MHz. Two flash wait states cover both
 * (RM0461 table 9: range 1, up to 48 MHz).
 */
static uint32_t
clock_init(void)
{
	FLASH_ACR = (FLASH_ACR & ~FLASH_ACR_LATENCY) | 2u | FLASH_ACR_PRFTEN | FLASH_ACR_ICEN |
	    FLASH_ACR_DCEN;
	while ((FLASH_ACR & FLASH_ACR_LATENCY) != 2u)
		;

	RCC_CR |= RCC_CR_HSEON;
	for (uint32_t i = 0; i < 200000u; i++) {
		if (RCC_CR & RCC_CR_HSERDY) {
			RCC_CFGR = (RCC_CFGR & ~RCC_CFGR_SW_MASK) | RCC_CFGR_SW_HSE32;
			while (((RCC_CFGR >> RCC_CFGR_SWS_SHIFT) & 3u) != RCC_CFGR_SW_HSE32)
				;
			return 32000000u;
		}
	}
	RCC_CR &= ~RCC_CR_HSEON;
	/* MSI range 11 = 48 MHz; the range may change while MSI runs and is ready. */
	while (!(RCC_CR & RCC_CR_MSIRDY))
		;
	RCC_CR = (RCC_CR & ~RCC_CR_MSIRANGE_MASK) | RCC_CR_MSIRANGE(11) | RCC_CR_MSIRGSEL;
	while (!(RCC_CR & RCC_CR_MSIRDY))
		;
	return 48000000u;
}

static void
gpio_mode(uint32_t port, unsigned pin, uint32_t mode)
{
	GPIO_MODER(port) = (GPIO_MODER(port) & ~(3u << (2 * pin))) | mode << (2 * pin);
}

static void
gpio_af(uint32_t port, unsigned pin, uint32_t af)
{
	volatile uint32_t *afr = pin < 8 ? &GPIO_AFRL(port) : &GPIO_AFRH(port);
	unsigned shift = 4 * (pin % 8);

	*afr = (*afr & ~(0xFu << shift)) | af << shift;
	gpio_mode(port, pin, GPIO_MODE_AF);
}

static void
gpio_write(uint32_t port, unsigned pin, int level)
{
	GPIO_BSRR(port) = level ? 1u << pin : 1u << (pin + 16);
}

static void
uart_init(uint32_t core_hz)
{
	RCC_APB1ENR1 |= RCC_APB1ENR1_USART2EN;
	(void)RCC_APB1ENR1;   /* RM0461 6.2.16: let the enable land before use */
	gpio_af(GPIOA_BASE, 2, 7);
	gpio_af(GPIOA_BASE, 3, 7);
	GPIO_PUPDR(GPIOA_BASE) = (GPIO_PUPDR(GPIOA_BASE) & ~(3u << 6)) | 1u << 6; /* RX pull-up */
	/* USART2 is clocked from PCLK1 = SYSCLK (reset prescalers); oversampling by 16. */
	USART_BRR(USART2_BASE) = (core_hz + BAUD / 2) / BAUD;
	USART_CR1(USART2_BASE) = USART_CR1_UE | USART_CR1_RE | USART_CR1_TE | USART_CR1_RXNEIE;
	cm_irq_enable(IRQ_USART2);
}

static void
subghz_init(void)
{
	RCC_APB3ENR |= RCC_APB3ENR_SUBGHZSPIEN;
	(void)RCC_APB3ENR;
	PWR_SUBGHZSPICR = PWR_SUBGHZSPICR_NSS;
	/* Master, software NSS, PCLK3 / 4 (8 MHz from HSE32, 12 from MSI): under the
	 * radio's 16 MHz SPI limit (DS.SX1261-2 table 8-1, RM0461 4.3). */
	SUBGHZSPI_CR1 = SPI_CR1_MSTR | SPI_CR1_SSM | SPI_CR1_SSI | SPI_CR1_BR(1);
	SUBGHZSPI_CR2 = SPI_CR2_FRXTH | SPI_CR2_DS_8BIT;
	SUBGHZSPI_CR1 |= SPI_CR1_SPE;
	/* The radio IRQ reaches the NVIC only through unmasked EXTI line 44. The NVIC
	 * line stays disabled: rak_radio_dio1() reads its pending bit instead. */
	EXTI_C1IMR2 |= EXTI_LINE44;
}

/* GPIO clocks for the UART and RF switch pins; the switch starts off. */
static void
gpio_init(void)
{
	RCC_AHB2ENR |= RCC_AHB2ENR_GPIOAEN | RCC_AHB2ENR_GPIOBEN | RCC_AHB2ENR_GPIOCEN;
	(void)RCC_AHB2ENR;
	gpio_write(GPIOB_BASE, 8, 0);
	gpio_write(GPIOC_BASE, 13, 0);
	gpio_mode(GPIOB_BASE, 8, GPIO_MODE_OUTPUT);
	gpio_mode(GPIOC_BASE, 13, GPIO_MODE_OUTPUT);
}

void
board_irq(unsigned irq)
{
	if (irq != IRQ_USART2)
		return;
	for (;;) {
		uint32_t isr = USART_ISR(USART2_BASE);

		if (isr & USART_ISR_ORE) {
			USART_ICR(USART2_BASE) = USART_ICR_ORECF;
			board.rx.drops++;
		}
		if (!(isr & USART_ISR_RXNE))
			break;
		rx_ring_put(&board.rx, (uint8_t)USART_RDR(USART2_BASE));       /* clears RXNE */
	}
}

static size_t
rak_uart_read(void *ctx, uint8_t *buf, size_t cap)
{
	struct board *b = ctx;

	return rx_ring_read(&b->rx, buf, cap);
}

static size_t
rak_uart_write(void *ctx, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	(void)ctx;
	while (n < len && (USART_ISR(USART2_BASE) & USART_ISR_TXE))
		USART_TDR(USART2_BASE) = buf[n++];
	return n;
}

static uint8_t
subghz_xfer(uint8_t out)
{
	while (!(SUBGHZSPI_SR & SPI_SR_TXE))
		;
	SUBGHZSPI_DR8 = out;
	while (!(SUBGHZSPI_SR & SPI_SR_RXNE))
		;
	return SUBGHZSPI_DR8;
}

static void
rak_spi_transfer(void *ctx, const uint8_t *tx, uint8_t *rx, size_t len)
{
	(void)ctx;
	PWR_SUBGHZSPICR &= ~PWR_SUBGHZSPICR_NSS;
	for (size_t i = 0; i < len; i++) {
		uint8_t in = subghz_xfer(tx ? tx[i] : 0);

		if (rx)
			rx[i] = in;
	}
	while (SUBGHZSPI_SR & SPI_SR_BSY)
		;
	PWR_SUBGHZSPICR |= PWR_SUBGHZSPICR_NSS;
}

static int
rak_radio_busy(void *ctx)
{
	(void)ctx;
	return (PWR_SR2 & PWR_SR2_RFBUSYS) != 0;
}

/* The radio IRQ has no pin to read: its NVIC line (kept disabled, so no handler runs)
 * latches a pending bit when the radio raises it (ARMv7-M B3.4.1). Report it and clear
 * it. Should the line still be high after the clear (the driver has not yet cleared the
 * radio's IRQ register), it pends again and the next read costs one spare
 * GetIrqStatus; should it be a pulse, it is still seen once. */
static int
rak_radio_dio1(void *ctx)
{
	(void)ctx;
	if (!cm_irq_pending(IRQ_SUBGHZ_RADIO))
		return 0;
	cm_irq_unpend(IRQ_SUBGHZ_RADIO);
	return 1;
}

static void
rak_radio_reset(void *ctx)
{
	(void)ctx;
	RCC_CSR |= RCC_CSR_RFRST;
	cm_delay_ms(1);   /* > 100 us, DS.SX1261-2 8.1 */
	RCC_CSR &= ~RCC_CSR_RFRST;
	while (RCC_CSR & RCC_CSR_RFRSTF)
		;
	/* Out of reset the sub-GHz radio may be asleep, BUSY high, until a falling
	 * NSS edge wakes it (RM0461 4.8.2); with no SPI pin to toggle, pulse the NSS
	 * register bit so the driver's first BUSY wait can end. */
	PWR_SUBGHZSPICR &= ~PWR_SUBGHZSPICR_NSS;
	cm_delay_ms(1);
	PWR_SUBGHZSPICR |= PWR_SUBGHZSPICR_NSS;
}

static void
rak_delay_ms(void *ctx, uint32_t ms)
{
	(void)ctx;
	cm_delay_ms(ms);
}

static void
rak_idle(void *ctx, uint32_t max_ms)
{
	(void)ctx;
	/* Sleep until the next SysTick (1 ms) or a UART byte. */
	if (max_ms > 0)
		cm_wfi();
}

static void
rak_antenna(void *ctx, int mode)
{
	(void)ctx;
	gpio_write(GPIOB_BASE, 8, mode == 1);
	gpio_write(GPIOC_BASE, 13, mode == 2);
}

static const struct hal_ops rak_hal_ops = {
	.now_ms = board_now_ms,
	.uart_read = rak_uart_read,
	.uart_write = rak_uart_write,
	.spi_transfer = rak_spi_transfer,
	.radio_busy = rak_radio_busy,
	.radio_dio1 = rak_radio_dio1,
	.radio_reset = rak_radio_reset,
	.delay_ms = rak_delay_ms,
	.idle = rak_idle,
	.antenna = rak_antenna,
};

static const struct hal_info rak_hal_info = {
	.name = "rak3172",
	.platform = RAK3172_PLATFORM,
	.mcu = RAK3172_MCU,
	.tcxo_mv = 0,          /* crystal; RAK3172-SiP: TCXO on PB0-VDDTCXO, 1700 */
	.dio2_rf_switch = 0,   /* the switch hangs off PB8/PC13: antenna() */
	.dcdc = 0,             /* LDO: RAK does not document the SMPS inductor (RM0461
	                        * 5.1.4); the LDO works either way, at some efficiency */
	.max_dbm = 22,         /* high-power PA path only */
};

int
main(void)
{
	static struct modem modem;
	static struct sx126x sx;
	static const struct hal hal = { &rak_hal_ops, &board, &rak_hal_info };
	struct radio radio;

	board.core_hz = clock_init();
	gpio_init();
	uart_init(board.core_hz);
	subghz_init();
	cm_tick_start(board.core_hz);
	radio = sx126x_radio(&sx, &hal);
	/* On failure the core still answers the host (RADIO_STATE on reports
	 * ERROR_INITRADIO), so the loop runs either way. */
	(void)modem_init(&modem, &hal, &radio);
	for (;;)
		modem_poll(&modem);
}
