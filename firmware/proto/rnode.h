/*
 * firmware/proto/rnode.h: the modem command set carried in KISS frames, shared by the
 * firmware and node/.
 *
 * The command bytes 0x00..0x90 are the RNode protocol's (markqvist/RNode_Firmware
 * Framing.h, Reticulum's RNodeInterface), so a host speaking RNode can drive our modem
 * and node/ can drive a board flashed with RNode firmware. Bytes 0xA0..0xAF are
 * apagon's extensions (region, precedence, counters); an RNode board answers none of
 * them, which is how node/ tells the two apart. Every command, its argument and its
 * reply are in docs/modem.md.
 *
 * Multi-byte integers are big-endian, as in RNode.
 */
#ifndef APAGON_RNODE_H
#define APAGON_RNODE_H

#include <stddef.h>
#include <stdint.h>

/* RNode commands (values from RNode_Firmware Framing.h). */
#define RNODE_CMD_DATA        0x00  /* a LoRa frame, both directions */
#define RNODE_CMD_FREQUENCY   0x01  /* u32 Hz; 0 asks */
#define RNODE_CMD_BANDWIDTH   0x02  /* u32 Hz; 0 asks */
#define RNODE_CMD_TXPOWER     0x03  /* u8 dBm; 0xFF asks */
#define RNODE_CMD_SF          0x04  /* u8 5..12; 0xFF asks */
#define RNODE_CMD_CR          0x05  /* u8 5..8 (4/5..4/8); 0xFF asks */
#define RNODE_CMD_RADIO_STATE 0x06  /* u8 0 off, 1 on, 0xFF asks */
#define RNODE_CMD_RADIO_LOCK  0x07
#define RNODE_CMD_DETECT      0x08  /* DETECT_REQ in, DETECT_RESP out */
#define RNODE_CMD_IMPLICIT    0x09
#define RNODE_CMD_LEAVE       0x0A  /* host is going away (RNode hosts send 0xFF) */
#define RNODE_CMD_ST_ALOCK    0x0B  /* u16 short-term airtime limit, 1/100 %; 0 off */
#define RNODE_CMD_LT_ALOCK    0x0C  /* u16 long-term (one hour) airtime limit, 1/100 % */
#define RNODE_CMD_PROMISC     0x0E
#define RNODE_CMD_READY       0x0F  /* host asks (1 byte); modem: u8 1 room, 0 full */
#define RNODE_CMD_STAT_RX     0x21  /* u32 frames received */
#define RNODE_CMD_STAT_TX     0x22  /* u32 frames sent */
#define RNODE_CMD_STAT_RSSI   0x23  /* u8 RSSI + 157 of the next DATA frame */
#define RNODE_CMD_STAT_SNR    0x24  /* i8 SNR x 4 of the next DATA frame */
#define RNODE_CMD_STAT_CHTM   0x25  /* 4 x u16 airtime/channel load, 1/100 % (+3 bytes) */
#define RNODE_CMD_STAT_PHYPRM 0x26  /* 5 or 6 x u16: symbol us, rate, preamble, ... */
#define RNODE_CMD_STAT_BAT    0x27  /* u8 state, u8 percent */
#define RNODE_CMD_STAT_CSMA   0x28  /* u8 band, u8 cw min, u8 cw max */
#define RNODE_CMD_BLINK       0x30
#define RNODE_CMD_RANDOM      0x40
#define RNODE_CMD_BOARD       0x47
#define RNODE_CMD_PLATFORM    0x48  /* u8 */
#define RNODE_CMD_MCU         0x49  /* u8 */
#define RNODE_CMD_FW_VERSION  0x50  /* u8 major, u8 minor */
#define RNODE_CMD_RESET       0x55  /* 0xF8: reset; modem -> host at boot: it restarted */
#define RNODE_CMD_ERROR       0x90  /* u8 code (+ apagon detail bytes) */

#define RNODE_DETECT_REQ      0x73
#define RNODE_DETECT_RESP     0x46
#define RNODE_RADIO_OFF       0x00
#define RNODE_RADIO_ON        0x01
#define RNODE_ASK_U8          0xFF
#define RNODE_RESET_BYTE      0xF8
#define RNODE_RSSI_OFFSET     157

#define RNODE_PLATFORM_AVR    0x90
#define RNODE_PLATFORM_ESP32  0x80
#define RNODE_PLATFORM_NRF52  0x70
#define RNODE_MCU_1284P       0x91
#define RNODE_MCU_2560        0x92
#define RNODE_MCU_ESP32       0x81
#define RNODE_MCU_NRF52       0x71
/* apagon's own boards, outside the values RNode firmware uses. */
#define APG_PLATFORM_RAK3172  0xE0  /* STM32WLE5 */
#define APG_MCU_STM32WL       0xE1
#define APG_PLATFORM_HOST     0xF0  /* apagon-modem-sim */
#define APG_MCU_HOST          0xF0
#define APG_PLATFORM_QEMU     0xF1  /* qemu-system-arm mps2-an386 */
#define APG_MCU_QEMU          0xF1

/* RNode error codes (Framing.h) and apagon's (0xA0..). */
#define RNODE_ERROR_INITRADIO     0x01
#define RNODE_ERROR_TXFAILED      0x02
#define RNODE_ERROR_EEPROM_LOCKED 0x03
#define RNODE_ERROR_QUEUE_FULL    0x04
#define RNODE_ERROR_MEMORY_LOW    0x05
#define RNODE_ERROR_MODEM_TIMEOUT 0x06
#define APG_ERROR_DUTY_CYCLE      0xA1  /* + u32 ms until the band has room again */
#define APG_ERROR_NO_REGION       0xA2  /* DATA before a region was set: not sent */
#define APG_ERROR_BAD_COMMAND     0xA3  /* + u8 command: wrong argument length/value */
#define APG_ERROR_FREQ_NOT_ALLOWED 0xA4 /* the channel lies in no band of the region */
#define APG_ERROR_POWER           0xA5  /* TX power above the band's legal limit */
#define APG_ERROR_RADIO_OFF       0xA6  /* DATA while the radio is off: not sent */

/* apagon extensions. */
#define APG_CMD_REGION     0xA0  /* u8 region (APG_REGION_*); 0xFF asks */
#define APG_CMD_DATA_PREC  0xA1  /* u8 precedence 0..3, then the frame: host -> modem */
#define APG_CMD_STATS      0xA2  /* ask: no argument; reply: n x (u8 id, u32 value) */
#define APG_CMD_DUTY       0xA3  /* ask: no argument; reply: n x 17-byte band records */
#define APG_CMD_PREAMBLE   0xA4  /* u16 symbols; 0 asks */
#define APG_CMD_TX_DONE    0xA5  /* modem -> host: u8 precedence, u32 airtime ms */

#define APG_REGION_NONE    0     /* the modem never transmits */
#define APG_REGION_EU868   1     /* ETSI EN 300 220 sub-bands */
#define APG_REGION_ASK     0xFF

/* Precedence, as in the bundle's vptt byte (docs/protocol.md 4.4). */
#define APG_PREC_ROUTINE   0
#define APG_PREC_PRIORITY  1
#define APG_PREC_IMMEDIATE 2
#define APG_PREC_FLASH     3

/* Counter ids in an APG_CMD_STATS reply. */
enum apg_stat {
	APG_STAT_RX_FRAMES = 1,
	APG_STAT_RX_CRC_ERRORS,
	APG_STAT_TX_FRAMES,
	APG_STAT_TX_BYTES,
	APG_STAT_TX_AIRTIME_MS,
	APG_STAT_RX_AIRTIME_MS,
	APG_STAT_DUTY_REFUSALS,
	APG_STAT_NO_REGION_REFUSALS,
	APG_STAT_LBT_BUSY,
	APG_STAT_QUEUE_FULL,
	APG_STAT_TX_FAILED,
	APG_STAT_KISS_OVERFLOWS,
	APG_STAT_KISS_BAD_ESCAPES,
	APG_STAT_BAD_COMMANDS,
	APG_STAT_UART_DROPS,
	APG_STAT_LAST_RSSI,    /* dBm + 157, as STAT_RSSI */
	APG_STAT_LAST_SNR,     /* SNR x 4, two's complement in the low byte */
	APG_STAT_NOISE_FLOOR,  /* dBm + 157, latest instantaneous RSSI while idle */
	APG_STAT_QUEUE_LEN,
	APG_STAT_CHANNEL_LOAD, /* 1/100 % over the last hour: own TX + heard frames */
	APG_STAT_RADIO_ERRORS,
	APG_STAT_MAX
};

/* One band record in an APG_CMD_DUTY reply (17 bytes):
 *	u8 band id | u16 limit in 1/100 % | u32 airtime used in the window (ms)
 *	| u32 window budget (ms) | u32 airtime since boot (ms) | u16 refusals */
#define APG_DUTY_RECORD 17

/* A command frame checked for shape: the argument length fits the command. */
struct rnode_cmd {
	uint8_t cmd;
	const uint8_t *arg;  /* points into the decoded body */
	size_t len;
	uint32_t value;      /* the integer argument, for commands that carry one */
};

/* Check a decoded KISS body as a command sent by the host. Returns 0 and fills *c, or
 * -1 if the argument length is wrong for the command (c->cmd is still set). Commands
 * not known here pass with their raw argument. */
int rnode_parse_host(const uint8_t *body, size_t len, struct rnode_cmd *c);

/* Check a decoded KISS body as a message from the modem (what node/ reads). Returns 0
 * and fills *c (value set for the one-integer replies: FREQUENCY, BANDWIDTH, TXPOWER,
 * SF, CR, RADIO_STATE, DETECT, REGION, PLATFORM, MCU, STAT_RX, STAT_TX, STAT_RSSI,
 * STAT_SNR, PREAMBLE, ERROR's code), or -1 if the length is wrong for the command.
 * Commands not known here pass with their raw argument. */
int rnode_parse_modem(const uint8_t *body, size_t len, struct rnode_cmd *c);

/* Big-endian helpers. */
static inline void
rnode_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void
rnode_put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline uint32_t
rnode_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint16_t
rnode_get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* RSSI in dBm to the STAT_RSSI byte (clamped to 0..255) and back. */
static inline uint8_t
rnode_rssi_byte(int dbm)
{
	int v = dbm + RNODE_RSSI_OFFSET;

	return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

#endif
