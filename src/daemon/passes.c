/* The event loop's passes, measured and counted (passes.h). */
#include "passes.h"

#include <string.h>

const uint64_t passes_over_us[PASSES_NOVER] = { 1000, 10000, 100000 };
const char *const passes_part_names[PASSES_NPARTS] = { "commands", "gossip", "storage" };

void passes_init(struct passes *p)
{
	memset(p, 0, sizeof(*p));
}

bool passes_tick(struct passes *p, uint64_t now_ns, uint64_t idle_ns)
{
	uint64_t wall, idle, busy_us;
	bool log = false;

	if (!p->primed || now_ns < p->last_ns || idle_ns < p->last_idle_ns) {
		p->primed = true; /* the first tick, or clocks that went back */
		p->last_ns = now_ns;
		p->last_idle_ns = idle_ns;
		memset(p->part_ns, 0, sizeof(p->part_ns));
		return false;
	}
	wall = now_ns - p->last_ns;
	idle = idle_ns - p->last_idle_ns;
	busy_us = (wall > idle ? wall - idle : 0) / 1000;
	p->last.busy_us = busy_us;
	for (int k = 0; k < PASSES_NPARTS; k++) {
		p->last.part_us[k] = p->part_ns[k] / 1000;
		p->part_ns[k] = 0;
	}
	p->last_ns = now_ns;
	p->last_idle_ns = idle_ns;
	p->s.passes++;
	p->s.busy_us += busy_us;
	if (busy_us > p->s.longest.busy_us)
		p->s.longest = p->last;
	for (int i = 0; i < PASSES_NOVER && busy_us > passes_over_us[i]; i++)
		p->s.over[i]++;
	if (busy_us > PASSES_LOG_US) {
		log = !p->logged_ns || now_ns - p->logged_ns >= PASSES_LOG_EVERY_NS;
		if (log)
			p->logged_ns = now_ns;
		else
			p->unlogged++;
	}
	return log;
}

void passes_reset(struct passes *p)
{
	memset(&p->s, 0, sizeof(p->s));
}
