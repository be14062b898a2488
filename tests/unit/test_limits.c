/* [limits] applied to a remote record (gossip_limit_state): the client
 * door's rules, read against what the store already holds.  The per-bound
 * checks (gossip_limit_name, _element, _card, _instances) and the datagram
 * bound are tested through a cluster in test_gossip. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "crdt/hlc.h"
#include "gossip/limits.h"
#include "gossip/wire.h"
#include "state/store.h"

static const struct crdt_rid r1 = { { 1 } }, r2 = { { 2 } };

/* A set (@t), hash or register named @name in @w holding @n items
 * @items (register: the value @items[0]), written by @rid. */
static void record(struct wire_state *w, const char *name, enum crdt_type t,
		   const struct crdt_rid *rid, const char *const *items, size_t n)
{
	struct crdt_hlc h;

	crdt_hlc_init(&h, NULL, NULL);
	*w = (struct wire_state){ .name = (const uint8_t *)name, .name_len = strlen(name) };
	assert_int_equal(crdt_obj_new(t, &w->obj), 0);
	for (size_t i = 0; i < n; i++) {
		const char *x = items[i];
		switch (t) {
		case CRDT_GSET: assert_true(crdt_gset_add(w->obj.gs, x, strlen(x)) >= 0); break;
		case CRDT_ORSET: assert_int_equal(crdt_orset_add(w->obj.os, rid, x, strlen(x)), 0); break;
		case CRDT_ORMAP:
			assert_int_equal(crdt_ormap_set(w->obj.om, &h, rid, x, strlen(x), "v", 1, NULL), 0);
			break;
		case CRDT_LWWREG:
			assert_int_equal(crdt_lwwreg_set(w->obj.lww, &h, rid, x, strlen(x)), 0);
			break;
		default: fail();
		}
	}
}

/* The store's own copy of @w, merged in as if it had arrived before. */
static void hold(struct store *s, struct wire_state *w)
{
	assert_int_equal(store_merge(s, w->name, w->name_len, &w->obj), 0);
	crdt_obj_done(&w->obj);
}

/* What counts against max_elements and max_hash_fields is the elements the
 * store's instance lacks: an element both hold counts once. */
static void test_only_what_is_new_counts(void **state)
{
	struct gossip_limits lim = { .max_elements = 4, .max_fields = 3 };
	struct store s;
	struct wire_state w;
	char why[200] = "";

	store_init(&s);
	record(&w, "s", CRDT_ORSET, &r1, (const char *const[]){ "a", "b", "c" }, 3);
	hold(&s, &w);
	/* c is held: 3 + 1 */
	record(&w, "s", CRDT_ORSET, &r2, (const char *const[]){ "c", "d" }, 2);
	assert_int_equal(gossip_limit_state(&lim, &s, &w, why, sizeof(why)), 0);
	crdt_obj_done(&w.obj);
	/* 3 + 2 */
	record(&w, "s", CRDT_ORSET, &r2, (const char *const[]){ "d", "e" }, 2);
	assert_int_equal(gossip_limit_state(&lim, &s, &w, why, sizeof(why)), -EMSGSIZE);
	assert_string_equal(why, "set would pass max_elements (4)");
	crdt_obj_done(&w.obj);
	/* another name starts from nothing */
	record(&w, "t", CRDT_ORSET, &r2, (const char *const[]){ "d", "e", "f", "g" }, 4);
	assert_int_equal(gossip_limit_state(&lim, &s, &w, why, sizeof(why)), 0);
	crdt_obj_done(&w.obj);

	record(&w, "h", CRDT_ORMAP, &r1, (const char *const[]){ "f1", "f2" }, 2);
	hold(&s, &w);
	record(&w, "h", CRDT_ORMAP, &r2, (const char *const[]){ "f2", "f3" }, 2);
	assert_int_equal(gossip_limit_state(&lim, &s, &w, why, sizeof(why)), 0);
	crdt_obj_done(&w.obj);
	record(&w, "h", CRDT_ORMAP, &r2, (const char *const[]){ "f3", "f4" }, 2);
	assert_int_equal(gossip_limit_state(&lim, &s, &w, why, sizeof(why)), -EMSGSIZE);
	assert_string_equal(why, "hash would pass max_hash_fields (3)");
	crdt_obj_done(&w.obj);
	store_done(&s);
}

/* A new name past max_instances is refused; a name the store holds is
 * not, however full the store. */
static void test_instances_count_new_names_only(void **state)
{
	struct gossip_limits lim = { .max_instances = 2 };
	struct store s;
	struct wire_state w;
	char why[200] = "";

	store_init(&s);
	record(&w, "a", CRDT_LWWREG, &r1, (const char *const[]){ "1" }, 1);
	hold(&s, &w);
	record(&w, "b", CRDT_GSET, &r1, (const char *const[]){ "x" }, 1);
	assert_int_equal(gossip_limit_state(&lim, &s, &w, why, sizeof(why)), 0);
	hold(&s, &w);
	record(&w, "c", CRDT_GSET, &r1, (const char *const[]){ "x" }, 1);
	assert_int_equal(gossip_limit_state(&lim, &s, &w, why, sizeof(why)), -EMSGSIZE);
	assert_non_null(strstr(why, "max_instances"));
	crdt_obj_done(&w.obj);
	record(&w, "a", CRDT_LWWREG, &r2, (const char *const[]){ "2" }, 1);
	assert_int_equal(gossip_limit_state(&lim, &s, &w, why, sizeof(why)), 0);
	crdt_obj_done(&w.obj);
	store_done(&s);
}

/* Byte bounds: the name, each element, a register's value. */
static void test_byte_bounds(void **state)
{
	struct gossip_limits lim = { .max_name = 4, .max_element = 3, .max_value = 5 };
	struct store s;
	struct wire_state w;
	char why[200] = "";

	store_init(&s);
	record(&w, "long-name", CRDT_LWWREG, &r1, (const char *const[]){ "v" }, 1);
	assert_int_equal(gossip_limit_state(&lim, &s, &w, why, sizeof(why)), -EMSGSIZE);
	assert_string_equal(why, "key longer than max_name_bytes (4)");
	crdt_obj_done(&w.obj);
	record(&w, "s", CRDT_ORSET, &r1, (const char *const[]){ "ok", "toolong", "ok2" }, 3);
	assert_int_equal(gossip_limit_state(&lim, &s, &w, why, sizeof(why)), -EMSGSIZE);
	assert_string_equal(why, "element longer than max_element_bytes (3)");
	crdt_obj_done(&w.obj);
	record(&w, "s", CRDT_GSET, &r1, (const char *const[]){ "ok", "ok2" }, 2);
	assert_int_equal(gossip_limit_state(&lim, &s, &w, why, sizeof(why)), 0);
	crdt_obj_done(&w.obj);
	record(&w, "r", CRDT_LWWREG, &r1, (const char *const[]){ "123456" }, 1);
	assert_int_equal(gossip_limit_state(&lim, &s, &w, why, sizeof(why)), -EMSGSIZE);
	assert_non_null(strstr(why, "max_value_bytes (5)"));
	crdt_obj_done(&w.obj);
	record(&w, "r", CRDT_LWWREG, &r1, (const char *const[]){ "12345" }, 1);
	assert_int_equal(gossip_limit_state(&lim, &s, &w, why, sizeof(why)), 0);
	crdt_obj_done(&w.obj);
	store_done(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_only_what_is_new_counts),
		cmocka_unit_test(test_instances_count_new_names_only),
		cmocka_unit_test(test_byte_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
