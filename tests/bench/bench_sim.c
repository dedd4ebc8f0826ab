/*
 * Routing at scale (make bench; issue 6): apagon-drill sim, 1,000 nodes and one hour
 * of virtual time, with --compare, which plays naive flooding on the same contacts
 * and traffic in the same run (the raw baseline).
 *
 *   sim.nodes_1000_wall_s          wall time of the whole run (setup, apagon, flood)
 *   sim.tx_per_delivered_vs_flood  apagon's frames per delivered message / flooding's
 *                                  (target <= 0.5, with delivery >= 0.99)
 *   sim.bytes_per_delivered_vs_flood  the same in bytes
 *   sim.delivery_ratio             apagon's
 *   sim.flood_delivery_ratio       flooding's
 *
 * And on the LoRa channel (--radio lora; docs/drills.md, "The LoRa channel"): 100
 * static nodes in 10 km x 10 km on long-fast, 100 messages in one hour, every node
 * running node/lora_flood.c, naive flooding (every node relays every new bundle
 * once) on the same positions, traffic and channel as the baseline:
 *
 *   sim.lora_nodes_100_tx_per_delivered_vs_flood   managed / naive, frames per
 *                                                   delivered message
 *   sim.lora_nodes_100_delivery_ratio, sim.lora_nodes_100_flood_delivery_ratio
 *   sim.lora_nodes_100_duty_cycle_max              largest share of an hour a node's
 *                                                   duty limiter booked (limit 0.1)
 *   sim.lora_nodes_100_wall_s
 *
 * The model and its parameters are in docs/drills.md ("Simulation"); a contact every
 * 120 s per node gives the epidemic time to reach every recipient within the hour.
 * apagon-drill is found next to this program's directory ($BUILD/bench/..).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

static double
wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
print_num(const cJSON *j, const char *key, const char *name)
{
	const cJSON *v = cJSON_GetObjectItem(j, key);

	if (cJSON_IsNumber(v))
		printf("%s %.3f\n", name, v->valuedouble);
	else
		printf("%s null\n", name);
}

/* Run apagon-drill with args (NULL-terminated, after "sim --out DIR"); its
 * metrics.json parsed, and the wall time in *secs. NULL on failure. */
static cJSON *
run_sim(const char *drill, const char *const *args, double *secs)
{
	char out[] = "/tmp/apagon-bench-sim.XXXXXX", path[64], *buf = NULL;
	const char *argv[32];
	double t0;
	cJSON *j = NULL;
	FILE *f;
	long len;
	int st, n = 0;
	pid_t pid;

	if (!mkdtemp(out)) {
		fprintf(stderr, "bench_sim: mkdtemp: %s\n", strerror(errno));
		return NULL;
	}
	argv[n++] = drill;
	argv[n++] = "sim";
	argv[n++] = "--out";
	argv[n++] = out;
	while (*args && n < 30)
		argv[n++] = *args++;
	argv[n] = NULL;
	t0 = wall();
	if ((pid = fork()) == 0) {
		execv(drill, (char *const *)argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "bench_sim: apagon-drill sim failed\n");
		return NULL;
	}
	*secs = wall() - t0;
	snprintf(path, sizeof path, "%s/metrics.json", out);
	if ((f = fopen(path, "r")) != NULL && fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = calloc(1, (size_t)len + 1)) != NULL &&
	    fread(buf, 1, (size_t)len, f) == (size_t)len)
		j = cJSON_Parse(buf);
	if (f)
		fclose(f);
	if (!j)
		fprintf(stderr, "bench_sim: cannot read %s\n", path);
	free(buf);
	unlink(path);
	rmdir(out);
	return j;
}

int
main(int argc, char **argv)
{
	static const char *const routing[] = { "--nodes", "1000", "--minutes", "60",
	    "--contact-every", "120", "--compare", "--quiet", NULL };
	static const char *const lora[] = { "--radio", "lora", "--nodes", "100", "--minutes",
	    "60", "--messages", "100", "--senders", "20", "--compare", "--quiet", NULL };
	char drill[1024], *slash;
	const char *self = argc > 0 ? argv[0] : "bench_sim";
	double secs;
	cJSON *j;

	snprintf(drill, sizeof drill, "%s", self);
	if ((slash = strrchr(drill, '/')) == NULL) {
		fprintf(stderr, "bench_sim: run me by path ($BUILD/bench/bench_sim)\n");
		return 1;
	}
	snprintf(slash, sizeof drill - (size_t)(slash - drill), "/../apagon-drill");
	if (access(drill, X_OK) != 0) {
		fprintf(stderr, "bench_sim: %s not found: run make first\n", drill);
		return 1;
	}
	if ((j = run_sim(drill, routing, &secs)) == NULL)
		return 1;
	printf("sim.nodes_1000_wall_s %.1f\n", secs);
	print_num(j, "tx_per_delivered_vs_flood", "sim.tx_per_delivered_vs_flood");
	print_num(j, "bytes_per_delivered_vs_flood", "sim.bytes_per_delivered_vs_flood");
	print_num(j, "delivery_ratio", "sim.delivery_ratio");
	print_num(cJSON_GetObjectItem(j, "flood"), "delivery_ratio", "sim.flood_delivery_ratio");
	cJSON_Delete(j);
	if ((j = run_sim(drill, lora, &secs)) == NULL)
		return 1;
	print_num(j, "tx_per_delivered_vs_flood", "sim.lora_nodes_100_tx_per_delivered_vs_flood");
	print_num(j, "delivery_ratio", "sim.lora_nodes_100_delivery_ratio");
	print_num(cJSON_GetObjectItem(j, "flood"), "delivery_ratio",
	    "sim.lora_nodes_100_flood_delivery_ratio");
	print_num(j, "duty_cycle_max", "sim.lora_nodes_100_duty_cycle_max");
	printf("sim.lora_nodes_100_wall_s %.1f\n", secs);
	cJSON_Delete(j);
	return 0;
}
