/*
 * Shape checks for host commands (firmware/proto/rnode.h).
 */
#include "rnode.h"

int
rnode_parse_host(const uint8_t *body, size_t len, struct rnode_cmd *c)
{
	c->cmd = len ? body[0] : 0;
	c->arg = len ? body + 1 : body;
	c->len = len ? len - 1 : 0;
	c->value = 0;
	if (len == 0)
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
		if (c->len != 4)
			return -1;
		c->value = rnode_get_u32(c->arg);
		return 0;
	case APG_CMD_PREAMBLE:
		if (c->len != 2)
			return -1;
		c->value = rnode_get_u16(c->arg);
		return 0;
	case RNODE_CMD_TXPOWER:
	case RNODE_CMD_SF:
	case RNODE_CMD_CR:
	case RNODE_CMD_RADIO_STATE:
	case RNODE_CMD_DETECT:
	case APG_CMD_REGION:
		if (c->len != 1)
			return -1;
		c->value = c->arg[0];
		return 0;
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
	c->cmd = len ? body[0] : 0;
	c->arg = len ? body + 1 : body;
	c->len = len ? len - 1 : 0;
	c->value = 0;
	if (len == 0)
		return -1;
	switch (c->cmd) {
	case RNODE_CMD_DATA:
		return c->len >= 1 && c->len <= 255 ? 0 : -1;
	case RNODE_CMD_FREQUENCY:
	case RNODE_CMD_BANDWIDTH:
	case RNODE_CMD_STAT_RX:
	case RNODE_CMD_STAT_TX:
		if (c->len != 4)
			return -1;
		c->value = rnode_get_u32(c->arg);
		return 0;
	case APG_CMD_PREAMBLE:
		if (c->len != 2)
			return -1;
		c->value = rnode_get_u16(c->arg);
		return 0;
	case RNODE_CMD_TXPOWER:
	case RNODE_CMD_SF:
	case RNODE_CMD_CR:
	case RNODE_CMD_RADIO_STATE:
	case RNODE_CMD_DETECT:
	case RNODE_CMD_PLATFORM:
	case RNODE_CMD_MCU:
	case RNODE_CMD_READY:
	case RNODE_CMD_STAT_RSSI:
	case RNODE_CMD_STAT_SNR:
	case APG_CMD_REGION:
		if (c->len != 1)
			return -1;
		c->value = c->arg[0];
		return 0;
	case RNODE_CMD_FW_VERSION:
		return c->len == 2 ? 0 : -1;
	case RNODE_CMD_STAT_CHTM:
		/* Newer RNode firmware appends fields after the first eight bytes. */
		return c->len >= 8 ? 0 : -1;
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
