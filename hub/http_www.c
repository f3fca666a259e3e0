/* The hub's files and /edges.json: see http_www.h. */
#include "hub/http_www.h"

#include <pthread.h>

#include "common/assets.h"
#include "common/httpd.h"
#include "hub/edges_doc.h"

/* The table the build generates from hub/www/ (common/assets_gen.sh). */
extern const struct asset_raw hub_www_files[];
extern const size_t hub_www_files_count;

static struct assets *files;
static pthread_once_t files_once = PTHREAD_ONCE_INIT;

/* Built at the first request and kept for the process's life (the bytes
 * live in the binary; the table is a few entries). */
static void build_files(void)
{
    files = assets_new(hub_www_files, hub_www_files_count);
}

int http_www_serve(struct hub *h, struct httpd_conn *c, const char *path, size_t len)
{
    pthread_once(&files_once, build_files);
    int edges = httpd_path_is(path, len, "/edges.json");
    const struct asset *f = edges ? NULL : assets_find(files, path, len, "index.html");
    if (!f && !edges)
        return 0;
    int method = c->req.parser.method;
    int head = method == HTTP_HEAD;
    struct buf out = BUF_INIT;
    int status = 200;
    if (method != HTTP_GET && !head) {
        status = 405;
        assets_respond_status(&out, 405, "Method Not Allowed", "use GET or HEAD\n");
    } else if (edges) {
        struct buf doc = BUF_INIT;
        edges_doc_build(h, &doc);
        assets_respond_json(&out, (const char *)buf_head(&doc), buf_readable(&doc), head);
        buf_deinit(&doc);
    } else {
        const struct httpreq_hdr *inm = &c->req.hdr[HTTPREQ_H_IF_NONE_MATCH];
        int not_modified =
            inm->seen && assets_etag_matches(c->req.buf + inm->off, inm->len, f->etag);
        status = not_modified ? 304 : 200;
        assets_respond(&out, f, head, not_modified, HTTP_WWW_CSP);
    }
    httpd_respond_raw(c, status, buf_head(&out), buf_readable(&out));
    buf_deinit(&out);
    return 1;
}
