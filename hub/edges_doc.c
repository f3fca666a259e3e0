/* /edges.json, built and pushed to the edges: see edges_doc.h. */
#include "hub/edges_doc.h"

#include <jansson.h>
#include <string.h>

#include "common/link.h"
#include "common/log.h"
#include "hub/cluster.h"
#include "hub/edge_link.h"
#include "hub/edge_link_internal.h"
#include "hub/http_edges.h"
#include "hub/hub.h"

#define PUSH_PERIOD_S 1.0

static void add_link(const struct edge_link_info *i, void *ud)
{
    http_edges_add(ud, i);
}

/* The "edges" array, as JSON text. The entries go in whole or not at all:
 * past EDGES_DOC_MAX or the size bound the rest is left out (and said). */
static void build_list(struct hub *h, struct buf *out)
{
    struct http_edges es;
    http_edges_init(&es);
    edge_link_foreach_open(h, add_link, &es);
    if (h->cluster)
        cluster_merge_edges(h->cluster, &es);
    size_t listed = 0, left_out = 0;
    buf_append_u8(out, '[');
    for (size_t n = 0; n < es.n; n++) {
        const struct http_edge *e = &es.v[n];
        if (e->draining || !e->public_url[0])
            continue;
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(e->name));
        json_object_set_new(o, "region", json_string(e->region));
        json_object_set_new(o, "url", json_string(e->public_url));
        json_int_t clients = e->counters[HTTP_EDGE_CLIENTS] > INT64_MAX
                                 ? INT64_MAX
                                 : (json_int_t)e->counters[HTTP_EDGE_CLIENTS];
        json_object_set_new(o, "clients", json_integer(clients));
        char *text = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        /* Room for the comma, the closing bracket and the document's frame. */
        if (!text || listed == EDGES_DOC_MAX ||
            buf_readable(out) + strlen(text) + 64 > LINK_MAX_EDGES_JSON) {
            left_out++;
        } else {
            if (listed++)
                buf_append_u8(out, ',');
            buf_append_str(out, text);
        }
        free(text);
    }
    buf_append_u8(out, ']');
    http_edges_deinit(&es);
    if (left_out)
        log_warn("/edges.json: %zu ready edges left out (at most %d, %u bytes)", left_out,
                 EDGES_DOC_MAX, LINK_MAX_EDGES_JSON);
}

static uint64_t now_ms(struct hub *h)
{
    return (uint64_t)(ev_now(h->loop) * 1000.0);
}

static void frame(struct buf *out, const struct buf *list, uint64_t ms)
{
    buf_append_str(out, "{\"edges\":");
    buf_append(out, buf_head(list), buf_readable(list));
    buf_printf(out, ",\"generated_ms\":%llu}", (unsigned long long)ms);
}

void edges_doc_build(struct hub *h, struct buf *out)
{
    struct buf list = BUF_INIT;
    build_list(h, &list);
    frame(out, &list, now_ms(h));
    buf_deinit(&list);
}

/* Once a second: a list that changed (clients counts included) gets a new
 * generation; every open link that has not had this generation gets it,
 * which also serves links opened since. */
static void on_push(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct hub *h = t->data;
    struct buf list = BUF_INIT;
    build_list(h, &list);
    if (h->edges_gen == 0 || buf_readable(&list) != buf_readable(&h->edges_list) ||
        memcmp(buf_head(&list), buf_head(&h->edges_list), buf_readable(&list)) != 0) {
        buf_reset(&h->edges_list);
        buf_append(&h->edges_list, buf_head(&list), buf_readable(&list));
        buf_reset(&h->edges_doc);
        frame(&h->edges_doc, &list, now_ms(h));
        h->edges_gen++;
    }
    buf_deinit(&list);
    struct link_msg m = {.type = LINK_EDGES};
    m.data.ptr = (const char *)buf_head(&h->edges_doc);
    m.data.len = (uint32_t)buf_readable(&h->edges_doc);
    for (struct edge_link *l = h->links; l; l = l->next) {
        if (l->state != EDGE_LINK_OPEN || l->edges_gen_sent == h->edges_gen)
            continue;
        if (edge_link__send(l, &m) == 0)
            l->edges_gen_sent = h->edges_gen;
    }
}

void edges_doc_start(struct hub *h)
{
    buf_init(&h->edges_list);
    buf_init(&h->edges_doc);
    h->edges_gen = 0;
    ev_timer_init(&h->edges_push, on_push, PUSH_PERIOD_S, PUSH_PERIOD_S);
    h->edges_push.data = h;
    ev_timer_start(h->loop, &h->edges_push);
}

void edges_doc_stop(struct hub *h)
{
    ev_timer_stop(h->loop, &h->edges_push);
    buf_deinit(&h->edges_list);
    buf_deinit(&h->edges_doc);
}
