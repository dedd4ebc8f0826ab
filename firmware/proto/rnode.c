/*
 * Shape checks for host commands (firmware/proto/rnode.h).
 */
#include "rnode.h"

/* Split a frame body into command and argument; -1 for an empty body. */
static int
split(const uint8_t *body, size_t len, struct rnode_cmd *c)
{
	c->cmd = len ? body[0] : 0;
	c->arg = len ? body + 1 : body;
	c->len = len ? len - 1 : 0;
	c->value = 0;
	return len ? 0 : -1;
}

/* An argument of exactly `width` bytes (1, 2 or 4, big-endian), into c->value. */
static int
fixed(struct rnode_cmd *c, size_t width)
{
	if (c->len != width)
		return -1;
	c->value = width == 4 ? rnode_get_u32(c->arg) :
	    width == 2 ? rnode_get_u16(c->arg) : c->arg[0];
	return 0;
}

int
rnode_parse_host(const uint8_t *body, size_t len, struct rnode_cmd *c)
{
	if (split(body, len, c) != 0)
		return -1;
	switch (c->cmd) {
	case RNODE_CMD_DATA:
		/* One LoRa frame: 1..255 bytes (the SX126x payload length is one byte). */
		return c->len >= 1 && c->len <= 255 ? 0 : -1;
	case APG_CMD_DATA_PREC:
		if (c->len < 2 || c->len > 256 || c->arg[0] > APG_PREC_FLASH)
			return -1;
		c->value = c->arg[0];
		return 0;
	case RNODE_CMD_FREQUENCY:
	case RNODE_CMD_BANDWIDTH:
		return fixed(c, 4);
	case APG_CMD_PREAMBLE:
	case RNODE_CMD_ST_ALOCK:
	case RNODE_CMD_LT_ALOCK:
		return fixed(c, 2);
	case RNODE_CMD_TXPOWER:
	case RNODE_CMD_SF:
	case RNODE_CMD_CR:
	case RNODE_CMD_RADIO_STATE:
	case RNODE_CMD_DETECT:
	case APG_CMD_REGION:
		return fixed(c, 1);
	case RNODE_CMD_READY:
	case RNODE_CMD_FW_VERSION:
	case RNODE_CMD_PLATFORM:
	case RNODE_CMD_MCU:
	case RNODE_CMD_STAT_RX:
	case RNODE_CMD_STAT_TX:
	case RNODE_CMD_STAT_CHTM:
	case RNODE_CMD_LEAVE:
	case APG_CMD_STATS:
	case APG_CMD_DUTY:
		/* Queries: RNode hosts send one filler byte (0x00 or 0xFF); accept 0 or 1. */
		return c->len <= 1 ? 0 : -1;
	default:
		return 0;
	}
}

int
rnode_parse_modem(const uint8_t *body, size_t len, struct rnode_cmd *c)
{
	if (split(body, len, c) != 0)
		return -1;
	switch (c->cmd) {
	case RNODE_CMD_DATA:
		return c->len >= 1 && c->len <= 255 ? 0 : -1;
	case RNODE_CMD_FREQUENCY:
	case RNODE_CMD_BANDWIDTH:
	case RNODE_CMD_STAT_RX:
	case RNODE_CMD_STAT_TX:
		return fixed(c, 4);
	case APG_CMD_PREAMBLE:
	case RNODE_CMD_ST_ALOCK:
	case RNODE_CMD_LT_ALOCK:
		return fixed(c, 2);
	case RNODE_CMD_TXPOWER:
	case RNODE_CMD_SF:
	case RNODE_CMD_CR:
	case RNODE_CMD_RADIO_STATE:
	case RNODE_CMD_DETECT:
	case RNODE_CMD_RESET:
	case RNODE_CMD_PLATFORM:
	case RNODE_CMD_MCU:
	case RNODE_CMD_READY:
	case RNODE_CMD_STAT_RSSI:
	case RNODE_CMD_STAT_SNR:
	case APG_CMD_REGION:
		return fixed(c, 1);
	case RNODE_CMD_FW_VERSION:
		return c->len == 2 ? 0 : -1;
	case RNODE_CMD_STAT_CHTM:
		/* Newer RNode firmware appends fields after the first eight bytes. */
		return c->len >= 8 ? 0 : -1;
	case RNODE_CMD_STAT_PHYPRM:
		/* Five u16 in older firmware, six (DIFS appended) in newer. */
		return c->len >= 10 ? 0 : -1;
	case RNODE_CMD_STAT_CSMA:
		return c->len == 3 ? 0 : -1;
	case RNODE_CMD_ERROR:
		if (c->len < 1)
			return -1;
		c->value = c->arg[0];
		return 0;
	case APG_CMD_STATS:
		return c->len % 5 == 0 ? 0 : -1;
	case APG_CMD_DUTY:
		return c->len % APG_DUTY_RECORD == 0 ? 0 : -1;
	case APG_CMD_TX_DONE:
		return c->len == 5 ? 0 : -1;
	default:
		return 0;
	}
}
