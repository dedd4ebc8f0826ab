/*
 * Bluetooth goodput (make bench): bt.goodput_vs_raw, our bundle goodput over one
 * L2CAP LE link divided by the same link carrying raw bytes, both measured in one run
 * of the QEMU VM (tests/integration/bluetooth_vm.sh), because this host's kernel has
 * no Bluetooth. The same binary is the VM's raw tool:
 *
 *   bench_bt                          host: run the VM test in bench mode, print its
 *                                     figures (or say why there are none)
 *   bench_bt server ADAPTER PSM       VM: accept one link, count bytes until BYTES
 *                                     (the first 8 bytes, big-endian), answer 1 byte
 *   bench_bt client ADAPTER PEER PSM BYTES [paced]
 *                                     VM: dial, send BYTES raw in SDUs of the peer's
 *                                     MTU, wait for the answer; prints
 *                                     "raw_bytes_per_s N". Blocking sends, as
 *                                     l2test's; "paced": non-blocking sends that wait
 *                                     for the peer's credits as node/transport_bt.c
 *                                     does (a timer, not the kernel's wake-ups)
 *   bench_bt garbage ADAPTER PEER PSM VM: dial, send a stream that is no framing of
 *                                     ours, report whether the peer hung up (exit 0),
 *                                     or it did not (1), or no link came up (3)
 *   bench_bt garbage-server ADAPTER PSM
 *                                     VM: the same, for a peer that dials us
 *   bench_bt crypto BYTES             VM: microseconds of the cryptography every
 *                                     bundle of BYTES must have on this link, raw
 *                                     libsodium on the same emulated CPU (below)
 *
 * The raw sender uses the same receive MTU as node/transport_bt.c (8192), so the two
 * figures differ only by what apagon adds: framing, the session's encryption and
 * reconciliation, and the bundles' verification and durable commits. The paced raw
 * sender also waits for the peer's credits as the transport does (bt_tx_wait_kind()),
 * so bt.goodput_vs_raw_paced leaves out the wake-ups that a blocking sender, as
 * l2test's, pays in the kernel (docs/bluetooth.md, Connections).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <sodium.h>

#include <bluetooth/bluetooth.h>
#include <bluetooth/hci.h>
#include <bluetooth/hci_lib.h>
#include <bluetooth/l2cap.h>

#include "../../node/bt_frame.h"

#define IMTU 8192

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* This process's CPU time so far, user and system. */
static double
cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int
l2_socket(const char *adapter, int psm)
{
	struct sockaddr_l2 sa;
	struct hci_dev_info di;
	uint16_t mtu = IMTU;
	int fd, id;

	if ((id = hci_devid(adapter)) < 0 || hci_devinfo(id, &di) < 0) {
		fprintf(stderr, "bench_bt: adapter %s not found\n", adapter);
		exit(2);
	}
	if ((fd = socket(AF_BLUETOOTH, SOCK_SEQPACKET, BTPROTO_L2CAP)) < 0) {
		perror("bench_bt: socket");
		exit(2);
	}
	memset(&sa, 0, sizeof sa);
	sa.l2_family = AF_BLUETOOTH;
	sa.l2_psm = htobs((uint16_t)psm);
	bacpy(&sa.l2_bdaddr, &di.bdaddr);
	sa.l2_bdaddr_type = BDADDR_LE_PUBLIC;
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		perror("bench_bt: bind");
		exit(2);
	}
	/* After bind, as node/transport_bt.c: only then is the socket known to be LE. */
	setsockopt(fd, SOL_BLUETOOTH, BT_RCVMTU, &mtu, sizeof mtu);
	return fd;
}

/* Dial, as a peer would: an LE peripheral is reachable only while it advertises, so
 * try again for up to a minute, 10 s per try. */
static int
dial(const char *adapter, const char *peer, int psm)
{
	struct sockaddr_l2 sa;
	struct timeval tv = { 10, 0 };

	memset(&sa, 0, sizeof sa);
	sa.l2_family = AF_BLUETOOTH;
	sa.l2_psm = htobs((uint16_t)psm);
	str2ba(peer, &sa.l2_bdaddr);
	sa.l2_bdaddr_type = BDADDR_LE_PUBLIC;
	for (int i = 0; i < 8; i++) {
		int fd = l2_socket(adapter, 0);

		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
			return fd;
		fprintf(stderr, "bench_bt: connect: %s%s\n", strerror(errno),
		    i < 7 ? "; again" : "");
		close(fd);
		sleep(1);
	}
	exit(3);                /* could not connect: the caller tells this from a failure */
}

static size_t
peer_mtu(int fd)
{
	uint16_t mtu = 0;
	socklen_t sl = sizeof mtu;

	if (getsockopt(fd, SOL_BLUETOOTH, BT_SNDMTU, &mtu, &sl) < 0 || mtu == 0)
		return 23;
	return mtu;
}

/* Count bytes until the total the first 8 carry, then answer 1 byte. */
static int
recv_count(int fd)
{
	static uint8_t buf[IMTU];
	uint64_t want = 0, got = 0;
	uint8_t ack = 1;

	for (;;) {
		ssize_t r = recv(fd, buf, sizeof buf, 0);

		if (r <= 0) {
			fprintf(stderr, "bench_bt: link lost after %llu bytes\n",
			    (unsigned long long)got);
			return 1;
		}
		if (got < 8)
			for (ssize_t i = 0; i < r && got + (uint64_t)i < 8; i++)
				want = want << 8 | buf[i];
		got += (uint64_t)r;
		if (got >= 8 && got >= want)
			break;
	}
	if (send(fd, &ack, 1, 0) != 1)
		return 1;
	fprintf(stderr, "raw_receiver_cpu_s %.3f\n", cpu_s());
	/* Let the answer leave before the link goes (the reference's known race). */
	{
		struct pollfd pfd = { fd, POLLIN, 0 };

		poll(&pfd, 1, 5000);
	}
	close(fd);
	return 0;
}

/* A refused send, paced: wait the way node/transport_bt.c does (bt_tx_wait_kind()):
 * bt_tx_retry_ms() of a wait that began waited_s ago while the channel waits for the
 * peer's credits, else until the socket is writable. sndbuf: the socket's SO_SNDBUF,
 * read once, as the transport does. 0, or -1 if the wait failed. */
static int
paced_wait(int fd, int sndbuf, double waited_s)
{
	uint64_t ms = bt_tx_retry_ms((uint64_t)(waited_s * 1000));
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	struct pollfd pfd = { fd, POLLOUT, 0 };
	int free_now;

	if (ioctl(fd, TIOCOUTQ, &free_now) < 0)
		free_now = -1;
	if (bt_tx_wait_kind(free_now, sndbuf) == BT_WAIT_CREDITS)
		return nanosleep(&ts, NULL) < 0 && errno != EINTR ? -1 : 0;
	return poll(&pfd, 1, 10000) < 0 && errno != EINTR ? -1 : 0;
}

/* Send BYTES (the count in the first 8) in SDUs of the peer's MTU, wait for the
 * answer; print the rate. paced: non-blocking sends that wait as our transport waits
 * (paced_wait()); else blocking sends, as l2test sends. */
static int
send_count(int fd, uint64_t bytes, int paced)
{
	static uint8_t buf[65536];
	size_t mtu = peer_mtu(fd);
	socklen_t sl = sizeof(int);
	int sndbuf = 0;
	uint64_t sent = 0;
	double t0, t1, wait_since = 0;
	uint8_t ack;

	if (mtu > sizeof buf)
		mtu = sizeof buf;
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (uint8_t)(i * 131 + 7);
	for (int i = 0; i < 8; i++)
		buf[i] = (uint8_t)(bytes >> (56 - 8 * i));
	if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &sl) < 0)
		sndbuf = 0;             /* then every wait is until writable */
	t0 = now_s();
	while (sent < bytes) {
		size_t n = bytes - sent < mtu ? (size_t)(bytes - sent) : mtu;
		ssize_t w = send(fd, buf, n, paced ? MSG_DONTWAIT : 0);

		if (w < 0 && paced && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			if (wait_since == 0)
				wait_since = now_s();
			if (paced_wait(fd, sndbuf, now_s() - wait_since) < 0) {
				perror("bench_bt: wait");
				return 1;
			}
			continue;
		}
		if (w < 0) {
			perror("bench_bt: send");
			return 1;
		}
		sent += (uint64_t)w;
		wait_since = 0;
		if (sent == (uint64_t)w)
			memset(buf, 0x5a, 8);   /* only the first SDU carries the count */
	}
	if (recv(fd, &ack, 1, 0) != 1) {
		fprintf(stderr, "bench_bt: no answer\n");
		return 1;
	}
	t1 = now_s();
	printf("raw_bytes %llu\nraw_seconds %.3f\nraw_bytes_per_s %.0f\nraw_mtu %zu\n",
	    (unsigned long long)bytes, t1 - t0, (double)bytes / (t1 - t0), mtu);
	printf("raw_sender_cpu_s %.3f\n", cpu_s());
	close(fd);
	return 0;
}

static int
accept_one(const char *adapter, int psm)
{
	int lfd = l2_socket(adapter, psm), fd;

	if (listen(lfd, 1) < 0) {
		perror("bench_bt: listen");
		exit(1);
	}
	fprintf(stderr, "bench_bt: listening\n");        /* the script waits for this */
	if ((fd = accept(lfd, NULL, NULL)) < 0) {
		perror("bench_bt: accept");
		exit(1);
	}
	close(lfd);
	return fd;
}

/* Send junk on fd; 0 if the peer hangs up within 20 s. */
static int
junk_until_hangup(int fd)
{
	static const uint8_t junk[] = "GET / HTTP/1.1\r\nHost: apagon\r\n\r\n";
	struct pollfd pfd = { fd, POLLIN, 0 };
	uint8_t buf[256];

	if (send(fd, junk, sizeof junk - 1, 0) < 0) {
		perror("bench_bt: send");
		return 1;
	}
	for (int i = 0; i < 20; i++) {
		if (poll(&pfd, 1, 1000) > 0) {
			ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);

			if (r == 0 || (r < 0 && errno != EAGAIN)) {
				printf("garbage refused: the peer closed the link\n");
				return 0;
			}
		}
	}
	printf("garbage NOT refused: the link stayed open\n");
	return 1;
}

static int
garbage(const char *adapter, const char *peer, int psm)
{
	return junk_until_hangup(dial(adapter, peer, psm));
}

static int
garbage_server(const char *adapter, int psm)
{
	return junk_until_hangup(accept_one(adapter, psm));
}

/*
 * The cryptography a bundle of `bytes` must have on this link, by the protocol's
 * rules, with raw libsodium and no store, session or socket: what the raw sender
 * never pays. Per bundle, in the measured window:
 *   session    the sender's AEAD seal of the bundle in its data frame and the
 *              receiver's open (ChaCha20-Poly1305, `bytes` each way);
 *   verify     the receiver's BLAKE2b of the bundle for its ID, and the Ed25519
 *              verification of the sender's signature over that ID (docs/protocol.md
 *              4.7: 64 bytes signed, the ID's context digest and the ID);
 *   open       the recipient's AEAD open of the payload (the X25519 behind its key
 *              is made once per pair of prekeys and kept, so it is not counted);
 *   receipt    the recipient's receipt: a small AEAD seal, its ID and an Ed25519
 *              signature over that.
 * Their sum is crypto_us_per_bundle. Printed apart: own_verify, the Ed25519
 * verification the node's acceptance path does again on its own fresh receipt (an
 * implementation choice, not a protocol rule). All on the emulated CPU of the run.
 */
static int
crypto_cost(size_t bytes)
{
	enum { N = 40 };
	static uint8_t m[65536], c[65536 + 16];
	uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
	uint8_t sig[crypto_sign_BYTES], key[32], nonce[12] = { 0 }, signed_id[64] = { 0 };
	unsigned long long clen, mlen;
	double t, session, verify, open, receipt, own;

	if (sodium_init() < 0 || bytes < 256 || bytes > sizeof m)
		return 2;
	crypto_sign_keypair(pk, sk);
	randombytes_buf(key, sizeof key);
	randombytes_buf(m, bytes);
	crypto_generichash(signed_id + 32, 32, m, bytes, NULL, 0);
	crypto_sign_detached(sig, NULL, signed_id, sizeof signed_id, sk);

	t = now_s();
	for (int i = 0; i < N; i++) {
		crypto_aead_chacha20poly1305_ietf_encrypt(c, &clen, m, bytes, NULL, 0, NULL, nonce,
		    key);
		if (crypto_aead_chacha20poly1305_ietf_decrypt(m, &mlen, NULL, c, clen, NULL, 0,
		    nonce, key) != 0)
			return 1;
	}
	session = (now_s() - t) * 1e6 / N;
	t = now_s();
	for (int i = 0; i < N; i++) {
		crypto_generichash(signed_id + 32, 32, m, bytes, NULL, 0);
		if (crypto_sign_verify_detached(sig, signed_id, sizeof signed_id, pk) != 0)
			return 1;
	}
	verify = (now_s() - t) * 1e6 / N;
	crypto_aead_chacha20poly1305_ietf_encrypt(c, &clen, m, bytes - 200, NULL, 0, NULL, nonce,
	    key);
	t = now_s();
	for (int i = 0; i < N; i++)
		if (crypto_aead_chacha20poly1305_ietf_decrypt(m, &mlen, NULL, c, clen, NULL, 0,
		    nonce, key) != 0)
			return 1;
	open = (now_s() - t) * 1e6 / N;
	t = now_s();
	for (int i = 0; i < N; i++) {
		crypto_aead_chacha20poly1305_ietf_encrypt(c, &clen, m, 64, NULL, 0, NULL, nonce, key);
		crypto_generichash(signed_id + 32, 32, c, 200, NULL, 0);
		crypto_sign_detached(sig, NULL, signed_id, sizeof signed_id, sk);
	}
	receipt = (now_s() - t) * 1e6 / N;
	t = now_s();
	for (int i = 0; i < N; i++)
		if (crypto_sign_verify_detached(sig, signed_id, sizeof signed_id, pk) != 0)
			return 1;
	own = (now_s() - t) * 1e6 / N;
	printf("crypto_session_us %.0f\ncrypto_verify_us %.0f\ncrypto_open_us %.0f\n"
	    "crypto_receipt_us %.0f\ncrypto_us_per_bundle %.0f\ncrypto_own_verify_us %.0f\n",
	    session, verify, open, receipt, session + verify + open + receipt, own);
	return 0;
}

/* Host side: the VM run in bench mode, its figures passed on. */
static int
host(const char *argv0)
{
	char exe[4096], cmd[8500], line[512], *slash;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	FILE *p;
	int found = 0;

	(void)argv0;
	if (n <= 0)
		return 0;
	exe[n] = '\0';
	if ((slash = strrchr(exe, '/')) != NULL)
		*slash = '\0';          /* BUILD/bench */
	if ((slash = strrchr(exe, '/')) != NULL)
		*slash = '\0';          /* BUILD */
	snprintf(cmd, sizeof cmd, "APAGON_BIN='%s/apagon' APAGON_BT_BENCH=1 "
	    "sh tests/integration/bluetooth_vm.sh 2>&1", exe);
	if ((p = popen(cmd, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof line, p)) {
		if (strncmp(line, "bench ", 6) == 0) {
			fputs(line + 6, stdout);
			found = 1;
		} else if (strncmp(line, "skip ", 5) == 0 && !found) {
			printf("bt.goodput_vs_raw skipped: %s", line + 5);
			found = 1;
		}
	}
	pclose(p);
	if (!found)
		printf("bt.goodput_vs_raw skipped: the VM run gave no figures "
		    "(BUILD/test-logs; run make test-bluetooth)\n");
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 1)
		return host(argv[0]);
	if (argc == 4 && strcmp(argv[1], "server") == 0)
		return recv_count(accept_one(argv[2], (int)strtol(argv[3], NULL, 0)));
	if ((argc == 6 || (argc == 7 && strcmp(argv[6], "paced") == 0)) &&
	    strcmp(argv[1], "client") == 0)
		return send_count(dial(argv[2], argv[3], (int)strtol(argv[4], NULL, 0)),
		    strtoull(argv[5], NULL, 0), argc == 7);

	if (argc == 3 && strcmp(argv[1], "crypto") == 0)
		return crypto_cost((size_t)strtoul(argv[2], NULL, 0));
	if (argc == 4 && strcmp(argv[1], "garbage-server") == 0)
		return garbage_server(argv[2], (int)strtol(argv[3], NULL, 0));
	if (argc == 5 && strcmp(argv[1], "garbage") == 0)
		return garbage(argv[2], argv[3], (int)strtol(argv[4], NULL, 0));
	fprintf(stderr, "usage: bench_bt [server ADAPTER PSM | client ADAPTER PEER PSM BYTES [paced] | "
	    "garbage ADAPTER PEER PSM | "
	    "garbage-server ADAPTER PSM | crypto BYTES]\n");
	return 2;
}
