/* Files and /edges.json on the client port: see www.h. */
#include "edge/www.h"

#include <http_parser.h>
#include <string.h>

#include "common/assets.h"
#include "edge/edge.h"

/* The table the build generates from edge/www/ (common/assets_gen.sh). */
extern const struct asset_raw edge_www_files[];
extern const size_t edge_www_files_count;

/* Before the hub's first list: no edge is known to be ready. */
#define NO_EDGES "{\"edges\":[],\"generated_ms\":0}"

struct assets *www_files_new(void)
{
    return assets_new(edge_www_files, edge_www_files_count);
}

static int is_demo(const struct asset *f)
{
    return strncmp(f->name, "demo", 4) == 0;
}

void www_answer(struct worker *w, const struct handshake_request *r, struct buf *out,
                const char **why)
{
    const struct edge_config *cfg = w->cfg;
    int head = r->method == HTTP_HEAD;
    int edges = r->path_len == 11 && memcmp(r->path, "/edges.json", 11) == 0;
    const struct asset *f =
        assets_find(cfg->files, r->path, r->path_len, cfg->demo ? "demo.html" : NULL);
    if (f && is_demo(f) && !cfg->demo)
        f = NULL; /* as if it were not there: the demo is opt-in */
    if (!f && !edges) {
        *why = "not found";
        assets_respond_status(out, 404, "Not Found", "not found: WebSockets are served on /ws\n");
        return;
    }
    if (r->method != HTTP_GET && !head) {
        *why = "method not allowed";
        assets_respond_status(out, 405, "Method Not Allowed", "use GET or HEAD\n");
        return;
    }
    if (edges) {
        *why = "edges.json";
        if (buf_readable(&w->edges))
            assets_respond_json(out, (const char *)buf_head(&w->edges), buf_readable(&w->edges),
                                head);
        else
            assets_respond_json(out, NO_EDGES, sizeof NO_EDGES - 1, head);
        return;
    }
    int inm = r->if_none_match != NULL &&
              assets_etag_matches(r->if_none_match, strlen(r->if_none_match), f->etag);
    *why = inm ? "file not modified" : "file";
    assets_respond(out, f, head, inm, WWW_EDGE_CSP);
}
