/*
 * apagon-drill: scripted blackouts on real processes (docs/drills.md).
 *
 *   apagon-drill run SCENARIO --out DIR     play it; metrics.json and reports in DIR
 *   apagon-drill check SCENARIO             parse it and show what it would do
 */
#include "drill.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage[] =
"usage: apagon-drill run SCENARIO --out DIR [--bin DIR] [--mosquitto PATH] [--quiet]\n"
"       apagon-drill check SCENARIO\n"
"       apagon-drill sim --out DIR [--compare] [--nodes N] [--minutes M] [--messages K]\n"
"                        [--senders S] [--cluster C] [--contact-every SEC]\n"
"                        [--contact-seconds SEC] [--seed N] [--receipts] [--quiet]\n"
"                        [--trace FILE | --mobility walk|vehicle [--area M] [--range M]]\n"
"                        [--radio lora [--sf N] [--bw HZ] [--cr N] [--tx-power DBM]]\n"
"\n"
"Play a drill on this machine with real processes: an authority and its members\n"
"enrolled through the apagon CLI, one apagond per node, one mosquitto per site and\n"
"bridges between sites, and for LoRa radios a simulated channel (apagon-channel) and\n"
"one simulated modem (apagon-modem-sim) per radio. Traffic goes in through each\n"
"node's control socket; faults follow the scenario's timeline. The scenario format\n"
"is in docs/drills.md.\n"
"\n"
"  run      play SCENARIO; write metrics.json, report.md and report.html in DIR\n"
"           (a new directory; run/ inside it keeps every node, config and log)\n"
"  check    parse SCENARIO and print its plan; errors name the file and line\n"
"  sim      many nodes in this process on virtual time: the production core (stores,\n"
"           acceptance, link sessions) over a contact model; metrics.json in DIR.\n"
"           --compare also plays naive flooding on the same contacts and traffic.\n"
"           Defaults: 1000 nodes in clusters of 25, 50 senders, 200 messages, 60 min,\n"
"           a contact every 300 s per node lasting at most 60 s, seed 1\n"
"           --receipts: recipients seal a RECEIPT back to the sender, which purges\n"
"           relays' copies (every node then holds every node's certificate)\n"
"           --trace FILE: contacts from a trace (START END A B, or T CONN A B up|down;\n"
"           docs/drills.md); nodes and minutes follow the trace unless given\n"
"           --mobility: contacts from random-waypoint movement (walk 0.5-1.5 m/s,\n"
"           vehicle 5-15 m/s) in a square of --area M (default 100 m x sqrt(nodes))\n"
"           while within --range M (default 50)\n"
"           --radio lora: no contacts; every node runs the LoRa flooding engine on one\n"
"           simulated channel (path loss, collisions, airtime, EU868 duty cycle),\n"
"           static or (--mobility) moving, in --area M (default 1000 m x sqrt(nodes));\n"
"           long-fast by default (--sf 11 --bw 250000 --cr 5 --tx-power 14)\n"
"\n"
"Options:\n"
"  --out DIR          where the results go (required for run; must not hold a drill)\n"
"  --bin DIR          where apagon, apagond, apagon-channel and apagon-modem-sim are\n"
"                     (default: next to apagon-drill)\n"
"  --mosquitto PATH   the broker (default $MOSQUITTO or /usr/sbin/mosquitto)\n"
"  --quiet            no progress, no summary (the files are written all the same)\n";

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (!f)
		return NULL;
	if ((buf = malloc(SCN_FILE_MAX + 2)) == NULL) {
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, SCN_FILE_MAX + 1, f);
	if (ferror(f)) {
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	*len = n;
	return buf;
}

static struct scenario *
load(const char *path)
{
	struct scenario *s;
	char err[1024], *text;
	size_t len;

	if ((text = slurp(path, &len)) == NULL) {
		fprintf(stderr, "apagon-drill: cannot read %s: %s. Check the path\n", path,
		    strerror(errno));
		return NULL;
	}
	if (scenario_parse(&s, path, text, len, err, sizeof err) != 0) {
		fprintf(stderr, "%s\n", err);
		free(text);
		return NULL;
	}
	free(text);
	return s;
}

static int
check(const char *path)
{
	struct scenario *s = load(path);
	struct scn_msg *m;
	size_t n, per[SCN_NPREC] = { 0 };

	if (!s)
		return 1;
	if (scenario_messages(s, &m, &n) != 0) {
		scenario_free(s);
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		per[m[i].prec]++;
	printf("%s: \"%s\", %u s (+ up to %u s to settle)\n", path, s->name,
	    (unsigned)(s->duration_ms / 1000), (unsigned)(s->settle_ms / 1000));
	for (int i = 0; i < s->nsites; i++) {
		printf("  site %-12s %s broker;", s->site[i].name, s->site[i].broker ? "a" : "no");
		for (int k = 0; k < s->nnodes; k++)
			if (s->node[k].site == i)
				printf(" %s", s->node[k].name);
		printf("\n");
	}
	for (int i = 0; i < s->nbridges; i++)
		printf("  bridge %s - %s\n", s->site[s->bridge[i].a].name,
		    s->site[s->bridge[i].b].name);
	for (int c = 0; c < s->nlora; c++) {
		printf("  lora %s (%s, %s):", s->lora[c].name, s->lora[c].region,
		    s->lora[c].preset);
		for (int k = 0; k < s->nnodes; k++)
			if (s->node[k].lora == c)
				printf(" %s at (%ld, %ld) m", s->node[k].name, (long)s->node[k].x_m,
				    (long)s->node[k].y_m);
		printf("\n");
	}
	if (scenario_bluetooth_line(s)) {
		const char *sep = " ";

		printf("  bluetooth (adapters of the machine that runs it):");
		for (int k = 0; k < s->nnodes; k++)
			if (s->node[k].bluetooth[0]) {
				printf("%s%s on %s", sep, s->node[k].name, s->node[k].bluetooth);
				sep = ", ";
			}
		printf("\n");
	}
	printf("  %zu messages: %zu flash, %zu immediate, %zu priority, %zu routine\n", n,
	    per[0], per[1], per[2], per[3]);
	for (int i = 0; i < s->nfaults; i++) {
		const struct scn_fault *f = &s->fault[i];

		printf("  at %5.1f s  %s", f->at_ms / 1000.0, scenario_fault_name(f->kind));
		if (f->kind == SCN_KILL || f->kind == SCN_RESTART || f->kind == SCN_RADIO_DOWN ||
		    f->kind == SCN_RADIO_UP)
			printf(" %s\n", s->node[f->a].name);
		else if (f->kind == SCN_REVOKE)
			printf(" %s via %s\n", s->node[f->a].name, s->node[f->b].name);
		else if (f->kind == SCN_PARTITION || f->kind == SCN_HEAL)
			printf(" %s %s\n", s->site[f->a].name, s->site[f->b].name);
		else
			printf(" %s\n", s->site[f->a].name);
	}
	free(m);
	scenario_free(s);
	return 0;
}

static int
run(int argc, char **argv)
{
	static struct drill d;
	const char *out = NULL, *bin = NULL, *path = NULL, *mosq = getenv("MOSQUITTO");
	char self[DRILL_PATH_MAX], runp[DRILL_PATH_MAX + 8];
	struct scenario *s;
	struct stat sb;
	int rc;

	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
			out = argv[++i];
		else if (strcmp(argv[i], "--bin") == 0 && i + 1 < argc)
			bin = argv[++i];
		else if (strcmp(argv[i], "--mosquitto") == 0 && i + 1 < argc)
			mosq = argv[++i];
		else if (strcmp(argv[i], "--quiet") == 0)
			d.quiet = 1;
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(usage, stdout);
			return 0;
		} else if (argv[i][0] == '-' || path) {
			fprintf(stderr, "apagon-drill run: unexpected \"%s\"\n%s", argv[i], usage);
			return 2;
		} else
			path = argv[i];
	}
	if (!path || !out) {
		fprintf(stderr, "apagon-drill run: give a SCENARIO and --out DIR\n%s", usage);
		return 2;
	}
	if ((s = load(path)) == NULL)
		return 1;
	d.s = s;
	d.scenario_path = path;
	if (drill_bluetooth_check(&d) != 0) {
		scenario_free(s);
		return 1;
	}
	if (mkdir(out, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "apagon-drill: cannot create %s: %s\n", out, strerror(errno));
		scenario_free(s);
		return 1;
	}
	snprintf(runp, sizeof runp, "%s/run", out);
	if (stat(runp, &sb) == 0) {
		fprintf(stderr, "apagon-drill: %s already holds a drill (%s exists). Choose a new "
		    "--out, or remove the old one\n", out, runp);
		scenario_free(s);
		return 1;
	}
	{
		char *rp = realpath(out, NULL);

		if (!rp || strlen(rp) >= sizeof d.out) {
			fprintf(stderr, "apagon-drill: %s: %s\n", out, rp ? "too long a path; use "
			    "a shorter --out" : strerror(errno));
			free(rp);
			scenario_free(s);
			return 1;
		}
		memcpy(d.out, rp, strlen(rp) + 1);
		free(rp);
	}
	if (!bin) {
		ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
		char *slash;

		self[k > 0 ? k : 0] = '\0';
		if ((slash = strrchr(self, '/')) != NULL)
			*slash = '\0';
		bin = self;
	}
	snprintf(d.apagon, sizeof d.apagon, "%.480s/apagon", bin);
	snprintf(d.apagond, sizeof d.apagond, "%.480s/apagond", bin);
	snprintf(d.mosquitto, sizeof d.mosquitto, "%s", mosq ? mosq : "/usr/sbin/mosquitto");
	if (access(d.apagon, X_OK) != 0 || access(d.apagond, X_OK) != 0 ||
	    access(d.mosquitto, X_OK) != 0) {
		fprintf(stderr, "apagon-drill: needs %s, %s and %s. Build with make, install "
		    "mosquitto with make deps, or point --bin and --mosquitto at them\n",
		    d.apagon, d.apagond, d.mosquitto);
		scenario_free(s);
		return 1;
	}
	snprintf(d.channel_bin, sizeof d.channel_bin, "%.480s/apagon-channel", bin);
	snprintf(d.modem_bin, sizeof d.modem_bin, "%.480s/apagon-modem-sim", bin);
	if (s->nlora && (access(d.channel_bin, X_OK) != 0 || access(d.modem_bin, X_OK) != 0)) {
		fprintf(stderr, "apagon-drill: %s has LoRa radios and needs %s and %s (the "
		    "simulated radio channel and modem, built by make on the host), or point "
		    "--bin at them\n", path, d.channel_bin, d.modem_bin);
		scenario_free(s);
		return 1;
	}
	d.tty = isatty(1);
	rc = drill_run(&d);
	if (rc == 0)
		rc = drill_report(&d);
	free(d.msg);
	scenario_free(s);
	return rc == 0 ? 0 : 1;
}

/* A whole number in [lo, hi] from argv[*i + 1]. */
static int
num_arg(int argc, char **argv, int *i, long lo, long hi, long *v)
{
	char *end;

	if (*i + 1 >= argc) {
		fprintf(stderr, "apagon-drill sim: %s needs a value\n", argv[*i]);
		return -1;
	}
	errno = 0;
	*v = strtol(argv[*i + 1], &end, 10);
	if (errno || *end || *v < lo || *v > hi) {
		fprintf(stderr, "apagon-drill sim: %s is a number from %ld to %ld\n", argv[*i], lo,
		    hi);
		return -1;
	}
	(*i)++;
	return 0;
}

static int
sim(int argc, char **argv)
{
	struct sim_params p = { .nodes = 1000, .cluster = 25, .senders = 50, .minutes = 60,
	    .messages = 200, .contact_every_s = 300, .contact_ms = 60000, .seed = 1,
	    .range_m = 50, .sf = 11, .cr = 5, .bw_hz = 250000, .power_dbm = 14 };
	const char *out = NULL;
	long v;

	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(usage, stdout);
			return 0;
		} else if (strcmp(a, "--out") == 0 && i + 1 < argc) {
			out = argv[++i];
		} else if (strcmp(a, "--compare") == 0) {
			p.compare = 1;
		} else if (strcmp(a, "--quiet") == 0) {
			p.quiet = 1;
		} else if (strcmp(a, "--nodes") == 0) {
			if (num_arg(argc, argv, &i, 2, 20000, &v))
				return 2;
			p.nodes = (int)v;
			p.nodes_set = 1;
		} else if (strcmp(a, "--cluster") == 0) {
			if (num_arg(argc, argv, &i, 1, 20000, &v))
				return 2;
			p.cluster = (int)v;
		} else if (strcmp(a, "--senders") == 0) {
			if (num_arg(argc, argv, &i, 1, 20000, &v))
				return 2;
			p.senders = (int)v;
		} else if (strcmp(a, "--minutes") == 0) {
			if (num_arg(argc, argv, &i, 1, 24 * 60, &v))
				return 2;
			p.minutes = (int)v;
			p.minutes_set = 1;
		} else if (strcmp(a, "--messages") == 0) {
			if (num_arg(argc, argv, &i, 1, SCN_MESSAGES_MAX, &v))
				return 2;
			p.messages = (size_t)v;
		} else if (strcmp(a, "--contact-every") == 0) {
			if (num_arg(argc, argv, &i, 1, 86400, &v))
				return 2;
			p.contact_every_s = (double)v;
		} else if (strcmp(a, "--contact-seconds") == 0) {
			if (num_arg(argc, argv, &i, 1, 3600, &v))
				return 2;
			p.contact_ms = (uint64_t)v * 1000;
		} else if (strcmp(a, "--seed") == 0) {
			if (num_arg(argc, argv, &i, 0, 1L << 30, &v))
				return 2;
			p.seed = (uint64_t)v;
		} else if (strcmp(a, "--receipts") == 0) {
			p.receipts = 1;
		} else if (strcmp(a, "--trace") == 0 && i + 1 < argc) {
			p.trace = argv[++i];
		} else if (strcmp(a, "--mobility") == 0 && i + 1 < argc) {
			i++;
			if (strcmp(argv[i], "walk") == 0)
				p.mobility = 1;
			else if (strcmp(argv[i], "vehicle") == 0)
				p.mobility = 2;
			else {
				fprintf(stderr, "apagon-drill sim: --mobility is walk or vehicle\n");
				return 2;
			}
		} else if (strcmp(a, "--radio") == 0 && i + 1 < argc) {
			if (strcmp(argv[++i], "lora") != 0) {
				fprintf(stderr, "apagon-drill sim: --radio lora is the one radio "
				    "modelled\n");
				return 2;
			}
			p.lora = 1;
		} else if (strcmp(a, "--area") == 0) {
			if (num_arg(argc, argv, &i, 10, 1000000, &v))
				return 2;
			p.area_m = (double)v;
		} else if (strcmp(a, "--range") == 0) {
			if (num_arg(argc, argv, &i, 1, 100000, &v))
				return 2;
			p.range_m = (double)v;
		} else if (strcmp(a, "--sf") == 0) {
			if (num_arg(argc, argv, &i, 7, 12, &v))
				return 2;
			p.sf = (int)v;
		} else if (strcmp(a, "--bw") == 0) {
			if (num_arg(argc, argv, &i, 62500, 250000, &v))
				return 2;
			p.bw_hz = (uint32_t)v;
		} else if (strcmp(a, "--cr") == 0) {
			if (num_arg(argc, argv, &i, 5, 8, &v))
				return 2;
			p.cr = (int)v;
		} else if (strcmp(a, "--tx-power") == 0) {
			if (num_arg(argc, argv, &i, -9, 27, &v))
				return 2;
			p.power_dbm = (int)v;
		} else {
			fprintf(stderr, "apagon-drill sim: unexpected \"%s\"\n%s", a, usage);
			return 2;
		}
	}
	if (!out) {
		fprintf(stderr, "apagon-drill sim: give --out DIR\n%s", usage);
		return 2;
	}
	if (p.trace && (p.mobility || p.lora)) {
		fprintf(stderr, "apagon-drill sim: --trace gives contacts without positions; it "
		    "goes with neither --mobility nor --radio lora\n");
		return 2;
	}
	if (p.senders > p.nodes && !p.trace)
		p.senders = p.nodes;
	return drill_sim(&p, out) == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "run") == 0)
		return run(argc, argv);
	if (strcmp(argv[1], "check") == 0) {
		if (argc == 3 && (strcmp(argv[2], "-h") == 0 || strcmp(argv[2], "--help") == 0)) {
			fputs(usage, stdout);
			return 0;
		}
		if (argc != 3) {
			fprintf(stderr, "apagon-drill check: give one SCENARIO\n");
			return 2;
		}
		return check(argv[2]);
	}
	if (strcmp(argv[1], "sim") == 0)
		return sim(argc, argv);
	fprintf(stderr, "apagon-drill: unknown command \"%s\" (use run, check or sim)\n%s", argv[1],
	    usage);
	return 2;
}
