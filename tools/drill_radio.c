/*
 * Radios in a drill (drill.h, docs/drills.md "Radios").
 *
 * LoRa: one apagon-channel per [lora NAME] section (the simulated radio channel, its
 * nodes placed where the scenario puts them) and one apagon-modem-sim per radio (the
 * modem firmware's host build on a pseudo-terminal, joined to its channel). The node's
 * apagon.conf gets a [lora NAME] section whose device is that pseudo-terminal. The
 * channel and the modems run on real time (no --time-scale): airtime and the modems'
 * duty-cycle books are the real ones.
 *
 * Bluetooth: a node's `bluetooth = hciN` is an adapter of the machine that runs the
 * drill. Without AF_BLUETOOTH in the kernel the drill is refused before anything
 * starts; nothing is simulated in its place.
 */
#include "drill.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define RADIO_START_MS 10000

/* The path exists (a symlink counts, whatever it points to). */
static int
exists(const void *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0;
}

int
drill_bluetooth_check(const struct drill *d)
{
	const struct scenario *s = d->s;
	int line = scenario_bluetooth_line(s), fd;
	char path[64];

	if (line == 0)
		return 0;
	/* BTPROTO_L2CAP is 0: the socket the node's Bluetooth transport opens. */
	if ((fd = socket(AF_BLUETOOTH, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) < 0) {
		fprintf(stderr, "%s:%d: this drill has Bluetooth links, but this machine has no "
		    "Bluetooth (the kernel refuses AF_BLUETOOTH sockets: %s). Run it on a machine "
		    "with one Bluetooth adapter per node that has bluetooth =, or remove those "
		    "keys\n", d->scenario_path, line, strerror(errno));
		return -1;
	}
	close(fd);
	for (int i = 0; i < s->nnodes; i++) {
		struct stat sb;

		if (!s->node[i].bluetooth[0])
			continue;
		snprintf(path, sizeof path, "/sys/class/bluetooth/%s", s->node[i].bluetooth);
		if (stat(path, &sb) != 0) {
			fprintf(stderr, "%s:%d: this machine has no Bluetooth adapter %s (no %s). "
			    "List the adapters with hciconfig or bluetoothctl list, and give each "
			    "node one that exists\n", d->scenario_path, s->node[i].bt_line,
			    s->node[i].bluetooth, path);
			return -1;
		}
	}
	return 0;
}

/* The node's radio sections of its apagon.conf. */
void
drill_radio_conf(const struct drill *d, int i, FILE *f)
{
	const struct scenario *s = d->s;
	const struct scn_node *nd = &s->node[i];

	if (nd->lora >= 0) {
		const struct scn_lora *lr = &s->lora[nd->lora];

		fprintf(f, "# its radio on LoRa channel %s, at (%ld m, %ld m): a simulated "
		    "modem\n[lora %s]\ndevice = %s\nregion = %s\npreset = %s\ntx-power = %d\n",
		    lr->name, (long)nd->x_m, (long)nd->y_m, lr->name, d->node[i].radio.pty,
		    lr->region, lr->preset, lr->tx_power);
		if (lr->freq_hz)
			fprintf(f, "frequency = %u\n", (unsigned)lr->freq_hz);
		fputs("\n", f);
	}
	if (nd->bluetooth[0])
		fprintf(f, "# its Bluetooth adapter on this machine\n[bluetooth bt]\nadapter = %s"
		    "\n\n", nd->bluetooth);
}

int
drill_radio_start(struct drill *d, int i)
{
	const struct scenario *s = d->s;
	struct drill_radio *r = &d->node[i].radio;
	struct drill_channel *c = &d->chan[s->node[i].lora];
	char *argv[] = { d->modem_bin, "--name", (char *)s->node[i].name, "--channel", c->sock,
	    "--link", r->pty, NULL };

	unlink(r->pty);         /* a modem killed -9 leaves its link behind */
	if ((r->pid = drill_spawn(argv, r->log, NULL)) < 0)
		return -1;
	r->starts++;
	if (drill_await(&r->pid, exists, r->pty, RADIO_START_MS) != 0)
		return -1;
	r->up = 1;
	return 0;
}

/* Send sig; after a SIGTERM, SIGKILL if it has not exited within 3 s. */
static void
stop_child(pid_t pid, int sig)
{
	int64_t until = drill_mono_ms() + 3000;

	kill(pid, sig);
	while (sig != SIGKILL && drill_mono_ms() < until) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		drill_sleep_ms(20);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

void
drill_radio_kill(struct drill *d, int i, int sig)
{
	struct drill_radio *r = &d->node[i].radio;

	if (r->pid > 0)
		stop_child(r->pid, sig);
	r->pid = 0;
	r->up = 0;
}

/* One reading of the modem's counters, as the node's status shows them. The node
 * shows the last figures it had until the modem answers again, and zeros after its own
 * restart: a reading whose counters since boot (airtime, frames) went down is a new
 * modem's only when the drill restarted the modem since (then the last figures are
 * folded); otherwise it is ignored. The sliding hour's figure may go down by itself. */
void
drill_radio_sample(struct drill_radio *r, const uint64_t v[RM_N], uint64_t budget_ms)
{
	int lower = v[RM_AIRTIME] < r->cur[RM_AIRTIME] || v[RM_TX_FRAMES] < r->cur[RM_TX_FRAMES];

	if (lower) {
		if (r->starts - 1 <= r->folds)
			return;         /* the node restarted, not the modem */
		for (int k = 0; k < RM_N; k++) {
			r->done[k] += r->cur[k];
			r->cur[k] = 0;
		}
		r->folds = r->starts - 1;
	}
	for (int k = 0; k < RM_N; k++)
		r->cur[k] = v[k];
	if (budget_ms)
		r->budget_ms = budget_ms;
	if (r->done[RM_DUTY_USED] + r->cur[RM_DUTY_USED] > r->used_max_ms)
		r->used_max_ms = r->done[RM_DUTY_USED] + r->cur[RM_DUTY_USED];
}

/* The channels' configs, the channels, then every modem. -1 with a message. */
int
drill_lora_setup(struct drill *d)
{
	const struct scenario *s = d->s;

	for (int c = 0; c < s->nlora; c++) {
		const struct scn_lora *lr = &s->lora[c];
		struct drill_channel *ch = &d->chan[c];
		char *argv[] = { d->channel_bin, "--socket", ch->sock, "--config", ch->conf, NULL };
		struct sockaddr_un sa;
		FILE *f;

		snprintf(ch->sock, sizeof ch->sock, "%s/run/lora-%s.sock", d->out, lr->name);
		snprintf(ch->conf, sizeof ch->conf, "%s/run/lora-%s.conf", d->out, lr->name);
		snprintf(ch->log, sizeof ch->log, "%s/run/lora-%s.log", d->out, lr->name);
		if (strlen(ch->sock) >= sizeof sa.sun_path) {
			fprintf(stderr, "apagon-drill: %s is too long a path for a socket (at most "
			    "%zu bytes). Use a shorter --out\n", ch->sock, sizeof sa.sun_path - 1);
			return -1;
		}
		if ((f = fopen(ch->conf, "w")) == NULL) {
			fprintf(stderr, "apagon-drill: cannot write %s: %s\n", ch->conf,
			    strerror(errno));
			return -1;
		}
		fprintf(f, "# apagon-drill: LoRa channel %s (%s, %s); positions in metres\n"
		    "extra_loss_db %d\nloss_percent %d\n", lr->name, lr->region, lr->preset,
		    lr->extra_loss_db, lr->loss_percent);
		for (int i = 0; i < s->nnodes; i++)
			if (s->node[i].lora == c)
				fprintf(f, "node %s %ld %ld\n", s->node[i].name, (long)s->node[i].x_m,
				    (long)s->node[i].y_m);
		if (fclose(f) != 0)
			return -1;
		unlink(ch->sock);
		if ((ch->pid = drill_spawn(argv, ch->log, NULL)) < 0)
			return -1;
		if (drill_await(&ch->pid, exists, ch->sock, RADIO_START_MS) != 0) {
			fprintf(stderr, "apagon-drill: the LoRa channel %s did not start; see %s\n",
			    lr->name, ch->log);
			return -1;
		}
	}
	for (int i = 0; i < s->nnodes; i++) {
		struct drill_radio *r = &d->node[i].radio;

		if (s->node[i].lora < 0)
			continue;
		snprintf(r->pty, sizeof r->pty, "%s/run/%s.modem", d->out, s->node[i].name);
		snprintf(r->log, sizeof r->log, "%s/run/%s.modem.log", d->out, s->node[i].name);
		if (drill_radio_start(d, i) != 0) {
			fprintf(stderr, "apagon-drill: the modem of %s did not start; see %s\n",
			    s->node[i].name, r->log);
			return -1;
		}
	}
	return 0;
}

/* A child that exited: 1 if it was a modem or a channel (then marked down). */
int
drill_radio_reaped(struct drill *d, pid_t pid)
{
	for (int i = 0; i < d->s->nnodes; i++)
		if (d->node[i].radio.pid == pid) {
			d->node[i].radio.pid = 0;
			d->node[i].radio.up = 0;
			return 1;
		}
	for (int c = 0; c < d->s->nlora; c++)
		if (d->chan[c].pid == pid) {
			d->chan[c].pid = 0;
			return 1;
		}
	return 0;
}

/* Modems first (SIGTERM: they remove their links), then the channels. */
void
drill_lora_teardown(struct drill *d)
{
	for (int i = 0; i < d->s->nnodes; i++)
		drill_radio_kill(d, i, SIGTERM);
	for (int c = 0; c < d->s->nlora; c++) {
		if (d->chan[c].pid > 0)
			stop_child(d->chan[c].pid, SIGTERM);
		d->chan[c].pid = 0;
	}
}
