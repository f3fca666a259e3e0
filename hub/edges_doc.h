/* The public list of ready edges, /edges.json (docs/protocol.md, "The
 * /edges.json document"): the edges that are up (linked, not draining) and
 * have a public URL, across the cluster on a hub of one. The hub serves it
 * and pushes it (LINK_EDGES) to every edge worker when it changes, checked
 * once a second, so each edge serves a copy at most a second or so old. */
#ifndef SPOKE_HUB_EDGES_DOC_H
#define SPOKE_HUB_EDGES_DOC_H
#include "common/buf.h"

struct hub;

/* At most this many edges are listed (the document stays under
 * LINK_MAX_EDGES_JSON whatever their names and URLs). */
#define EDGES_DOC_MAX 256

/* Appends the document, as of now, to out. */
void edges_doc_build(struct hub *h, struct buf *out);

/* Starts and stops the once-a-second push. */
void edges_doc_start(struct hub *h);
void edges_doc_stop(struct hub *h);

#endif
