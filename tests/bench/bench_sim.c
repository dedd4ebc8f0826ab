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

int
main(int argc, char **argv)
{
	char drill[1024], out[] = "/tmp/apagon-bench-sim.XXXXXX", path[1100], *slash, *buf;
	const char *self = argc > 0 ? argv[0] : "bench_sim";
	double t0, t1;
	cJSON *j, *flood;
	FILE *f;
	long len;
	int st;
	pid_t pid;

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
	if (!mkdtemp(out)) {
		fprintf(stderr, "bench_sim: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	t0 = wall();
	if ((pid = fork()) == 0) {
		execl(drill, drill, "sim", "--out", out, "--nodes", "1000", "--minutes", "60",
		    "--contact-every", "120", "--compare", "--quiet", (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "bench_sim: apagon-drill sim failed\n");
		return 1;
	}
	t1 = wall();
	snprintf(path, sizeof path, "%s/metrics.json", out);
	if ((f = fopen(path, "r")) == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0 || (buf = calloc(1, (size_t)len + 1)) == NULL ||
	    fread(buf, 1, (size_t)len, f) != (size_t)len) {
		fprintf(stderr, "bench_sim: cannot read %s\n", path);
		return 1;
	}
	fclose(f);
	if ((j = cJSON_Parse(buf)) == NULL) {
		fprintf(stderr, "bench_sim: %s is not JSON\n", path);
		return 1;
	}
	printf("sim.nodes_1000_wall_s %.1f\n", t1 - t0);
	print_num(j, "tx_per_delivered_vs_flood", "sim.tx_per_delivered_vs_flood");
	print_num(j, "bytes_per_delivered_vs_flood", "sim.bytes_per_delivered_vs_flood");
	print_num(j, "delivery_ratio", "sim.delivery_ratio");
	flood = cJSON_GetObjectItem(j, "flood");
	print_num(flood, "delivery_ratio", "sim.flood_delivery_ratio");
	cJSON_Delete(j);
	free(buf);
	unlink(path);
	rmdir(out);
	return 0;
}
