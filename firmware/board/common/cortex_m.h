/*
 * firmware/board/common/cortex_m.h: the Cortex-M4 core registers every board image
 * uses (SysTick, NVIC, SCB), from the ARMv7-M Architecture Reference Manual (ARM DDI
 * 0403, B3.2 System Control Space, B3.3 SysTick, B3.4 NVIC), and the start-up
 * contract between common/startup.c and a board.
 *
 * Register-level and freestanding: no CMSIS, no vendor headers.
 */
#ifndef APAGON_BOARD_CORTEX_M_H
#define APAGON_BOARD_CORTEX_M_H

#include <stdint.h>

#define REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* SysTick (ARMv7-M B3.3.2). */
#define SYST_CSR   REG32(0xE000E010u)
#define SYST_RVR   REG32(0xE000E014u)
#define SYST_CVR   REG32(0xE000E018u)
#define SYST_CSR_ENABLE    (1u << 0)
#define SYST_CSR_TICKINT   (1u << 1)
#define SYST_CSR_CLKSOURCE (1u << 2)   /* 1: the processor clock */

/* NVIC (B3.4.3): one bit per external interrupt, 32 per word. */
#define NVIC_ISER(n) REG32(0xE000E100u + 4u * (n))
#define NVIC_ICER(n) REG32(0xE000E180u + 4u * (n))
#define NVIC_ISPR(n) REG32(0xE000E200u + 4u * (n))
#define NVIC_ICPR(n) REG32(0xE000E280u + 4u * (n))

/* SCB (B3.2.2). */
#define SCB_VTOR   REG32(0xE000ED08u)
#define SCB_AIRCR  REG32(0xE000ED0Cu)
#define SCB_CPACR  REG32(0xE000ED88u)
#define SCB_AIRCR_SYSRESETREQ (0x05FA0000u | (1u << 2))

static inline void cm_irq_enable(unsigned irq) { NVIC_ISER(irq / 32) = 1u << (irq % 32); }
static inline void cm_irq_disable(unsigned irq) { NVIC_ICER(irq / 32) = 1u << (irq % 32); }
static inline int cm_irq_pending(unsigned irq) { return (NVIC_ISPR(irq / 32) >> (irq % 32)) & 1u; }
static inline void cm_irq_unpend(unsigned irq) { NVIC_ICPR(irq / 32) = 1u << (irq % 32); }

static inline void cm_disable_irqs(void) { __asm__ volatile ("cpsid i" ::: "memory"); }
static inline void cm_enable_irqs(void) { __asm__ volatile ("cpsie i" ::: "memory"); }
static inline void cm_wfi(void) { __asm__ volatile ("wfi" ::: "memory"); }
static inline void cm_dsb(void) { __asm__ volatile ("dsb" ::: "memory"); }

/*
 * The start-up contract. common/startup.c owns the vector table, the reset handler
 * (copy .data, zero .bss, then main) and SysTick; the board provides these.
 */

/* A device interrupt (vector 16 + irq) fired. Runs in handler mode. */
void board_irq(unsigned irq);

/* Milliseconds since SysTick was started by cm_tick_start(). */
uint64_t cm_now_ms(void);

/* Start a 1 ms SysTick from a core clock of `hz`, interrupts on. */
void cm_tick_start(uint32_t hz);

/* Busy-wait `ms` milliseconds on the tick (WFI between ticks). */
void cm_delay_ms(uint32_t ms);

int main(void);

#endif
