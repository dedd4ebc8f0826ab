/*
 * LoRa figures (make bench), computed with the firmware's airtime function
 * (firmware/airtime.c, the SX1261/2 datasheet formula):
 *
 *   lora.airtime_ms_140B_longfast   time on air of the frame that carries a 140-byte
 *                                   text at the long-fast preset
 *
 * Long-fast is Meshtastic's LongFast: SF11, 250 kHz, CR 4/5, 16 preamble symbols,
 * explicit header, CRC on (LDRO off: 8.192 ms symbols). The frame is the sealed
 * bundle: 140 bytes of text seal into 247 bytes (docs/protocol.md section 5), sent as
 * one LoRa payload; any framing the node's LoRa air format adds on top is not counted
 * here. The context lines show the pieces of the computation.
 */
#include <stdio.h>

#include "../../firmware/airtime.h"

int
main(void)
{
	struct radio_config c = { 0 };
	const size_t text = 140, bundle = 247;  /* docs/protocol.md 5: 140 + 107 */
	uint32_t us;

	c.freq_hz = 869525000;
	c.bw_hz = 250000;
	c.sf = 11;
	c.cr = 5;
	c.preamble = 16;
	c.crc = 1;
	us = lora_airtime_us(&c, bundle);
	printf("# long-fast: SF%u BW %u Hz CR 4/%u preamble %u, LDRO %d; %zu-byte text -> %zu-byte payload,"
	    " %u.%02u symbols\n", c.sf, c.bw_hz, c.cr, c.preamble, lora_ldro(c.sf, c.bw_hz), text,
	    bundle, lora_symbols_x4(&c, bundle) / 4, lora_symbols_x4(&c, bundle) % 4 * 25);
	printf("lora.airtime_ms_140B_longfast %u.%03u\n", us / 1000, us % 1000);
	printf("# for comparison, a full 255-byte frame: %u us; the bare 140-byte text: %u us\n",
	    lora_airtime_us(&c, 255), lora_airtime_us(&c, text));
	return 0;
}
