/*
 * Import and export: the sneakernet. An import is verified exactly like a radio frame:
 * every bundle goes through the acceptance path, and the whole file commits at once.
 */
#include "node_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

struct record {
	const uint8_t *p;
	size_t len;
	int index;
	int pass;
	struct accept_result res;
};

/*
 * Public bundles go first so that a file is self-contained whatever order it was
 * written in: certificates, then revocations, then prekeys, then everything else.
 */
static int
import_pass(const struct node *n, const uint8_t *p, size_t len)
{
	struct bundle b;

	if (bundle_decode(&b, p, len, &n->nk) != MESH_OK)
		return 3;       /* let the acceptance path name the problem */
	switch (b.h.type) {
	case BUNDLE_CERT:   return 0;
	case BUNDLE_REVOKE: return 1;
	case BUNDLE_PREKEY: return 2;
	}
	return 3;
}

static void
describe(struct node *n, const struct record *r, char *out, size_t cap)
{
	struct member m;
	const char *who = "an unknown sender";
	int rc = r->res.reason;

	/* The sender is known from the signature check on. */
	if (rc == MESH_OK || rc == MESH_EDUPLICATE || rc <= MESH_ECHAIN) {
		if (memcmp(r->res.sender_pk, n->nk.authority_pk, APAGON_SIGN_PK) == 0)
			who = "the network authority";
		else if (store_get_member(n->st, r->res.sender_pk, &m) == MESH_OK)
			who = m.name;
	}
	if (r->res.type < 0)
		snprintf(out, cap, "bundle of %zu bytes", r->len);
	else
		snprintf(out, cap, "%s from %s", bundle_type_name(r->res.type), who);
}

static int
import_bundles(struct node *n, const uint8_t *buf, size_t len, int64_t now,
    void (*fn)(void *, const struct import_item *), void *ctx, struct import_summary *sum)
{
	struct record *recs = NULL;
	struct wire w;
	const uint8_t *p;
	size_t plen;
	int count = 0, cap = 0, truncated = 0, first_err = 0, rc;

	if (!n->enrolled)
		return NODE_ENOTENROLLED;
	if (bundlefile_reader(&w, buf, len) != MESH_OK)
		return MESH_EDECODE;
	while ((rc = bundlefile_next(&w, &p, &plen)) == 1) {
		if (count == cap) {
			struct record *nr = realloc(recs, sizeof *recs * (size_t)(cap = cap ? 2 * cap : 64));

			if (!nr) {
				free(recs);
				return MESH_ENOMEM;
			}
			recs = nr;
		}
		recs[count] = (struct record){ .p = p, .len = plen, .index = count + 1 };
		recs[count].pass = import_pass(n, p, plen);
		count++;
	}
	truncated = rc < 0;

	if ((rc = accept_begin(&n->ax)) != MESH_OK)
		goto out;
	for (int pass = 0; pass < 4; pass++) {
		for (int i = 0; i < count; i++) {
			if (recs[i].pass != pass)
				continue;
			rc = accept_bundle(&n->ax, recs[i].p, recs[i].len, now, &recs[i].res);
			if (rc == MESH_ESTORE || rc == MESH_ENOMEM) {
				accept_rollback(&n->ax);
				goto out;
			}
		}
	}
	if ((rc = accept_commit(&n->ax)) != MESH_OK) {
		accept_rollback(&n->ax);
		goto out;
	}

	/* Only now, after the commit, is anything reported as accepted. */
	for (int i = 0; i < count; i++) {
		struct record *r = &recs[i];
		struct import_item it;
		char what[128];

		if (r->res.reason == MESH_OK) {
			sum->accepted++;
			if (r->res.for_me && r->res.type == BUNDLE_MSG && r->res.local == MESH_OK)
				sum->delivered++;
			if (r->res.for_me && r->res.type == BUNDLE_RECEIPT && r->res.local > 0)
				sum->receipts += r->res.local;
		} else if (r->res.reason == MESH_EDUPLICATE) {
			sum->duplicates++;
		} else {
			sum->rejected++;
			if (!first_err)
				first_err = r->res.reason;
		}
		if (!fn)
			continue;
		describe(n, r, what, sizeof what);
		memset(&it, 0, sizeof it);
		it.index = r->index;
		it.reason = r->res.reason;
		it.type = r->res.type;
		memcpy(it.id, r->res.id, APAGON_HASH);
		it.what = what;
		it.key_conflict = r->res.key_conflict;
		fn(ctx, &it);
	}
	if (truncated) {
		sum->rejected++;
		if (!first_err)
			first_err = MESH_EDECODE;
		if (fn) {
			struct import_item it = { .index = count + 1, .reason = MESH_EDECODE, .type = -1,
				.what = "the end of the file (cut short inside a record)" };

			fn(ctx, &it);
		}
	}
	rc = first_err;
out:
	free(recs);
	return rc;
}

int
node_import(struct node *n, const uint8_t *buf, size_t len, int64_t now,
    void (*fn)(void *, const struct import_item *), void *ctx, struct import_summary *sum)
{
	struct import_summary dummy;
	int rc;

	if (!sum)
		sum = &dummy;
	memset(sum, 0, sizeof *sum);
	switch (file_detect(buf, len)) {
	case FILE_ENROLLMENT:
		rc = node_enroll(n, buf, len, now);
		if (fn) {
			struct import_item it = { .index = 1, .reason = rc, .type = -2,
				.what = "enrollment file" };

			fn(ctx, &it);
		}
		if (rc == MESH_OK)
			sum->accepted++;
		else
			sum->rejected++;
		return rc;
	case FILE_BUNDLES:
		return import_bundles(n, buf, len, now, fn, ctx, sum);
	case FILE_REQUEST:
		return NODE_EWRONGFILE;
	case FILE_UNKNOWN:
		break;
	}
	return MESH_EDECODE;
}

struct exporter {
	uint8_t *buf;
	size_t len, cap;
	int pass;
	int count;
	uint8_t (*sent)[APAGON_HASH];
	int nsent, capsent;
	int err;
};

static int
export_pass(const struct stored_bundle *sb)
{
	switch (sb->type) {
	case BUNDLE_CERT:   return sb->own ? 0 : 1;
	case BUNDLE_REVOKE: return 2;
	case BUNDLE_PREKEY: return 3;
	}
	return 4;
}

static int
export_one(void *ctx, const struct stored_bundle *sb)
{
	struct exporter *x = ctx;

	if (export_pass(sb) != x->pass)
		return 0;
	if (x->len + 2 + sb->raw_len > x->cap) {
		size_t ncap = (x->cap + 2 + sb->raw_len) * 2;
		uint8_t *nb = realloc(x->buf, ncap);

		if (!nb)
			return x->err = MESH_ENOMEM;
		x->buf = nb;
		x->cap = ncap;
	}
	x->buf[x->len++] = (uint8_t)(sb->raw_len >> 8);
	x->buf[x->len++] = (uint8_t)sb->raw_len;
	memcpy(x->buf + x->len, sb->raw, sb->raw_len);
	/* One more hop: the only field that changes in transit. */
	if (x->buf[x->len] < 255)
		x->buf[x->len]++;
	x->len += sb->raw_len;
	x->count++;
	if (sb->own && sb->type == BUNDLE_MSG) {
		if (x->nsent == x->capsent) {
			int nc = x->capsent ? 2 * x->capsent : 16;
			void *ns = realloc(x->sent, sizeof *x->sent * (size_t)nc);

			if (!ns)
				return x->err = MESH_ENOMEM;
			x->sent = ns;
			x->capsent = nc;
		}
		memcpy(x->sent[x->nsent++], sb->id, APAGON_HASH);
	}
	return 0;
}

int
node_export(struct node *n, int64_t now, const char *path, uint8_t **buf, size_t *len,
    int *count)
{
	struct exporter x;
	int rc;

	if (buf)
		*buf = NULL;
	if (len)
		*len = 0;
	if (count)
		*count = 0;
	if (!n->enrolled)
		return NODE_ENOTENROLLED;
	memset(&x, 0, sizeof x);
	x.cap = 4096;
	if (!(x.buf = malloc(x.cap)))
		return MESH_ENOMEM;
	bundlefile_header(x.buf);
	x.len = APAGON_BUNDLEFILE_HDR;
	for (x.pass = 0; x.pass < 5; x.pass++) {
		rc = store_each_bundle(n->st, now, export_one, &x);
		if (rc < 0 || x.err) {
			rc = rc < 0 ? rc : x.err;
			goto fail;
		}
	}
	/* Only a file that is on disk counts as a hand-off. */
	if (path && (rc = node_write_file(path, x.buf, x.len, 0600)) != 0)
		goto fail;
	if ((rc = store_begin(n->st)) != MESH_OK)
		goto fail;
	for (int i = 0; i < x.nsent; i++) {
		rc = store_msg_add_sent(n->st, x.sent[i], 0, 1);
		if (rc != MESH_OK && rc != MESH_ENOTFOUND) {
			store_rollback(n->st);
			goto fail;
		}
	}
	if ((rc = store_commit(n->st)) != MESH_OK) {
		store_rollback(n->st);
		goto fail;
	}
	free(x.sent);
	if (len)
		*len = x.len;
	if (buf)
		*buf = x.buf;
	else
		free(x.buf);
	if (count)
		*count = x.count;
	return MESH_OK;
fail:
	free(x.sent);
	free(x.buf);
	return rc;
}
