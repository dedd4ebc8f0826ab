/*
 * Harness: the simulated stock-RNode board (firmware/host/rnode_stock.c), the other
 * firmware the node drives. The input is a byte stream from the host, as it would
 * arrive on the board's UART; the board runs on a fake clock over the real SX1262
 * driver and the chip model.
 *
 * Whatever the commands: no memory error (ASan), nothing on air before frequency,
 * bandwidth, spreading factor and TX power were all set (RNode's radio lock), no frame
 * longer than 255 bytes, no TX power above the board's ceiling, and the board's own
 * frame count never ahead of what reached the air.
 */
#include "fuzz.h"
#include "fw_board.h"

#include "../../firmware/host/rnode_stock.h"
#include "../../firmware/host/sx126x_model.h"
#include "../../firmware/proto/rnode.h"
#include "../../firmware/sx126x.h"

static const struct hal_info board_info = { .name = "fuzz-rnode", .max_dbm = 22 };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fboard f;
	static struct rnode_stock r;
	static struct sx126x sx;
	struct sxm_link l = { b_tx, &f };
	struct hal hal = { &board_ops, &f, &board_info };
	struct radio radio;
	int ever_unlocked = 0;

	if (size > 4096)
		return 0;
	memset(&f, 0, sizeof f);
	f.ms = 1000;
	f.in = data;
	f.in_len = size;
	sx_model_init(&f.chip, &l);
	radio = sx126x_radio(&sx, &hal);
	FUZZ_CHECK(rnode_stock_init(&r, &hal, &radio, 10) == 0);
	for (unsigned i = 0; i < 1000 + size; i++) {
		rnode_stock_poll(&r);
		f.ms += 11;
		if (r.freq && r.bw && r.sf && r.txp != 0xFF)
			ever_unlocked = 1;
		FUZZ_CHECK(r.txp == 0xFF || r.txp <= 10);
	}
	if (!ever_unlocked)
		FUZZ_CHECK(f.sent == 0);
	FUZZ_CHECK(f.sent == 0 || (f.max_len >= 2 && f.max_len <= 255 && f.max_dbm <= 10));
	FUZZ_CHECK(r.stat_tx <= (uint32_t)f.sent);
	return 0;
}
