/* The HTML status page: tables of a snapshot, escaped, with inline CSS. */
#include "http/status.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void put(struct crdt_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct crdt_buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		crdt_buf_put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Text into HTML: the five special characters as entities, control bytes
 * as '?'. */
static void esc(struct crdt_buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': put(b, "&lt;"); break;
		case '>': put(b, "&gt;"); break;
		case '&': put(b, "&amp;"); break;
		case '"': put(b, "&quot;"); break;
		case '\'': put(b, "&#39;"); break;
		default:
			crdt_buf_put(b, (unsigned char)*s < 0x20 ? "?" : s, 1);
		}
	}
}

static void td(struct crdt_buf *b, const char *text)
{
	put(b, "<td>");
	esc(b, text);
	put(b, "</td>");
}

static void peer_row(struct crdt_buf *b, const struct snapshot_peer *sp)
{
	const struct gossip_peer_info *p = &sp->info;
	bool up = p->seen && !p->down;
	char t[64];

	put(b, "<tr class=\"%s\" data-peer=\"", up ? "up" : "down");
	esc(b, sp->name);
	put(b, "\">");
	td(b, sp->name);
	td(b, sp->node[0] ? sp->node : "?");
	put(b, "<td class=\"st\">%s</td>", !p->seen ? "never seen" : up ? "up" : "down");
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
	put(b, "</tr>\n");
}

void status_render(const struct snapshot *s, struct crdt_buf *b)
{
	uint64_t up = s->uptime_ms / 1000;
	size_t nup = 0;

	for (size_t i = 0; i < s->npeers; i++)
		nup += s->peers[i].info.seen && !s->peers[i].info.down;
	put(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	       "<meta http-equiv=\"refresh\" content=\"5\"><title>crdtd ");
	esc(b, s->node);
	put(b, "</title>\n<style>body{font:14px sans-serif;margin:1.5em;color:#222}"
	       "table{border-collapse:collapse;margin-bottom:1.5em}"
	       "th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}"
	       "th{background:#eee}tr.down td.st{background:#f8d0d0}tr.up td.st{background:#d0f0d0}"
	       ".bad{color:#a00;font-weight:bold}.ok{color:#070;font-weight:bold}"
	       "pre{background:#f6f6f6;padding:6px}</style></head><body>\n<h1>crdtd ");
	esc(b, s->node);
	put(b, "</h1>\n<p>version ");
	esc(b, s->version);
	put(b, ", replica ");
	esc(b, s->replica_id);
	put(b, ", up %" PRIu64 "d %02" PRIu64 ":%02" PRIu64 ":%02" PRIu64
	       ", gossip every %" PRIu64 " ms. Health: ",
	    up / 86400, up / 3600 % 24, up / 60 % 60, up % 60, s->gossip_interval_ms);
	if (s->unhealthy) {
		put(b, "<span class=\"bad\" id=\"health\">");
		esc(b, s->unhealthy);
		put(b, "</span>");
	} else {
		put(b, "<span class=\"ok\" id=\"health\">ok</span>");
	}
	put(b, "</p>\n<h2>Peers (%zu of %zu up)</h2>\n<table id=\"peers\"><tr><th>peer</th>"
	       "<th>node</th><th>state</th><th>last seen</th><th>RTT</th><th>clock offset</th>"
	       "<th>datagrams in / out</th><th>dropped</th></tr>\n",
	    nup, s->npeers);
	for (size_t i = 0; i < s->npeers; i++)
		peer_row(b, &s->peers[i]);
	put(b, "</table>\n<h2>Instances</h2>\n<table id=\"types\"><tr><th>type</th>"
	       "<th>instances</th><th>elements</th></tr>\n");
	for (size_t i = 0; i < s->ntypes; i++)
		put(b, "<tr><td>%s</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td></tr>\n",
		    s->types[i].name, s->types[i].instances, s->types[i].elements);
	put(b, "</table>\n<h2>Largest instances</h2>\n<table id=\"largest\"><tr><th>name</th>"
	       "<th>type</th><th>elements</th><th>stored bytes</th></tr>\n");
	for (size_t i = 0; i < s->nlargest; i++) {
		const struct snapshot_instance *in = &s->largest[i];
		put(b, "<tr>");
		td(b, in->name);
		td(b, in->type);
		put(b, "<td>%" PRIu64 "</td><td>%" PRIu64 "</td></tr>\n", in->elements,
		    in->stored_bytes);
	}
	put(b, "</table>\n<h2>Recent warnings</h2>\n");
	if (!s->nwarnings)
		put(b, "<p id=\"warnings\">none</p>\n");
	else {
		put(b, "<pre id=\"warnings\">");
		for (size_t i = 0; i < s->nwarnings; i++) {
			esc(b, s->warnings[i]);
			put(b, "\n");
		}
		put(b, "</pre>\n");
	}
	put(b, "<p><a href=\"/metrics\">/metrics</a> &middot; <a href=\"/healthz\">/healthz</a>"
	       "</p>\n</body></html>\n");
}
