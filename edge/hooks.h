/* The edge worker's backend hooks (docs/hooks.md). */
#ifndef SPOKE_EDGE_HOOKS_H
#define SPOKE_EDGE_HOOKS_H

struct worker;

/* Called after w->hooks was replaced (the hub's LINK_HOOKS). */
void hooks_reconfigure(struct worker *w);

#endif
