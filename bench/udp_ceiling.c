/* The raw loopback UDP ceiling: how many datagrams of SIZE bytes one sender
 * thread can push through 127.0.0.1 to one receiver thread, with sendmmsg /
 * recvmmsg in batches (the best a single-socket sender can do), or with one
 * sendto per datagram (-1, what a sender without batching pays).  The
 * gossip benchmark (bench/gossip_rate.py) compares crdtd against this,
 * measured in the same run.
 *
 *   udp_ceiling [-t SECONDS] [-s SIZE] [-b BATCH] [-r RUNS] [-1]
 *
 * Prints one line per run and a last line "median sent_per_s=… recv_per_s=…
 * recv_mb_per_s=… loss=…" (MB = 10^6 bytes), medians over the runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAXBATCH 256

static double seconds = 2.0;
static size_t dsize = 1400;
static int batch = 64;
static int single;
static atomic_int stop_recv;

struct counts {
	unsigned long long n, bytes;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void *receiver(void *arg)
{
	int fd = *(int *)arg;
	static struct counts c;
	struct mmsghdr m[MAXBATCH];
	struct iovec iov[MAXBATCH];
	char *buf = malloc((size_t)MAXBATCH * 65536);

	if (!buf)
		die("malloc");
	for (int i = 0; i < MAXBATCH; i++) {
		iov[i].iov_base = buf + (size_t)i * 65536;
		iov[i].iov_len = 65536;
		memset(&m[i], 0, sizeof(m[i]));
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
	c.n = c.bytes = 0;
	while (!atomic_load(&stop_recv)) {
		int r = recvmmsg(fd, m, MAXBATCH, 0, NULL);
		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				continue;
			die("recvmmsg");
		}
		for (int i = 0; i < r; i++)
			c.bytes += m[i].msg_len;
		c.n += (unsigned long long)r;
	}
	free(buf);
	return &c;
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), dcmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void one_run(double *sent_ps, double *recv_ps, double *recv_mbps)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int rfd = socket(AF_INET, SOCK_DGRAM, 0), sfd = socket(AF_INET, SOCK_DGRAM, 0);
	int big = 8 << 20;
	struct timeval tv = { 0, 100000 };
	pthread_t th;
	struct counts *rc;
	unsigned long long sent = 0;
	struct mmsghdr m[MAXBATCH];
	struct iovec iov;
	char *payload = calloc(1, dsize);
	double t0, t1;

	if (rfd < 0 || sfd < 0 || !payload)
		die("socket");
	/* the kernel caps these at net.core.[rw]mem_max, as it does crdtd's */
	setsockopt(rfd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	setsockopt(sfd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(rfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (bind(rfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(rfd, (struct sockaddr *)&a, &alen) < 0)
		die("bind");
	if (connect(sfd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("connect");
	iov.iov_base = payload;
	iov.iov_len = dsize;
	for (int i = 0; i < batch; i++) {
		memset(&m[i], 0, sizeof(m[i]));
		m[i].msg_hdr.msg_iov = &iov;
		m[i].msg_hdr.msg_iovlen = 1;
	}
	atomic_store(&stop_recv, 0);
	if (pthread_create(&th, NULL, receiver, &rfd))
		die("pthread_create");
	usleep(20000);
	t0 = now();
	t1 = t0;
	while (t1 - t0 < seconds) {
		for (int k = 0; k < 16; k++) {
			int r;
			if (single)
				r = send(sfd, payload, dsize, 0) < 0 ? -1 : 1;
			else
				r = sendmmsg(sfd, m, (unsigned)batch, 0);
			if (r < 0) {
				if (errno == ENOBUFS || errno == EAGAIN || errno == ECONNREFUSED)
					continue;
				die("send");
			}
			sent += (unsigned long long)r;
		}
		t1 = now();
	}
	usleep(100000); /* what is queued still counts as received */
	atomic_store(&stop_recv, 1);
	pthread_join(th, (void **)&rc);
	*sent_ps = (double)sent / (t1 - t0);
	*recv_ps = (double)rc->n / (t1 - t0);
	*recv_mbps = (double)rc->bytes / (t1 - t0) / 1e6;
	close(rfd);
	close(sfd);
	free(payload);
}

int main(int argc, char **argv)
{
	int runs = 3, o;
	double s[64], r[64], mb[64], loss[64];

	while ((o = getopt(argc, argv, "t:s:b:r:1h")) != -1) {
		switch (o) {
		case 't': seconds = atof(optarg); break;
		case 's': dsize = (size_t)atol(optarg); break;
		case 'b': batch = atoi(optarg); break;
		case 'r': runs = atoi(optarg); break;
		case '1': single = 1; break;
		default:
			fprintf(stderr, "usage: udp_ceiling [-t SECONDS] [-s SIZE] [-b BATCH] [-r RUNS] [-1]\n");
			return o == 'h' ? 0 : 2;
		}
	}
	if (runs < 1 || runs > 64 || batch < 1 || batch > MAXBATCH || dsize < 1 || dsize > 65000 ||
	    seconds <= 0) {
		fprintf(stderr, "udp_ceiling: bad arguments\n");
		return 2;
	}
	for (int i = 0; i < runs; i++) {
		one_run(&s[i], &r[i], &mb[i]);
		loss[i] = s[i] > 0 ? 1.0 - r[i] / s[i] : 0;
		printf("run %d: %s size=%zu sent_per_s=%.0f recv_per_s=%.0f recv_mb_per_s=%.1f loss=%.3f\n",
		       i + 1, single ? "send" : "sendmmsg", dsize, s[i], r[i], mb[i], loss[i]);
	}
	printf("median mode=%s size=%zu batch=%d runs=%d sent_per_s=%.0f recv_per_s=%.0f recv_mb_per_s=%.1f loss=%.3f\n",
	       single ? "send" : "sendmmsg", dsize, single ? 1 : batch, runs, median(s, runs),
	       median(r, runs), median(mb, runs), median(loss, runs));
	return 0;
}
