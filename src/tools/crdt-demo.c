/* crdt-demo: each libcrdt type on two replicas that diverge and merge, with
 * the JSON view before and after.  A tour of the library, not a test. */
#include <stdio.h>
#include <stdlib.h>

#include "crdt/json.h"
#include "crdt/obj.h"

static void show(const char *label, const struct crdt_obj *o)
{
	cJSON *j = crdt_obj_to_json(o);
	char *s = j ? cJSON_PrintUnformatted(j) : NULL;
	printf("  %-22s %s\n", label, s ? s : "(out of memory)");
	cJSON_free(s);
	cJSON_Delete(j);
}

/* Merge both ways and show that the replicas agree. */
static int converge(struct crdt_obj *a, struct crdt_obj *b)
{
	struct crdt_obj a0;
	if (crdt_obj_copy(a, &a0) < 0 || crdt_obj_merge(a, b) < 0 || crdt_obj_merge(b, &a0) < 0)
		return -1;
	crdt_obj_done(&a0);
	show("after merge:", a);
	printf("  replicas equal:        %s\n\n", crdt_obj_equal(a, b) ? "yes" : "NO");
	return crdt_obj_equal(a, b) ? 0 : -1;
}

int main(void)
{
	struct crdt_rid ra, rb;
	struct crdt_hlc ha, hb;
	struct crdt_obj a, b;
	int bad = 0;

	crdt_rid_generate(&ra);
	crdt_rid_generate(&rb);
	crdt_hlc_init(&ha, NULL, NULL);
	crdt_hlc_init(&hb, NULL, NULL);

	printf("G-Counter: replica A counts 3, replica B counts 4\n");
	crdt_obj_new(CRDT_GCOUNTER, &a);
	crdt_obj_new(CRDT_GCOUNTER, &b);
	crdt_gcounter_inc(a.gc, &ra, 3);
	crdt_gcounter_inc(b.gc, &rb, 4);
	show("A:", &a);
	show("B:", &b);
	bad |= converge(&a, &b);
	crdt_obj_done(&a);
	crdt_obj_done(&b);

	printf("PN-Counter: A adds 10, B subtracts 3\n");
	crdt_obj_new(CRDT_PNCOUNTER, &a);
	crdt_obj_new(CRDT_PNCOUNTER, &b);
	crdt_pncounter_inc(a.pn, &ra, 10);
	crdt_pncounter_dec(b.pn, &rb, 3);
	show("A:", &a);
	show("B:", &b);
	bad |= converge(&a, &b);
	crdt_obj_done(&a);
	crdt_obj_done(&b);

	printf("G-Set: A adds apple, B adds pear\n");
	crdt_obj_new(CRDT_GSET, &a);
	crdt_obj_new(CRDT_GSET, &b);
	crdt_gset_add(a.gs, "apple", 5);
	crdt_gset_add(b.gs, "pear", 4);
	show("A:", &a);
	show("B:", &b);
	bad |= converge(&a, &b);
	crdt_obj_done(&a);
	crdt_obj_done(&b);

	printf("OR-Set: both add laptop; A removes it while B adds it again (add wins)\n");
	crdt_obj_new(CRDT_ORSET, &a);
	crdt_obj_new(CRDT_ORSET, &b);
	crdt_orset_add(a.os, &ra, "laptop", 6);
	crdt_orset_add(a.os, &ra, "mouse", 5);
	crdt_obj_merge(&b, &a);
	crdt_orset_remove(a.os, "laptop", 6);
	crdt_orset_remove(a.os, "mouse", 5);
	crdt_orset_add(b.os, &rb, "laptop", 6);
	show("A:", &a);
	show("B:", &b);
	bad |= converge(&a, &b);
	crdt_obj_done(&a);
	crdt_obj_done(&b);

	printf("LWW-Register: A writes red, then B writes blue\n");
	crdt_obj_new(CRDT_LWWREG, &a);
	crdt_obj_new(CRDT_LWWREG, &b);
	crdt_lwwreg_set(a.lww, &ha, &ra, "red", 3);
	crdt_obj_merge(&b, &a);
	crdt_lwwreg_set(b.lww, &hb, &rb, "blue", 4);
	show("A:", &a);
	show("B:", &b);
	bad |= converge(&a, &b);
	crdt_obj_done(&a);
	crdt_obj_done(&b);

	return bad ? 1 : 0;
}
