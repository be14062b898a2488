/* What a peer's journal costs per merged register in a write storm: the
 * store and journal of crdtd (state/), fed registers of random keys as the
 * receive path feeds them (store_merge), a loop pass's worth at a time.
 *
 *   journal_cost [-k KEYS] [-n MERGES] [-p PER_PASS] [-d none|batch|always] [-r RUNS]
 *                [-b BATCH_MS]
 *
 * Each run: a fresh data directory under /tmp; KEYS registers merged once
 * (not timed), then MERGES merges of random keys among them (a peer's new
 * value each, decoded beforehand, as a datagram's records are), with
 * journal_commit and one non-blocking loop run after every PER_PASS of
 * them (the end of a loop pass), and journal_flush at the end; the journal's
 * batch_ms is the daemon's default (100) unless -b says otherwise.  Prints the
 * CPU time of the process (loop and writer thread, getrusage) and the wall
 * time per merge, LMDB commits and the file's size; with -r, each run and
 * the medians.  The CPU a peer spends decoding datagrams, looking names up
 * and merging is in it too, but not the network's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "crdt/lwwreg.h"
#include "crdt/obj.h"
#include "crdt/rid.h"
#include "state/journal.h"
#include "state/store.h"

static unsigned batch_ms = 100;

static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
	       ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

static double wall_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct result {
	double cpu_us, wall_us;
	unsigned long long commits, bytes;
};

static void die(const char *what)
{
	fprintf(stderr, "journal_cost: %s\n", what);
	exit(1);
}

static struct crdt_obj make_reg(struct crdt_hlc *hlc, const struct crdt_rid *rid, unsigned v)
{
	struct crdt_obj o;
	char val[24];
	int n = snprintf(val, sizeof(val), "v%012u", v);

	if (crdt_obj_new(CRDT_LWWREG, &o) < 0 ||
	    crdt_lwwreg_set(o.lww, hlc, rid, val, (size_t)n) < 0)
		die("out of memory");
	return o;
}

static struct result one_run(unsigned keys, unsigned merges, unsigned per_pass,
			     enum config_durability mode, unsigned seed)
{
	char dir[] = "/tmp/journal-cost-XXXXXX", err[512], name[32], cmd[64];
	struct crdt_rid peer;
	struct crdt_hlc hlc;
	struct journal_stats js;
	struct journal *st;
	struct crdt_obj *regs;
	unsigned *which;
	struct result res;
	struct store s;
	uv_loop_t loop;

	if (!mkdtemp(dir) || uv_loop_init(&loop) < 0)
		die("no temporary directory or loop");
	store_init(&s);
	crdt_rid_generate(&peer);
	crdt_hlc_init(&hlc, NULL, NULL);
	if (journal_open(&loop, dir, NULL, mode, batch_ms, (size_t)1 << 30, &st, err,
			 sizeof(err)) < 0 ||
	    journal_load(st, &s, err, sizeof(err)) < 0)
		die(err);
	/* every key once, as the storm's first writes make them */
	for (unsigned i = 0; i < keys; i++) {
		struct crdt_obj o = make_reg(&hlc, &peer, i);
		int n = snprintf(name, sizeof(name), "key:%012u", i);
		if (store_merge(&s, name, (size_t)n, &o) < 0)
			die("merge");
		crdt_obj_done(&o);
		if (i % per_pass == per_pass - 1)
			journal_commit(st);
	}
	journal_flush(st);
	uv_run(&loop, UV_RUN_NOWAIT);
	/* the peer's writes, decoded before the clock starts */
	regs = malloc((size_t)merges * sizeof(*regs));
	which = malloc((size_t)merges * sizeof(*which));
	if (!regs || !which)
		die("out of memory");
	srand(seed);
	for (unsigned i = 0; i < merges; i++) {
		which[i] = (unsigned)rand() % keys;
		regs[i] = make_reg(&hlc, &peer, keys + i);
	}
	journal_get_stats(st, &js);
	unsigned long long commits0 = js.commits;
	double c0 = cpu_s(), w0 = wall_s();
	for (unsigned i = 0; i < merges; i++) {
		int n = snprintf(name, sizeof(name), "key:%012u", which[i]);
		if (store_merge(&s, name, (size_t)n, &regs[i]) < 0)
			die("merge");
		if (i % per_pass == per_pass - 1) {
			journal_commit(st);
			uv_run(&loop, UV_RUN_NOWAIT);
		}
	}
	journal_flush(st);
	res.cpu_us = (cpu_s() - c0) * 1e6 / merges;
	res.wall_us = (wall_s() - w0) * 1e6 / merges;
	journal_get_stats(st, &js);
	res.commits = js.commits - commits0;
	res.bytes = journal_file_bytes(st);
	for (unsigned i = 0; i < merges; i++)
		crdt_obj_done(&regs[i]);
	free(regs);
	free(which);
	journal_close(st);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) < 0)
		die("a handle was left open");
	store_done(&s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		die("cannot remove the data directory");
	return res;
}

int main(int argc, char **argv)
{
	unsigned keys = 100000, merges = 300000, per_pass = 300, runs = 3;
	enum config_durability mode = CONFIG_DURABILITY_NONE;
	int c;

	while ((c = getopt(argc, argv, "k:n:p:d:r:b:")) != -1) {
		switch (c) {
		case 'k': keys = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'n': merges = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'p': per_pass = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'r': runs = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'b': batch_ms = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'd':
			mode = !strcmp(optarg, "always") ? CONFIG_DURABILITY_ALWAYS
			       : !strcmp(optarg, "batch") ? CONFIG_DURABILITY_BATCH
							  : CONFIG_DURABILITY_NONE;
			break;
		default:
			fprintf(stderr, "usage: journal_cost [-k KEYS] [-n MERGES] [-p PER_PASS] "
					"[-d none|batch|always] [-r RUNS] [-b BATCH_MS]\n");
			return 2;
		}
	}
	if (!keys || !merges || !per_pass || !runs || runs > 64 || !batch_ms)
		die("every count must be at least 1 (runs at most 64)");
	double cpu[64], wall[64];
	for (unsigned r = 0; r < runs; r++) {
		struct result x = one_run(keys, merges, per_pass, mode, r + 1);
		cpu[r] = x.cpu_us;
		wall[r] = x.wall_us;
		printf("run %u: %.2f us CPU, %.2f us wall a merge; %llu commits; file %llu bytes\n",
		       r + 1, x.cpu_us, x.wall_us, x.commits, x.bytes);
	}
	qsort(cpu, runs, sizeof(double), cmp_double);
	qsort(wall, runs, sizeof(double), cmp_double);
	printf("median: %.2f us CPU, %.2f us wall a merge\n", cpu[runs / 2], wall[runs / 2]);
	return 0;
}
