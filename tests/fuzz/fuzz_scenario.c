/*
 * Harness: scenario_parse (tools/drill_scenario.h), the parser of apagon-drill's
 * scenario files (docs/drills.md).
 *
 * Invariants: on failure *out is NULL and the message starts with "fuzz.drill:" so a
 * user can find the file and line; on success every reference is in range (sites,
 * LoRa channels with two radios or more, radio faults on nodes with a radio), the
 * expanded schedule stays within SCN_MESSAGES_MAX and is sorted by time, and writing
 * the scenario back out parses again to the same scenario (scenario_same).
 */
#include "fuzz.h"

#include "../../tools/drill_scenario.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scenario *s = (struct scenario *)1, *again = NULL;
	struct scn_msg *m = NULL;
	char err[512], *text;
	size_t n = 0, need;
	int rc;

	if (size > SCN_FILE_MAX)
		return 0;
	rc = scenario_parse(&s, "fuzz.drill", (const char *)data, size, err, sizeof err);
	if (rc != 0) {
		FUZZ_CHECK(s == NULL);
		FUZZ_CHECK(strncmp(err, "fuzz.drill:", 11) == 0);
		return 0;
	}
	FUZZ_CHECK(s != NULL && s->nnodes >= 2 && s->nnodes <= SCN_NODES_MAX);
	FUZZ_CHECK(s->duration_ms >= 1000 && s->duration_ms <= SCN_DURATION_MAX);
	for (int i = 0; i < s->nnodes; i++) {
		FUZZ_CHECK(s->node[i].site >= 0 && s->node[i].site < s->nsites);
		/* No broker only for a node on its radio alone, at a site without one. */
		FUZZ_CHECK(s->node[i].brokers != 0 || ((s->node[i].lora >= 0 ||
		    s->node[i].bluetooth[0]) && !s->site[s->node[i].site].broker));
		FUZZ_CHECK((s->node[i].brokers >> s->nsites) == 0);
		FUZZ_CHECK(s->node[i].lora >= -1 && s->node[i].lora < s->nlora);
		if (s->node[i].lora >= 0)
			FUZZ_CHECK(s->node[i].x_m >= -(int32_t)SCN_POS_MAX &&
			    s->node[i].x_m <= (int32_t)SCN_POS_MAX &&
			    s->node[i].y_m >= -(int32_t)SCN_POS_MAX &&
			    s->node[i].y_m <= (int32_t)SCN_POS_MAX);
		if (s->node[i].bluetooth[0])
			FUZZ_CHECK(scenario_bluetooth_line(s) > 0);
	}
	FUZZ_CHECK(s->nlora >= 0 && s->nlora <= SCN_LORA_MAX);
	for (int c = 0; c < s->nlora; c++) {
		int radios = 0;

		for (int i = 0; i < s->nnodes; i++)
			radios += s->node[i].lora == c;
		FUZZ_CHECK(radios >= 2);
		FUZZ_CHECK(s->lora[c].loss_percent >= 0 && s->lora[c].loss_percent <= 100);
	}
	for (int i = 0; i < s->nfaults; i++)
		if (s->fault[i].kind == SCN_RADIO_DOWN || s->fault[i].kind == SCN_RADIO_UP)
			FUZZ_CHECK(s->node[s->fault[i].a].lora >= 0);
	for (int i = 1; i < s->nfaults; i++)
		FUZZ_CHECK(s->fault[i - 1].at_ms <= s->fault[i].at_ms);
	for (int i = 0; i < s->nfaults; i++)
		FUZZ_CHECK(s->fault[i].at_ms <= s->duration_ms);
	FUZZ_CHECK(scenario_messages(s, &m, &n) == 0);
	FUZZ_CHECK(n <= SCN_MESSAGES_MAX);
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK(m[i].from != m[i].to && m[i].from >= 0 && m[i].from < s->nnodes);
		FUZZ_CHECK(m[i].to >= 0 && m[i].to < s->nnodes);
		FUZZ_CHECK(m[i].at_ms <= s->duration_ms);
		FUZZ_CHECK(i == 0 || m[i - 1].at_ms <= m[i].at_ms);
	}
	free(m);

	need = scenario_write(s, NULL, 0) + 1;
	if ((text = malloc(need)) == NULL)
		abort();
	FUZZ_CHECK(scenario_write(s, text, need) + 1 == need);
	rc = scenario_parse(&again, "again.drill", text, need - 1, err, sizeof err);
	if (rc != 0)
		fprintf(stderr, "re-parse failed: %s\n---\n%s", err, text);
	FUZZ_CHECK(rc == 0 && scenario_same(s, again));
	free(text);
	scenario_free(again);
	scenario_free(s);
	return 0;
}
