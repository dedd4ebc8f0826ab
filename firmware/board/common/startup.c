/*
 * firmware/board/common/startup.c: vector table, reset handler and the millisecond
 * tick shared by every Cortex-M4 board image.
 *
 * The linker script (one per board) provides the symbols used here: the initial stack
 * pointer, the load and run addresses of .data and the bounds of .bss. Every device
 * interrupt goes through one handler that reads the active vector from IPSR
 * (ARMv7-M B1.4.2) and hands its number to board_irq(), so a board's interrupt code is
 * one switch and the table needs no per-chip list of names.
 */
#include <stdint.h>

#include "cortex_m.h"

#ifndef BOARD_NIRQ
#error "BOARD_NIRQ (number of device interrupts) must be set by the board build"
#endif

extern uint32_t __stack_top[];
extern uint32_t __data_load[], __data_start[], __data_end[];
extern uint32_t __bss_start[], __bss_end[];

void reset_handler(void);
void fault_handler(void);
void systick_handler(void);
void device_irq_handler(void);

static volatile uint64_t tick_ms;

void
reset_handler(void)
{
	/* Word copies: the linker script aligns all four symbols to 4. */
	uint32_t *src = __data_load, *dst = __data_start;

	while (dst < __data_end)
		*dst++ = *src++;
	for (dst = __bss_start; dst < __bss_end; dst++)
		*dst = 0;
#if defined(__ARM_FP)
	/* Built with the FPU: grant CP10/CP11 full access before any FP instruction
	 * (ARMv7-M B3.2.20). */
	SCB_CPACR |= 0xFu << 20;
	cm_dsb();
	__asm__ volatile ("isb");
#endif
	main();
	for (;;)
		cm_wfi();
}

/* Hard fault, NMI, memory/bus/usage faults: stop where a debugger can look. On the
 * qemu image the test's timeout turns a hang into a failure. */
void
fault_handler(void)
{
	cm_disable_irqs();
	for (;;)
		;
}

void
systick_handler(void)
{
	tick_ms++;
}

void
device_irq_handler(void)
{
	uint32_t ipsr;

	__asm__ volatile ("mrs %0, ipsr" : "=r"(ipsr));
	board_irq((ipsr & 0x1FFu) - 16u);
}

typedef void (*vector_fn)(void);

__attribute__((section(".vectors"), used))
static const vector_fn vectors[16 + BOARD_NIRQ] = {
	[0] = (vector_fn)(uintptr_t)__stack_top,
	[1] = reset_handler,
	[2] = fault_handler,    /* NMI */
	[3] = fault_handler,    /* HardFault */
	[4] = fault_handler,    /* MemManage */
	[5] = fault_handler,    /* BusFault */
	[6] = fault_handler,    /* UsageFault */
	[11] = fault_handler,   /* SVCall: unused */
	[12] = fault_handler,   /* DebugMonitor */
	[14] = fault_handler,   /* PendSV: unused */
	[15] = systick_handler,
	[16 ... 16 + BOARD_NIRQ - 1] = device_irq_handler,
};

uint64_t
cm_now_ms(void)
{
	uint64_t a, b;

	/* A 64-bit load is two 32-bit loads: read until two agree so a tick between
	 * them cannot tear the value. */
	do {
		a = tick_ms;
		b = tick_ms;
	} while (a != b);
	return a;
}

void
cm_tick_start(uint32_t hz)
{
	SYST_RVR = hz / 1000u - 1u;
	SYST_CVR = 0;
	SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_TICKINT | SYST_CSR_ENABLE;
	cm_enable_irqs();
}

void
cm_delay_ms(uint32_t ms)
{
	/* +1: the current tick is already partly gone, so wait for ms whole ones. */
	uint64_t end = cm_now_ms() + ms + 1;

	while (cm_now_ms() < end)
		cm_wfi();
}
