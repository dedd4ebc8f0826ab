/*
 * firmware/host/chan_proto.h: messages between simulated modems and the channel
 * simulator (apagon-channel), one per SOCK_SEQPACKET datagram on a unix socket. Both
 * ends run on the same host from the same build, so the struct is sent as it is.
 *
 *	modem -> channel  HELLO  name (and optionally x, y)      once, first
 *	channel -> modem  WELCOME status 0, or status 1 + text in data: refused
 *	modem -> channel  TX     channel, power, airtime (virtual us), bytes
 *	channel -> modem  ONAIR  a frame starts at this receiver: id, channel, rssi, snr
 *	channel -> modem  RXEND  it ended: status 0 intact, 1 collided; bytes
 *
 * Airtimes travel in virtual microseconds (what the chip computes); the channel waits
 * airtime x time_scale of real time. Every process of one simulation must use the
 * same --time-scale.
 */
#ifndef APAGON_CHAN_PROTO_H
#define APAGON_CHAN_PROTO_H

#include <stdint.h>

enum chan_type {
	CHAN_HELLO = 1,
	CHAN_WELCOME,
	CHAN_TX,
	CHAN_ONAIR,
	CHAN_RXEND,
};

struct chan_msg {
	uint8_t type;
	uint8_t status;
	uint8_t sf, cr;
	uint8_t has_pos;
	int8_t power_dbm;
	uint16_t len;
	uint32_t id;
	uint32_t freq_hz, bw_hz;
	uint32_t airtime_us;
	int16_t rssi_dbm;
	int8_t snr_db4;
	double x, y;
	char name[32];
	uint8_t data[256];
};

#endif
