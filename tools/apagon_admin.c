/*
 * The issuers' verbs: "apagon admin init | enroll | revoke". An issuer is the network
 * authority (a directory with authority.key) or a member's node that holds an enroller
 * certificate; issuer_open() tells them apart.
 */
#include "apagon.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

static const char usage_admin[] =
"usage: apagon admin [--dir DIR] COMMAND [options]\n"
"\n"
"Run the network: create its authority, enroll members, revoke keys. DIR is the\n"
"authority's directory, or for enroll and revoke also the node of an enroller.\n"
"--dir may come before \"admin\" or right after it.\n"
"\n"
"Commands:\n"
"  init     --network NAME                   create the authority of a new network\n"
"  enroll   --request FILE --out FILE ...    issue a certificate for a request\n"
"  revoke   --request FILE | --id NAME|ID    revoke a member's key\n"
"\n"
"Run \"apagon admin COMMAND --help\" for the options of one command.\n";

static const char usage_admin_init[] =
"usage: apagon admin --dir DIR init --network NAME [--no-passphrase]\n"
"\n"
"Create the authority of a new network in DIR: its signing key (sealed under a\n"
"passphrase with Argon2id, moderate limits) and the register of issued certificates.\n"
"The authority is the network's root of trust: keep DIR offline and backed up.\n"
"--dir is required here, so an authority never lands in a member's default directory.\n"
"\n"
"Options:\n"
"  --network NAME    the network's name, shown to every member (1..64 bytes)\n"
"  --no-passphrase   store the authority key unprotected (demos and tests only)\n";

static const char usage_admin_enroll[] =
"usage: apagon admin [--dir DIR] enroll --request FILE --out FILE\n"
"                    [--role member|enroller] [--unit UNIT] [--days N]\n"
"\n"
"Check an enrollment request (its self-signature), issue a certificate for its key\n"
"and write the enrollment file. The file carries the network key: hand it to the\n"
"requester only, who imports it with \"apagon import FILE\".\n"
"\n"
"Options:\n"
"  --request FILE   the request written by \"apagon request\"\n"
"  --out FILE       where to write the enrollment file (mode 0600)\n"
"  --role ROLE      member (default) or enroller; only the authority makes enrollers\n"
"  --unit UNIT      the member's unit. An enroller may only enroll into its own unit,\n"
"                   which is the default for it.\n"
"  --days N         validity in days, 1..441 (default 365)\n";

static const char usage_admin_revoke[] =
"usage: apagon admin [--dir DIR] revoke (--request FILE | --id NAME|ID) --out FILE\n"
"                    [--reason TEXT]\n"
"\n"
"Revoke a member's key and write a revocation file. Every member who imports it (or\n"
"an export that carries it) refuses the key from then on.\n"
"\n"
"Options:\n"
"  --request FILE   the member's enrollment request, naming the key\n"
"  --id NAME|ID     a name or hex key ID among the certificates this issuer issued\n"
"  --out FILE       where to write the revocation file\n"
"  --reason TEXT    why, shown to members (at most 64 bytes)\n";

struct admin_verb {
	const char *name;
	int (*fn)(struct cli *, int, char **);
	const char *label;
	const char *usage;
};

/* ---------------- opening an issuer ---------------- */

static int
open_issuer(struct cli *c, struct issuer **out, const char **dirp)
{
	char akey[4096], nkey[4096], what[4200];
	const char *dir, *pass = NULL, *key;
	int rc, is_auth;

	*out = NULL;
	if ((dir = cli_dir(c)) == NULL)
		return CLI_FAIL;
	*dirp = dir;
	snprintf(akey, sizeof akey, "%s/authority.key", dir);
	snprintf(nkey, sizeof nkey, "%s/identity.key", dir);
	if ((is_auth = cli_exists(akey)) != 0)
		key = akey;
	else if (cli_exists(nkey))
		key = nkey;
	else
		return cli_err(c, "%s: no authority or enroller in %s. Create an authority with: "
		    "apagon admin --dir %s init --network NAME", c->verb, dir, dir);
	snprintf(what, sizeof what, "the %s in %s", is_auth ? "authority" : "enroller", dir);
	if (!cli_keyfile_clear(key)) {
		if (c->no_passphrase)
			return cli_err(c, "%s: the key of %s is sealed under a passphrase, but "
			    "--no-passphrase was given. Drop --no-passphrase and set "
			    "APAGON_PASSPHRASE or pass --passphrase-file FILE", c->verb, what);
		if ((pass = cli_passphrase(c, what, 0)) == NULL)
			return CLI_FAIL;
	}
	rc = issuer_open(out, dir, pass);
	cli_wipe_passphrase();
	if (rc == NODE_CRYPTO_ERR(CRYPTO_EPASS))
		return cli_err(c, "%s: cannot unlock %s: wrong passphrase (or the key file was "
		    "altered). Check the passphrase and try again", c->verb, what);
	if (rc != 0) {
		*out = NULL;
		if (!is_auth && rc == NODE_ENOTENROLLED)
			return cli_err(c, "%s: the node in %s is not enrolled, so it cannot issue "
			    "certificates. Use the authority's directory, or enroll this node with "
			    "--role enroller first", c->verb, dir);
		if (!is_auth)
			return cli_err(c, "%s: %s cannot issue certificates: %s. A node needs an "
			    "enroller certificate for that: ask the authority to enroll it with "
			    "--role enroller", c->verb, dir, node_strerror(rc));
		return cli_err(c, "%s: cannot open the authority in %s: %s. Check that the "
		    "directory is readable and writable", c->verb, dir, node_strerror(rc));
	}
	return CLI_OK;
}

/* ---------------- admin init ---------------- */

static int
admin_init(struct cli *c, int argc, char **argv)
{
	const char *network = NULL, *pass = NULL, *dir;
	const struct cli_opt opts[] = { { "--network", &network, NULL }, { NULL, NULL, NULL } };
	char path[4096], what[4200];
	int rc, npos;

	if ((rc = cli_parse(c, argc, argv, opts, NULL, 0, &npos)) != CLI_OK)
		return rc;
	if (!network)
		return cli_usage_err(c, "--network NAME is required");
	if (!c->dir)
		return cli_usage_err(c, "--dir DIR is required: the authority gets a directory "
		    "of its own, apart from any node");
	if (!name_valid(network, APAGON_NAME_MAX, 0))
		return cli_usage_err(c, "the network name must be 1..%d bytes of printable "
		    "UTF-8", APAGON_NAME_MAX);
	dir = c->dir;
	snprintf(path, sizeof path, "%s/authority.key", dir);
	if (cli_exists(path))
		return cli_err(c, "admin init: %s already holds an authority. Keep using it, or "
		    "pick another --dir", dir);
	snprintf(path, sizeof path, "%s/identity.key", dir);
	if (cli_exists(path))
		return cli_err(c, "admin init: %s holds a member's node. Keep the authority "
		    "apart: pick another --dir", dir);
	if (cli_mkdir(c, dir) != CLI_OK)
		return CLI_FAIL;
	snprintf(what, sizeof what, "the authority of \"%s\" in %s", network, dir);
	if (!c->no_passphrase && (pass = cli_passphrase(c, what, 1)) == NULL)
		return CLI_FAIL;
	rc = authority_init(dir, network, pass, c->no_passphrase ? KEYFILE_NONE :
	    KEYFILE_MODERATE);
	cli_wipe_passphrase();
	if (rc == NODE_SYS_ERR(EEXIST))
		return cli_err(c, "admin init: %s already holds an authority. Keep using it, or "
		    "pick another --dir", dir);
	if (rc != 0)
		return cli_err(c, "admin init: cannot create the authority in %s: %s. Check that "
		    "the directory is writable", dir, node_strerror(rc));
	if (c->no_passphrase)
		cli_warn("the authority key in %s is stored unprotected (--no-passphrase): anyone "
		    "who copies that directory can enroll members into \"%s\". Use this only for "
		    "demos and tests", dir, network);
	if (c->json) {
		struct json j;

		json_start(&j, stdout);
		json_obj(&j, NULL);
		json_str(&j, "network", network);
		json_str(&j, "dir", dir);
		json_bool(&j, "protected", !c->no_passphrase);
		json_end(&j);
		json_finish(&j);
		c->json_written = 1;
	} else {
		printf("Created the authority of network \"%s\" in %s.\n", network, dir);
		printf("Keep this directory offline and backed up: it is the network's root of "
		    "trust.\n");
		printf("Next, enroll members from their requests:\n");
		printf("  apagon admin --dir %s enroll --request NAME.req --out NAME.enr\n", dir);
	}
	return CLI_OK;
}

/* ---------------- admin enroll ---------------- */

static int
admin_enroll(struct cli *c, int argc, char **argv)
{
	const char *reqf = NULL, *out = NULL, *role_s = NULL, *unit = NULL, *days_s = NULL;
	const struct cli_opt opts[] = {
		{ "--request", &reqf, NULL },
		{ "--out", &out, NULL },
		{ "--role", &role_s, NULL },
		{ "--unit", &unit, NULL },
		{ "--days", &days_s, NULL },
		{ NULL, NULL, NULL },
	};
	uint8_t file[APAGON_ENROLLMENT_MAX];
	char kid[2 * APAGON_KEYID + 1], from[32], until[32];
	struct issuer *iss = NULL;
	struct cert issued;
	uint8_t *req = NULL;
	size_t reqlen;
	const char *dir;
	int rc, npos, len, role = ROLE_MEMBER, days = 0;

	if ((rc = cli_parse(c, argc, argv, opts, NULL, 0, &npos)) != CLI_OK)
		return rc;
	if (!reqf || !out)
		return cli_usage_err(c, "--request FILE and --out FILE are required");
	if (role_s) {
		if (strcmp(role_s, "member") == 0)
			role = ROLE_MEMBER;
		else if (strcmp(role_s, "enroller") == 0)
			role = ROLE_ENROLLER;
		else
			return cli_usage_err(c, "unknown role \"%s\": use member or enroller",
			    role_s);
	}
	if (unit && !name_valid(unit, APAGON_NAME_MAX, 1))
		return cli_usage_err(c, "the unit must be at most %d bytes of printable UTF-8",
		    APAGON_NAME_MAX);
	if (days_s) {
		char *end;
		long d;

		errno = 0;
		d = strtol(days_s, &end, 10);
		if (errno || *end || end == days_s || d < 1 || d > NODE_CERT_MAX_DAYS)
			return cli_usage_err(c, "bad --days \"%s\": give a number of days, 1..%d",
			    days_s, NODE_CERT_MAX_DAYS);
		days = (int)d;
	}
	if ((rc = cli_read(c, reqf, 65536, &req, &reqlen)) != CLI_OK)
		return rc;
	if (file_detect(req, reqlen) != FILE_REQUEST) {
		rc = cli_err(c, "admin enroll: %s is not an enrollment request. The member writes "
		    "one with: apagon request --out FILE", reqf);
		goto out;
	}
	if ((rc = open_issuer(c, &iss, &dir)) != CLI_OK)
		goto out;
	memset(&issued, 0, sizeof issued);
	len = issuer_enroll(iss, req, reqlen, role, unit, days, node_now(), file, sizeof file,
	    &issued);
	if (len == MESH_ESIGNATURE || len == MESH_EDECODE) {
		rc = cli_err(c, "admin enroll: the request in %s is damaged or forged: %s. Ask the "
		    "member to write a new one", reqf, node_strerror(len));
		goto out;
	}
	if (len <= 0) {
		rc = cli_err(c, "admin enroll: cannot enroll the request in %s: %s. Check the "
		    "role and unit (an enroller enrolls members of its own unit only)", reqf,
		    node_strerror(len));
		goto out;
	}
	/* The enrollment file carries the network key: for its owner's eyes only. */
	if ((rc = cli_write(c, out, file, (size_t)len, 0600)) != CLI_OK)
		goto out;
	cli_key_id(kid, issued.subject);
	if (c->json) {
		struct json j;

		json_start(&j, stdout);
		json_obj(&j, NULL);
		json_str(&j, "network", issuer_network(iss)->name);
		json_str(&j, "name", issued.name);
		json_str(&j, "unit", issued.unit);
		json_str(&j, "role", issued.role == ROLE_ENROLLER ? "enroller" : "member");
		json_str(&j, "key_id", kid);
		json_hex(&j, "pk", issued.subject, APAGON_SIGN_PK);
		json_int(&j, "not_before", issued.not_before);
		json_int(&j, "not_after", issued.not_after);
		json_str(&j, "file", out);
		json_end(&j);
		json_finish(&j);
		c->json_written = 1;
	} else {
		printf("Enrolled \"%s\" in network \"%s\":\n", issued.name,
		    issuer_network(iss)->name);
		printf("  name    %s\n", issued.name);
		printf("  unit    %s\n", issued.unit[0] ? issued.unit : "-");
		printf("  role    %s\n", issued.role == ROLE_ENROLLER ? "enroller" : "member");
		printf("  key ID  %s\n", kid);
		printf("  valid   %s to %s\n", cli_time(issued.not_before, from, sizeof from),
		    cli_time(issued.not_after, until, sizeof until));
		printf("Wrote %s. It holds the network key: hand it to %s only, who runs:\n",
		    out, issued.name);
		printf("  apagon import %s\n", out);
	}
	rc = CLI_OK;
out:
	sodium_memzero(file, sizeof file);
	free(req);
	if (iss)
		issuer_close(iss);
	return rc;
}

/* ---------------- admin revoke ---------------- */

static int
admin_revoke(struct cli *c, int argc, char **argv)
{
	const char *reqf = NULL, *who = NULL, *out = NULL, *reason = NULL;
	const struct cli_opt opts[] = {
		{ "--request", &reqf, NULL },
		{ "--id", &who, NULL },
		{ "--out", &out, NULL },
		{ "--reason", &reason, NULL },
		{ NULL, NULL, NULL },
	};
	uint8_t pk[APAGON_SIGN_PK];
	char kid[2 * APAGON_KEYID + 1], label[APAGON_NAME_MAX + 1];
	struct enroll_request r;
	struct issuer *iss = NULL;
	uint8_t *req = NULL, *buf = NULL;
	size_t reqlen, len = 0;
	const char *dir;
	int rc, npos;

	if ((rc = cli_parse(c, argc, argv, opts, NULL, 0, &npos)) != CLI_OK)
		return rc;
	if ((reqf != NULL) == (who != NULL))
		return cli_usage_err(c, "give exactly one of --request FILE and --id NAME|ID");
	if (!out)
		return cli_usage_err(c, "--out FILE is required");
	if (reason && !name_valid(reason, APAGON_NAME_MAX, 1))
		return cli_usage_err(c, "the reason must be at most %d bytes of printable UTF-8",
		    APAGON_NAME_MAX);
	if (reqf) {
		if ((rc = cli_read(c, reqf, 65536, &req, &reqlen)) != CLI_OK)
			return rc;
		if ((rc = request_decode(&r, req, reqlen)) != MESH_OK) {
			rc = cli_err(c, "admin revoke: %s is not a valid enrollment request: %s. "
			    "Use --id NAME|ID instead", reqf, node_strerror(rc));
			goto out;
		}
		memcpy(pk, r.pk, sizeof pk);
		snprintf(label, sizeof label, "%s", r.name);
	}
	if ((rc = open_issuer(c, &iss, &dir)) != CLI_OK)
		goto out;
	if (who) {
		rc = issuer_resolve(iss, who, pk);
		if (rc == MESH_ENOTFOUND) {
			rc = cli_err(c, "admin revoke: no certificate issued from %s matches \"%s\". "
			    "Check the name or key ID, or use --request FILE", dir, who);
			goto out;
		}
		if (rc == MESH_EAMBIGUOUS) {
			rc = cli_err(c, "admin revoke: \"%s\" matches several certificates. Give the "
			    "key ID instead (apagon roster shows it), or use --request FILE", who);
			goto out;
		}
		if (rc != 0) {
			rc = cli_err(c, "admin revoke: cannot look up \"%s\": %s. Check the name or "
			    "key ID", who, node_strerror(rc));
			goto out;
		}
		snprintf(label, sizeof label, "%s", who);
	}
	cli_key_id(kid, pk);
	if ((rc = issuer_revoke(iss, pk, reason ? reason : "", node_now(), &buf, &len)) != 0) {
		rc = cli_err(c, "admin revoke: cannot revoke %s (%s): %s. An enroller may only "
		    "revoke keys it issued", label, kid, node_strerror(rc));
		goto out;
	}
	if ((rc = cli_write(c, out, buf, len, 0600)) != CLI_OK)
		goto out;
	if (c->json) {
		struct json j;

		json_start(&j, stdout);
		json_obj(&j, NULL);
		json_str(&j, "revoked", label);
		json_str(&j, "key_id", kid);
		json_hex(&j, "pk", pk, APAGON_SIGN_PK);
		json_str(&j, "reason", reason ? reason : "");
		json_str(&j, "file", out);
		json_end(&j);
		json_finish(&j);
		c->json_written = 1;
	} else {
		printf("Revoked \"%s\" (key ID %s)%s%s.\n", label, kid, reason ? ", reason: " : "",
		    reason ? reason : "");
		printf("Wrote %s. Spread it: each member imports it (apagon import %s), and their "
		    "exports carry it on.\n", out, out);
	}
	rc = CLI_OK;
out:
	free(buf);
	free(req);
	if (iss)
		issuer_close(iss);
	return rc;
}

/* ---------------- dispatch ---------------- */

static const struct admin_verb admin_verbs[] = {
	{ "init",   admin_init,   "admin init",   usage_admin_init },
	{ "enroll", admin_enroll, "admin enroll", usage_admin_enroll },
	{ "revoke", admin_revoke, "admin revoke", usage_admin_revoke },
};

static const struct admin_verb *
find_admin_verb(const char *name)
{
	for (size_t i = 0; i < sizeof admin_verbs / sizeof admin_verbs[0]; i++)
		if (strcmp(admin_verbs[i].name, name) == 0)
			return &admin_verbs[i];
	return NULL;
}

int
cmd_admin(struct cli *c, int argc, char **argv)
{
	const struct admin_verb *v;
	int i = 1, r;

	c->verb = "admin";
	c->usage = usage_admin;
	/* Global options (--dir above all) may follow "admin", up to its command. */
	for (; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
		if (cli_is_help(argv[i])) {
			fputs(usage_admin, stdout);
			return CLI_HELP;
		}
		if ((r = cli_opt_global(c, argc, argv, &i)) < 0)
			return CLI_USAGE;
		if (r == 0)
			return cli_usage_err(c, "unknown option %s", argv[i]);
	}
	if (i >= argc) {
		fputs(usage_admin, stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[i], "help") == 0) {
		if (i + 1 < argc && (v = find_admin_verb(argv[i + 1])) != NULL) {
			fputs(v->usage, stdout);
			return CLI_OK;
		}
		fputs(usage_admin, stdout);
		return CLI_OK;
	}
	if ((v = find_admin_verb(argv[i])) == NULL)
		return cli_usage_err(c, "unknown command \"%s\" (use init, enroll or revoke)",
		    argv[i]);
	c->verb = v->label;
	c->usage = v->usage;
	return v->fn(c, argc - i, argv + i);
}
