/* Latency of one RESP command at a fixed, moderate rate: one connection,
 * requests sent on an open-loop schedule (request i is due at start + i/RATE)
 * and each latency measured from when the request was due until its whole
 * reply arrived, so a stall delays, and is charged to, every request behind
 * it (no coordinated omission).  Works against crdtd and redis-server alike.
 *
 *   latency -p PORT [-H HOST] [-r RATE] [-t SECONDS] [-w WARMUP_S] [-R KEYSPACE] CMD ARG...
 *
 * "__rand_int__" in an argument is replaced by a random number below
 * KEYSPACE (default 100000), as redis-benchmark does.  Prints
 * "count=N p50_us=… p99_us=… p999_us=… max_us=… late=…" where late is the
 * fraction of requests sent more than 1 ms after they were due, and
 * saturated=1 that the run was cut short at twice its planned time because
 * the server could not keep up with RATE.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static char rbuf[1 << 22];
static size_t rlen;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Length of the complete reply at p (n bytes available), 0 if incomplete,
 * -1 if malformed. */
static long reply_len(const char *p, size_t n)
{
	const char *nl;
	long len, head, total;

	if (n < 1)
		return 0;
	nl = memchr(p, '\n', n);
	if (!nl)
		return 0;
	head = nl - p + 1;
	switch (p[0]) {
	case '+':
	case '-':
	case ':':
		return head;
	case '$':
		len = atol(p + 1);
		if (len < 0)
			return head;
		return (size_t)(head + len + 2) <= n ? head + len + 2 : 0;
	case '*':
		len = atol(p + 1);
		total = head;
		for (long i = 0; i < len; i++) {
			long r = reply_len(p + total, n - (size_t)total);
			if (r <= 0)
				return r;
			total += r;
		}
		return total;
	default:
		return -1;
	}
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double p)
{
	size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

static size_t build(char *out, size_t cap, int argc, char **argv, long keyspace)
{
	size_t o = (size_t)snprintf(out, cap, "*%d\r\n", argc);
	for (int i = 0; i < argc; i++) {
		char arg[512], *r;
		snprintf(arg, sizeof(arg), "%s", argv[i]);
		while ((r = strstr(arg, "__rand_int__")) != NULL) {
			char tail[512];
			snprintf(tail, sizeof(tail), "%s", r + 12);
			snprintf(r, sizeof(arg) - (size_t)(r - arg), "%012ld%s", random() % keyspace, tail);
		}
		o += (size_t)snprintf(out + o, cap - o, "$%zu\r\n%s\r\n", strlen(arg), arg);
	}
	return o;
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1";
	int port = 0, o, one = 1, fd;
	double rate = 2000, secs = 3, warm = 0.5;
	long keyspace = 100000;
	struct sockaddr_in a = { .sin_family = AF_INET };
	double *lat, start;
	size_t n = 0, cap, late = 0, total;
	int saturated = 0;
	char cmd[4096];

	while ((o = getopt(argc, argv, "+H:p:r:t:w:R:h")) != -1) {
		switch (o) {
		case 'H': host = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'r': rate = atof(optarg); break;
		case 't': secs = atof(optarg); break;
		case 'w': warm = atof(optarg); break;
		case 'R': keyspace = atol(optarg); break;
		default:
			fprintf(stderr, "usage: latency -p PORT [-H HOST] [-r RATE] [-t SECONDS] "
					"[-w WARMUP_S] [-R KEYSPACE] CMD ARG...\n");
			return o == 'h' ? 0 : 2;
		}
	}
	if (!port || optind >= argc || rate <= 0 || secs <= 0 || keyspace <= 0) {
		fprintf(stderr, "latency: need -p PORT and a command\n");
		return 2;
	}
	a.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
		fprintf(stderr, "latency: bad host %s\n", host);
		return 2;
	}
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("connect");
		return 1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	srandom(12345);
	total = (size_t)((secs + warm) * rate);
	cap = total + 1;
	lat = malloc(cap * sizeof(*lat));
	if (!lat)
		return 1;
	start = now();
	for (size_t i = 0; i < total; i++) {
		double due = start + (double)i / rate, t;
		size_t len = build(cmd, sizeof(cmd), argc - optind, argv + optind, keyspace);
		long r;
		while ((t = now()) < due) {
			double left = due - t;
			if (left > 200e-6) {
				struct timespec ts = { 0, (long)((left - 100e-6) * 1e9) };
				nanosleep(&ts, NULL);
			}
		}
		if (t - due > 1e-3 && (double)i >= warm * rate)
			late++;
		if (t - start > 2 * (secs + warm) + 1) {
			/* the server cannot keep up with RATE: stop, and say so */
			saturated = 1;
			break;
		}
		for (size_t off = 0; off < len;) {
			ssize_t w = write(fd, cmd + off, len - off);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				perror("write");
				return 1;
			}
			off += (size_t)w;
		}
		rlen = 0;
		for (;;) {
			ssize_t got = read(fd, rbuf + rlen, sizeof(rbuf) - rlen);
			if (got <= 0) {
				if (got < 0 && errno == EINTR)
					continue;
				fprintf(stderr, "latency: connection closed\n");
				return 1;
			}
			rlen += (size_t)got;
			r = reply_len(rbuf, rlen);
			if (r < 0) {
				fprintf(stderr, "latency: malformed reply\n");
				return 1;
			}
			if (r > 0)
				break;
			if (rlen == sizeof(rbuf)) {
				fprintf(stderr, "latency: reply too large\n");
				return 1;
			}
		}
		if (rbuf[0] == '-') {
			fprintf(stderr, "latency: error reply: %.*s\n", (int)(rlen < 200 ? rlen : 200), rbuf);
			return 1;
		}
		if ((double)i >= warm * rate)
			lat[n++] = (now() - due) * 1e6;
	}
	if (n == 0) {
		printf("count=0 saturated=1\n");
		return 0;
	}
	qsort(lat, n, sizeof(*lat), dcmp);
	printf("count=%zu p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f late=%.4f saturated=%d\n", n,
	       pct(lat, n, 50), pct(lat, n, 99), pct(lat, n, 99.9), lat[n - 1],
	       (double)late / (double)n, saturated);
	free(lat);
	close(fd);
	return 0;
}
