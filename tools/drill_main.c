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
"                        [--contact-seconds SEC] [--seed N] [--quiet]\n"
"\n"
"Play a drill on this machine with real processes: an authority and its members\n"
"enrolled through the apagon CLI, one apagond per node, one mosquitto per site and\n"
"bridges between sites. Traffic goes in through each node's control socket; faults\n"
"follow the scenario's timeline. The scenario format is in docs/drills.md.\n"
"\n"
"  run      play SCENARIO; write metrics.json, report.md and report.html in DIR\n"
"           (a new directory; run/ inside it keeps every node, config and log)\n"
"  check    parse SCENARIO and print its plan; errors name the file and line\n"
"  sim      many nodes in this process on virtual time: the production core (stores,\n"
"           acceptance, link sessions) over a contact model; metrics.json in DIR.\n"
"           --compare also plays naive flooding on the same contacts and traffic.\n"
"           Defaults: 1000 nodes in clusters of 25, 50 senders, 200 messages, 60 min,\n"
"           a contact every 300 s per node lasting at most 60 s, seed 1\n"
"\n"
"Options:\n"
"  --out DIR          where the results go (required for run; must not hold a drill)\n"
"  --bin DIR          where apagon and apagond are (default: next to apagon-drill)\n"
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
	printf("  %zu messages: %zu flash, %zu immediate, %zu priority, %zu routine\n", n,
	    per[0], per[1], per[2], per[3]);
	for (int i = 0; i < s->nfaults; i++) {
		const struct scn_fault *f = &s->fault[i];

		printf("  at %5.1f s  %s", f->at_ms / 1000.0, scenario_fault_name(f->kind));
		if (f->kind == SCN_KILL || f->kind == SCN_RESTART)
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
	d.s = s;
	d.scenario_path = path;
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
	    .messages = 200, .contact_every_s = 300, .contact_ms = 60000, .seed = 1 };
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
		} else {
			fprintf(stderr, "apagon-drill sim: unexpected \"%s\"\n%s", a, usage);
			return 2;
		}
	}
	if (!out) {
		fprintf(stderr, "apagon-drill sim: give --out DIR\n%s", usage);
		return 2;
	}
	if (p.senders > p.nodes)
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
