/* Lazy free (state/lazyfree.h). */
#include <stdbool.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "state/lazyfree.h"

struct job {
	uv_work_t req;
	struct lazyfree *lf;
	struct crdt_obj husk; /* a state's husk, or */
	void *mem;            /* a block (husk unused) */
	bool block;
};

void lazyfree_init(struct lazyfree *lf, uv_loop_t *loop)
{
	*lf = (struct lazyfree){ .loop = loop };
}

/* Free what @j holds (not @j). */
static void release(struct job *j)
{
	if (j->block)
		free(j->mem);
	else
		crdt_obj_done(&j->husk);
}

static void work_cb(uv_work_t *req)
{
	struct job *j = req->data;

	release(j);
#ifdef __GLIBC__
	/* The freed heap back to the OS here, not in the loop's next trim
	 * (main.c, trim_cb): returning what 1,000,000 hash fields held took
	 * that timer 26 ms of one loop pass, 5-7 ms here.  The loop takes
	 * the arena's lock meanwhile only when its thread cache runs dry.  A
	 * large block was unmapped by free itself. */
	if (!j->block)
		malloc_trim(0);
#endif
}

static void after_cb(uv_work_t *req, int status)
{
	struct job *j = req->data;

	(void)status; /* UV_ECANCELED is never asked for: every job runs */
	j->lf->pending--;
	j->lf->freed += !j->block;
	free(j);
}

/* Queue @j (taken), or free what it holds at once when it cannot be. */
static void put(struct lazyfree *lf, struct job *j)
{
	j->req.data = j;
	if (uv_queue_work(lf->loop, &j->req, work_cb, after_cb) == 0) {
		lf->pending++;
		return;
	}
	lf->freed += !j->block;
	release(j);
	free(j);
}

void lazyfree_put(void *ctx, struct crdt_obj *husk)
{
	struct lazyfree *lf = ctx;
	struct job *j = malloc(sizeof(*j));

	if (!j) {
		crdt_obj_done(husk);
		lf->freed++;
		return;
	}
	*j = (struct job){ .lf = lf, .husk = *husk };
	put(lf, j);
}

void lazyfree_put_mem(void *ctx, void *p)
{
	struct lazyfree *lf = ctx;
	struct job *j = malloc(sizeof(*j));

	if (!j) {
		free(p);
		return;
	}
	*j = (struct job){ .lf = lf, .mem = p, .block = true };
	put(lf, j);
}
