/* Page faults of libcrdt's large tables, on the thread pool (populate.h). */
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "crdt/mem.h"
#include "state/populate.h"

/* What one madvise faults in: a huge page, so that a job gives up the range
 * soon after it goes away, and the table's look at a huge page's last 4 KiB
 * page sees the whole of it in. */
#define STEP ((size_t)2 << 20)

struct job {
	uv_work_t req;
	struct populate *p;
	uint8_t *addr;
	size_t len, done;
};

/* The hook takes no context (crdt/mem.h): the one instance while the hook
 * is installed (else NULL), and the loop's thread, the only one that may
 * queue work on it. */
static struct populate *the;
static uv_thread_t loop_thread;

static void work_cb(uv_work_t *req)
{
	struct job *j = req->data;

#ifdef MADV_POPULATE_WRITE
	while (j->done < j->len) {
		size_t n = j->len - j->done < STEP ? j->len - j->done : STEP;

		if (madvise(j->addr + j->done, n, MADV_POPULATE_WRITE) != 0)
			break; /* unmapped meanwhile (ENOMEM), or no memory */
		j->done += n;
	}
#endif
}

static void after_cb(uv_work_t *req, int status)
{
	struct job *j = req->data;

	(void)status; /* UV_ECANCELED is never asked for: every job runs */
	j->p->jobs++;
	j->p->bytes += j->done;
	free(j);
}

void populate_queue(void *addr, size_t len)
{
	uv_thread_t self = uv_thread_self();
	struct job *j;

	if (!the || !uv_thread_equal(&self, &loop_thread) ||
	    !(j = malloc(sizeof(*j))))
		return; /* the growth faults the pages in itself, as with none made ready */
	*j = (struct job){ .p = the, .addr = addr, .len = len };
	j->req.data = j;
	if (uv_queue_work(the->loop, &j->req, work_cb, after_cb) != 0)
		free(j);
}

/* Whether this kernel populates: one page of a fresh mapping asked. */
static bool can_populate(void)
{
#ifdef MADV_POPULATE_WRITE
	long pg = sysconf(_SC_PAGESIZE);
	void *m = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bool ok;

	if (m == MAP_FAILED)
		return false;
	ok = madvise(m, (size_t)pg, MADV_POPULATE_WRITE) == 0;
	munmap(m, (size_t)pg);
	return ok;
#else
	return false;
#endif
}

bool populate_init(struct populate *p, uv_loop_t *loop)
{
	*p = (struct populate){ .loop = loop };
	if (!can_populate())
		return false;
	the = p;
	loop_thread = uv_thread_self();
	crdt_set_populate(populate_queue);
	return true;
}

void populate_stop(struct populate *p)
{
	if (the == p) {
		crdt_set_populate(NULL);
		the = NULL;
	}
}
