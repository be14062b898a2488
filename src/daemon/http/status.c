/* The HTML status page: tables of a snapshot, escaped, with inline CSS. */
#include "http/status.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Text into HTML: the five special characters as entities, control bytes
 * as '?'. */
static void esc(struct crdt_buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': crdt_buf_printf(b, "&lt;"); break;
		case '>': crdt_buf_printf(b, "&gt;"); break;
		case '&': crdt_buf_printf(b, "&amp;"); break;
		case '"': crdt_buf_printf(b, "&quot;"); break;
		case '\'': crdt_buf_printf(b, "&#39;"); break;
		default:
			crdt_buf_put(b, (unsigned char)*s < 0x20 ? "?" : s, 1);
		}
	}
}

static void td(struct crdt_buf *b, const char *text)
{
	crdt_buf_printf(b, "<td>");
	esc(b, text);
	crdt_buf_printf(b, "</td>");
}

static void peer_row(struct crdt_buf *b, const struct snapshot_peer *sp)
{
	const struct gossip_peer_info *p = &sp->info;
	bool up = p->seen && !p->down;
	char t[64];

	crdt_buf_printf(b, "<tr class=\"%s\" data-peer=\"", up ? "up" : "down");
	esc(b, sp->name);
	crdt_buf_printf(b, "\">");
	td(b, sp->name);
	td(b, sp->node[0] ? sp->node : "?");
	crdt_buf_printf(b, "<td class=\"st\">%s</td>",
			!p->seen ? "never seen" : up ? "up" : "down");
	if (p->seen)
		snprintf(t, sizeof(t), "%.1f s ago", (double)p->last_seen_ago_ms / 1000.0);
	else
		snprintf(t, sizeof(t), "-");
	td(b, t);
	if (p->has_rtt)
		snprintf(t, sizeof(t), "%.3f ms", (double)p->srtt_us / 1000.0);
	else
		snprintf(t, sizeof(t), "-");
	td(b, t);
	if (p->has_clock_offset)
		snprintf(t, sizeof(t), "%+" PRId64 " ms%s", p->clock_offset_ms,
			 p->clock_skewed ? " (skewed)" : "");
	else
		snprintf(t, sizeof(t), "-");
	td(b, t);
	snprintf(t, sizeof(t), "%" PRIu64 " / %" PRIu64, p->stats.dgrams_in, p->stats.dgrams_out);
	td(b, t);
	snprintf(t, sizeof(t), "%" PRIu64, p->stats.dropped_in);
	td(b, t);
	crdt_buf_printf(b, "</tr>\n");
}

void status_render(const struct snapshot *s, struct crdt_buf *b)
{
	uint64_t up = s->uptime_ms / 1000;
	size_t nup = 0;

	for (size_t i = 0; i < s->npeers; i++)
		nup += s->peers[i].info.seen && !s->peers[i].info.down;
	crdt_buf_printf(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
			"<meta http-equiv=\"refresh\" content=\"5\"><title>crdtd ");
	esc(b, s->node);
	crdt_buf_printf(b, "</title>\n<style>body{font:14px sans-serif;margin:1.5em;color:#222}"
			"table{border-collapse:collapse;margin-bottom:1.5em}"
			"th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}"
			"th{background:#eee}tr.down td.st{background:#f8d0d0}tr.up td.st{background:#d0f0d0}"
			".bad{color:#a00;font-weight:bold}.ok{color:#070;font-weight:bold}"
			"pre{background:#f6f6f6;padding:6px}</style></head><body>\n<h1>crdtd ");
	esc(b, s->node);
	crdt_buf_printf(b, "</h1>\n<p>version ");
	esc(b, s->version);
	crdt_buf_printf(b, ", replica ");
	esc(b, s->replica_id);
	crdt_buf_printf(b, ", up %" PRIu64 "d %02" PRIu64 ":%02" PRIu64 ":%02" PRIu64
			", gossip every %" PRIu64 " ms. Health: ",
			up / 86400, up / 3600 % 24, up / 60 % 60, up % 60, s->gossip_interval_ms);
	if (s->unhealthy) {
		crdt_buf_printf(b, "<span class=\"bad\" id=\"health\">");
		esc(b, s->unhealthy);
		crdt_buf_printf(b, "</span>");
	} else {
		crdt_buf_printf(b, "<span class=\"ok\" id=\"health\">ok</span>");
	}
	crdt_buf_printf(b, "</p>\n<h2>Peers (%zu of %zu up)</h2>\n"
			"<table id=\"peers\"><tr><th>peer</th>"
			"<th>node</th><th>state</th><th>last seen</th><th>RTT</th><th>clock offset</th>"
			"<th>datagrams in / out</th><th>dropped</th></tr>\n",
			nup, s->npeers);
	for (size_t i = 0; i < s->npeers; i++)
		peer_row(b, &s->peers[i]);
	crdt_buf_printf(b, "</table>\n<h2>Instances</h2>\n<table id=\"types\"><tr><th>type</th>"
			"<th>instances</th><th>elements</th></tr>\n");
	for (size_t i = 0; i < s->ntypes; i++)
		crdt_buf_printf(b, "<tr><td>%s</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td></tr>\n",
				s->types[i].name, s->types[i].instances, s->types[i].elements);
	crdt_buf_printf(b, "</table>\n<h2>Largest instances</h2>\n"
			"<table id=\"largest\"><tr><th>name</th>"
			"<th>type</th><th>elements</th><th>stored bytes</th></tr>\n");
	for (size_t i = 0; i < s->nlargest; i++) {
		const struct snapshot_instance *in = &s->largest[i];
		crdt_buf_printf(b, "<tr>");
		td(b, in->name);
		td(b, in->type);
		crdt_buf_printf(b, "<td>%" PRIu64 "</td><td>%" PRIu64 "</td></tr>\n", in->elements,
				in->stored_bytes);
	}
	crdt_buf_printf(b, "</table>\n<h2>Recent warnings</h2>\n");
	if (!s->nwarnings)
		crdt_buf_printf(b, "<p id=\"warnings\">none</p>\n");
	else {
		crdt_buf_printf(b, "<pre id=\"warnings\">");
		for (size_t i = 0; i < s->nwarnings; i++) {
			esc(b, s->warnings[i]);
			crdt_buf_printf(b, "\n");
		}
		crdt_buf_printf(b, "</pre>\n");
	}
	crdt_buf_printf(b, "<p><a href=\"/metrics\">/metrics</a> &middot; "
			"<a href=\"/healthz\">/healthz</a>"
			"</p>\n</body></html>\n");
}
