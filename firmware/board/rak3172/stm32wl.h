/*
 * firmware/board/rak3172/stm32wl.h: the STM32WLE5 registers the RAK3172 image uses.
 *
 * Addresses, offsets and bit positions are from ST RM0461 (STM32WLEx reference
 * manual): 2.2 memory map, 3.7 FLASH_ACR, 5.6 PWR, 6.4 RCC, 7.4 GPIO, 14 EXTI,
 * 33 USART, 34.1 SUBGHZSPI. Only what the board code touches is named here.
 */
#ifndef APAGON_STM32WL_H
#define APAGON_STM32WL_H

#include "../common/cortex_m.h"

/* FLASH (RM0461 3.7.1): wait states in ACR bits 2:0. */
#define FLASH_ACR          REG32(0x58004000u)
#define FLASH_ACR_LATENCY  0x7u
#define FLASH_ACR_PRFTEN   (1u << 8)
#define FLASH_ACR_ICEN     (1u << 9)
#define FLASH_ACR_DCEN     (1u << 10)

/* RCC (RM0461 6.4). */
#define RCC_BASE           0x58000000u
#define RCC_CR             REG32(RCC_BASE + 0x000)
#define RCC_CFGR           REG32(RCC_BASE + 0x008)
#define RCC_AHB2ENR        REG32(RCC_BASE + 0x04C)
#define RCC_APB1ENR1       REG32(RCC_BASE + 0x058)
#define RCC_APB3ENR        REG32(RCC_BASE + 0x064)
#define RCC_CSR            REG32(RCC_BASE + 0x094)
#define RCC_CR_MSIRDY      (1u << 1)
#define RCC_CR_MSIRGSEL    (1u << 3)
#define RCC_CR_MSIRANGE(r) ((uint32_t)(r) << 4)
#define RCC_CR_MSIRANGE_MASK (0xFu << 4)
#define RCC_CR_HSEON       (1u << 16)
#define RCC_CR_HSERDY      (1u << 17)
#define RCC_CFGR_SW_MASK   0x3u
#define RCC_CFGR_SW_HSE32  0x2u
#define RCC_CFGR_SWS_SHIFT 2
#define RCC_AHB2ENR_GPIOAEN (1u << 0)
#define RCC_AHB2ENR_GPIOBEN (1u << 1)
#define RCC_AHB2ENR_GPIOCEN (1u << 2)
#define RCC_APB1ENR1_USART2EN (1u << 17)
#define RCC_APB3ENR_SUBGHZSPIEN (1u << 0)
#define RCC_CSR_RFRSTF     (1u << 14)  /* radio is in reset */
#define RCC_CSR_RFRST      (1u << 15)  /* hold the radio in reset */

/* PWR (RM0461 5.6). */
#define PWR_BASE           0x58000400u
#define PWR_SR2            REG32(PWR_BASE + 0x014)
#define PWR_SUBGHZSPICR    REG32(PWR_BASE + 0x090)
#define PWR_SR2_RFBUSYS    (1u << 1)   /* the radio's BUSY signal */
#define PWR_SUBGHZSPICR_NSS (1u << 15) /* 0 selects the radio */

/* EXTI (RM0461 14.3): line 44 is the radio IRQ, a direct line, bit 12 of the CPU1
 * interrupt mask register 2. */
#define EXTI_C1IMR2        REG32(0x58000800u + 0x090)
#define EXTI_LINE44        (1u << 12)

/* GPIO ports (RM0461 7.4). */
#define GPIOA_BASE         0x48000000u
#define GPIOB_BASE         0x48000400u
#define GPIOC_BASE         0x48000800u
#define GPIO_MODER(p)      REG32((p) + 0x00)
#define GPIO_OSPEEDR(p)    REG32((p) + 0x08)
#define GPIO_PUPDR(p)      REG32((p) + 0x0C)
#define GPIO_IDR(p)        REG32((p) + 0x10)
#define GPIO_BSRR(p)       REG32((p) + 0x18)
#define GPIO_AFRL(p)       REG32((p) + 0x20)
#define GPIO_AFRH(p)       REG32((p) + 0x24)
#define GPIO_MODE_OUTPUT   1u
#define GPIO_MODE_AF       2u

/* USART2 (RM0461 33.8), FIFO disabled (reset state). */
#define USART2_BASE        0x40004400u
#define USART_CR1(u)       REG32((u) + 0x00)
#define USART_BRR(u)       REG32((u) + 0x0C)
#define USART_ISR(u)       REG32((u) + 0x1C)
#define USART_ICR(u)       REG32((u) + 0x20)
#define USART_RDR(u)       REG32((u) + 0x24)
#define USART_TDR(u)       REG32((u) + 0x28)
#define USART_CR1_UE       (1u << 0)
#define USART_CR1_RE       (1u << 2)
#define USART_CR1_TE       (1u << 3)
#define USART_CR1_RXNEIE   (1u << 5)
#define USART_ISR_ORE      (1u << 3)
#define USART_ISR_RXNE     (1u << 5)
#define USART_ISR_TXE      (1u << 7)
#define USART_ICR_ORECF    (1u << 3)
#define USART_ICR_FECF     (1u << 1)
#define USART_ICR_NECF     (1u << 2)

/* SUBGHZSPI (RM0461 34.1, the SPI3 register layout): the radio's internal SPI. */
#define SUBGHZSPI_BASE     0x58010000u
#define SUBGHZSPI_CR1      REG32(SUBGHZSPI_BASE + 0x00)
#define SUBGHZSPI_CR2      REG32(SUBGHZSPI_BASE + 0x04)
#define SUBGHZSPI_SR       REG32(SUBGHZSPI_BASE + 0x08)
/* The data register must be accessed as a byte, or a 16-bit access packs two frames. */
#define SUBGHZSPI_DR8      (*(volatile uint8_t *)(uintptr_t)(SUBGHZSPI_BASE + 0x0C))
#define SPI_CR1_MSTR       (1u << 2)
#define SPI_CR1_BR(d)      ((uint32_t)(d) << 3)   /* fPCLK / 2^(d+1) */
#define SPI_CR1_SPE        (1u << 6)
#define SPI_CR1_SSI        (1u << 8)
#define SPI_CR1_SSM        (1u << 9)
#define SPI_CR2_DS_8BIT    (7u << 8)
#define SPI_CR2_FRXTH      (1u << 12)
#define SPI_SR_RXNE        (1u << 0)
#define SPI_SR_TXE         (1u << 1)
#define SPI_SR_BSY         (1u << 7)

/* Interrupt numbers (RM0461 table 93, CPU1 vector table). */
#define IRQ_USART2         37
#define IRQ_SUBGHZ_RADIO   50
#define STM32WL_NIRQ       62

#endif
