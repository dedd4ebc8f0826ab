/*
 * Precedence-ordered transmit queue (firmware/txq.h).
 */
#include "txq.h"

#include <string.h>

void
txq_init(struct txq *q)
{
	memset(q, 0, sizeof *q);
}

int
txq_push(struct txq *q, uint8_t prec, const uint8_t *data, size_t len, uint8_t *evicted_prec)
{
	struct txq_slot *s = NULL;
	int evicted = 0;

	if (len == 0 || len > TXQ_MAX_LEN || prec > 3)
		return -1;
	for (unsigned i = 0; i < TXQ_SLOTS; i++)
		if (!q->slot[i].used) {
			s = &q->slot[i];
			break;
		}
	if (!s) {
		/* Full: the victim is the newest frame of the lowest precedence. */
		for (unsigned i = 0; i < TXQ_SLOTS; i++) {
			struct txq_slot *c = &q->slot[i];

			if (!s || c->prec < s->prec || (c->prec == s->prec && c->seq > s->seq))
				s = c;
		}
		if (s->prec >= prec)
			return -1;
		if (evicted_prec)
			*evicted_prec = s->prec;
		evicted = 1;
		q->count--;
	}
	s->used = 1;
	s->prec = prec;
	s->len = (uint8_t)len;
	s->seq = q->next_seq++;
	memcpy(s->data, data, len);
	q->count++;
	return evicted;
}

const struct txq_slot *
txq_peek(const struct txq *q)
{
	const struct txq_slot *best = NULL;

	for (unsigned i = 0; i < TXQ_SLOTS; i++) {
		const struct txq_slot *c = &q->slot[i];

		if (!c->used)
			continue;
		/* Sequence numbers compare by signed difference so a wrap keeps FIFO order. */
		if (!best || c->prec > best->prec ||
		    (c->prec == best->prec && (int32_t)(c->seq - best->seq) < 0))
			best = c;
	}
	return best;
}

void
txq_pop(struct txq *q, const struct txq_slot *s)
{
	struct txq_slot *w = &q->slot[s - q->slot];

	if (w->used) {
		w->used = 0;
		q->count--;
	}
}
