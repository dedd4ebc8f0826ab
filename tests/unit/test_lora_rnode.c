/*
 * Boards on stock RNode firmware: the node-side duty-cycle limiter (node/lora_rnode.h)
 * on a fake clock, and the codec's shapes for the RNode commands it relies on.
 */
#include <stdlib.h>

#include "../../firmware/airtime.h"
#include "../../firmware/proto/rnode.h"
#include "../../node/lora_rnode.h"
#include "../test.h"

static void
test_preamble(void)
{
	/* RNode firmware: at least 18 symbols and 24 ms. SF7/250 kHz: 512 us a symbol,
	 * 47 symbols; SF9/250: 2.048 ms, 12 would do, 18 it is; SF12/125: 18. */
	CHECK_EQ(lora_rnode_preamble(7, 250000), 47);
	CHECK_EQ(lora_rnode_preamble(9, 250000), 18);
	CHECK_EQ(lora_rnode_preamble(12, 125000), 18);
}

static void
test_airtime_header_and_split(void)
{
	struct lora_rnode_limiter lim;
	struct radio_config ours;

	lora_rnode_limiter_init(&lim, APG_REGION_EU868, 255);
	CHECK_EQ(lora_rnode_limiter_channel(&lim, 866500000, 250000, 9, 5, 14), 1);
	CHECK_EQ(lim.rc.preamble, 18);
	/* One header byte on every frame; past 254 bytes, two frames (two preambles). */
	CHECK_EQ(lora_rnode_airtime_ms(&lim, 254), lora_airtime_ms(&lim.rc, 255));
	CHECK_EQ(lora_rnode_airtime_ms(&lim, 255),
	    lora_airtime_ms(&lim.rc, 255) + lora_airtime_ms(&lim.rc, 2));
	/* Never less than what our own firmware would need (16-symbol preamble, no header). */
	ours = lim.rc;
	ours.preamble = 16;
	for (size_t n = 1; n <= 255; n++)
		CHECK(lora_rnode_airtime_ms(&lim, n) >= lora_airtime_ms(&ours, n));
	/* A longer preamble reported by the board counts; a shorter one does not. */
	lora_rnode_limiter_preamble(&lim, 10);
	CHECK_EQ(lim.rc.preamble, 18);
	lora_rnode_limiter_preamble(&lim, 40);
	CHECK(lora_rnode_airtime_ms(&lim, 100) > lora_airtime_ms(&ours, 101));
}

static void
test_channel_refusals(void)
{
	struct lora_rnode_limiter lim;

	lora_rnode_limiter_init(&lim, APG_REGION_EU868, 255);
	/* g3, 869.4-869.65 MHz, 27 dBm. */
	CHECK(lora_rnode_limiter_channel(&lim, 869525000, 250000, 11, 5, 14) >= 0);
	CHECK_EQ(lim.duty.bands[lim.band].duty_bp, 1000);
	/* Straddling g1 and g2 (868.6-868.7 MHz belongs to no band). */
	CHECK_EQ(lora_rnode_limiter_channel(&lim, 868650000, 125000, 9, 5, 14), -1);
	CHECK_EQ(lim.band, -1);
	CHECK_EQ(lora_rnode_limiter_wait(&lim, 0), UINT32_MAX);
	/* g2 allows 14 dBm, not 20. */
	CHECK_EQ(lora_rnode_limiter_channel(&lim, 868950000, 250000, 9, 5, 20), -2);
	/* No region: nothing, ever. */
	lora_rnode_limiter_init(&lim, APG_REGION_NONE, 255);
	CHECK_EQ(lora_rnode_limiter_channel(&lim, 869525000, 250000, 11, 5, 14), -1);
}

/* Two hours of a node that always has something to send: every one-hour window of
 * what it handed over stays within the band's budget, and the budget gets used. */
static void
test_greedy_two_hours(void)
{
	static struct { uint64_t t; uint32_t ms; } sent[20000];
	struct lora_rnode_limiter lim;
	size_t n = 0;
	uint64_t total = 0;
	uint32_t budget, worst = 0;

	srand(7);
	lora_rnode_limiter_init(&lim, APG_REGION_EU868, 255);
	/* g2: 0.1 %, 3.6 s an hour. */
	CHECK(lora_rnode_limiter_channel(&lim, 868950000, 250000, 9, 5, 14) >= 0);
	budget = lora_rnode_limiter_budget(&lim);
	CHECK_EQ(budget, 3600);
	for (uint64_t t = 0; t < 2 * 3600000ull && n < 20000; t += 50) {
		if (lora_rnode_limiter_wait(&lim, t) != 0)
			continue;
		sent[n].t = t;
		sent[n].ms = lora_rnode_limiter_book(&lim, 1 + (size_t)(rand() % 255), t);
		total += sent[n].ms;
		t += sent[n].ms;
		n++;
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t sum = 0;

		for (size_t j = i; j < n && sent[j].t < sent[i].t + 3600000; j++)
			sum += sent[j].ms;
		if (sum > worst)
			worst = sum;
	}
	fprintf(stderr, "    %zu frames, %llu ms in two hours; worst hour %u ms of %u\n", n,
	    (unsigned long long)total, worst, budget);
	CHECK(worst <= budget);
	CHECK(lim.max_used_ms <= budget);
	CHECK(lim.holds > 0);
	/* Not a limiter that refuses everything: most of two budgets went out. */
	CHECK(total >= 2 * (uint64_t)budget * 7 / 10);
}

static void
test_codec_rnode_shapes(void)
{
	struct rnode_cmd c;
	static const uint8_t alock[] = { RNODE_CMD_LT_ALOCK, 0x00, 0x64 };
	static const uint8_t alock_short[] = { RNODE_CMD_LT_ALOCK, 0x64 };
	static const uint8_t chtm8[9] = { RNODE_CMD_STAT_CHTM };
	static const uint8_t chtm11[12] = { RNODE_CMD_STAT_CHTM };
	static const uint8_t phy10[11] = { RNODE_CMD_STAT_PHYPRM };
	static const uint8_t phy12[13] = { RNODE_CMD_STAT_PHYPRM };
	static const uint8_t phy8[9] = { RNODE_CMD_STAT_PHYPRM };
	static const uint8_t csma[] = { RNODE_CMD_STAT_CSMA, 1, 0, 14 };
	static const uint8_t reset[] = { RNODE_CMD_RESET, RNODE_RESET_BYTE };
	static const uint8_t ready[] = { RNODE_CMD_READY, 0x00 };

	/* Framing.h: ST_ALOCK 0x0B, LT_ALOCK 0x0C, READY 0x0F, CHTM 0x25, PHYPRM 0x26. */
	CHECK_EQ(RNODE_CMD_ST_ALOCK, 0x0B);
	CHECK_EQ(RNODE_CMD_LT_ALOCK, 0x0C);
	CHECK_EQ(RNODE_CMD_READY, 0x0F);
	CHECK_EQ(RNODE_CMD_STAT_PHYPRM, 0x26);
	CHECK_EQ(RNODE_ERROR_EEPROM_LOCKED, 0x03);
	CHECK_EQ(RNODE_ERROR_MEMORY_LOW, 0x05);
	CHECK_EQ(rnode_parse_host(alock, sizeof alock, &c), 0);
	CHECK_EQ(c.value, 100);
	CHECK_EQ(rnode_parse_host(alock_short, sizeof alock_short, &c), -1);
	CHECK_EQ(rnode_parse_host(ready, sizeof ready, &c), 0);
	CHECK_EQ(rnode_parse_modem(alock, sizeof alock, &c), 0);
	CHECK_EQ(c.value, 100);
	CHECK_EQ(rnode_parse_modem(chtm8, sizeof chtm8, &c), 0);
	CHECK_EQ(rnode_parse_modem(chtm11, sizeof chtm11, &c), 0);
	CHECK_EQ(rnode_parse_modem(phy10, sizeof phy10, &c), 0);
	CHECK_EQ(rnode_parse_modem(phy12, sizeof phy12, &c), 0);
	CHECK_EQ(rnode_parse_modem(phy8, sizeof phy8, &c), -1);
	CHECK_EQ(rnode_parse_modem(csma, sizeof csma, &c), 0);
	CHECK_EQ(rnode_parse_modem(reset, sizeof reset, &c), 0);
	CHECK_EQ(c.value, RNODE_RESET_BYTE);
}

int
main(int argc, char **argv)
{
	static const struct test_case tests[] = {
		TEST(test_preamble),
		TEST(test_airtime_header_and_split),
		TEST(test_channel_refusals),
		TEST(test_greedy_two_hours),
		TEST(test_codec_rnode_shapes),
	};

	return test_main("lora_rnode", tests, sizeof tests / sizeof tests[0], argc, argv);
}
