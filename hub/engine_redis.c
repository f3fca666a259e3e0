/* The redis engine as the hub sees it (engine.h): making and freeing it,
 * its shards' connections, publishes, history reads, listings, readiness
 * and figures (see engine_redis.h for the design). Over
 * engine_redis_topic.c (interest) and engine_redis_call.c (calls, their
 * order, scripts). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/container.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/xalloc.h"
#include "hub/engine_redis.h"
#include "hub/engine_redis_call.h"
#include "hub/engine_redis_topic.h"

static struct redis_engine *re_of(struct engine *e)
{
    return container_of(e, struct redis_engine, base);
}

/* ---- publish ------------------------------------------------------------------------ */

static void publish_reply(struct rop *op, const redisReply *r);
static void read_reply(struct rop *op, const redisReply *r);

static void re_publish(struct engine *e, const struct engine_pub *p, engine_pos_cb cb, void *ctx)
{
    struct redis_engine *re = re_of(e);
    struct rshard *sh = redis__shard_of(re, p->topic);
    struct rtopic *rt = redis__topic_make(sh, p->topic);
    rt->pins++; /* a failure at once completes the call inside this one */
    struct rop *op = redis__op_new(sh, rt, ROP_PUBLISH, ctx, cb != NULL);
    op->pos_cb = cb;
    op->on_reply = publish_reply;
    op->script = REDIS_SCRIPT_PUBLISH;
    op->t0_ns = clock_mono_ns();
    sh->st.publishes++;
    struct history_bounds b = redis__bounds(re, p->topic);
    char epoch[HUB_EPOCH_LEN + 1];
    epoch_mint(&re->epochs, epoch);
    /* A publish with an origin is recognised if it was ordered before,
     * by any hub, on this shard (the only one its topic lives on). */
    const struct engine_origin *o = &p->origin;
    int dedup = o->pub_id != 0 && o->name.len != 0;
    redis__put_topic(op, p->topic);
    redis__arg(op, dedup ? "3" : "2", 1);
    redis__arg_key(op, 'm', p->topic);
    redis__arg_key(op, 'h', p->topic);
    if (dedup)
        redis__arg_pub_key(op, p->topic, o);
    redis__arg_key(op, 'c', p->topic);
    redis__arg(op, epoch, HUB_EPOCH_LEN);
    redis__arg_u64(op, b.max_count);
    redis__arg_u64(op, b.max_count ? b.max_age_ms : 0);
    redis__arg_u64(op, redis__meta_ttl(re, b));
    redis__arg(op, p->from.ptr, p->from.len);
    redis__arg(op, p->user.ptr, p->user.len);
    redis__arg_u64(op, p->enc);
    redis__arg(op, p->data.ptr, p->data.len);
    if (dedup)
        redis__arg_u64(op, o->keep_ms ? o->keep_ms : 1);
    int deferred = redis__topic_defers(rt, op);
    if (!cb)
        op->rt = NULL; /* nothing of it waits on the topic: the record may go */
    if (!deferred)
        redis__send(op);
    rt->pins--;
    redis__topic_release(rt);
}

static void publish_reply(struct rop *op, const redisReply *r)
{
    struct rshard *sh = op->sh;
    struct redis_engine *re = sh->re;
    struct link_str epoch;
    uint64_t seq;
    int repeated = 0;
    if (!r) {
        /* Sent, and the connection went before the answer: Redis may have
         * run it (a frozen Redis runs what it holds once thawed). */
        if (!re->freeing)
            sh->st.unavailable++;
        redis__op_done(op, re->freeing ? ENGINE_GONE : ENGINE_UNKNOWN);
        return;
    }
    if (r->type == REDIS_REPLY_ERROR || redis_wire_publish_reply(r, &epoch, &seq, &repeated) < 0) {
        struct link_str t = redis__op_topic(op);
        sh->st.publish_errors++;
        redis__warn(re, "redis %s: a publish on %.*s failed: %.*s", sh->addr.label, (int)t.len,
                    t.ptr, r->type == REDIS_REPLY_ERROR ? (int)r->len : 14,
                    r->type == REDIS_REPLY_ERROR ? r->str : "a bad answer");
        sh->st.unavailable++;
        redis__op_done(op, ENGINE_UNAVAILABLE);
        return;
    }
    op->pos.seq = seq;
    memcpy(op->pos.epoch, epoch.ptr, epoch.len);
    op->pos.epoch[epoch.len] = '\0';
    double us = (double)(clock_mono_ns() - op->t0_ns) / 1000.0;
    size_t k = 0;
    while (k < REDIS_LAT_BUCKETS && us > redis_lat_bounds_us[k])
        k++;
    sh->st.lat_hist[k]++;
    sh->st.lat_sum_us += us;
    if (repeated)
        sh->st.repeated++;
    redis__op_done(op, repeated ? ENGINE_REPEATED : ENGINE_OK);
}

/* ---- history reads ------------------------------------------------------------------ */

/* The command for op's next page (the first: from since). */
static void read_args(struct rop *op)
{
    struct redis_engine *re = op->sh->re;
    /* A copy: the topic lives in op->args, which grows below. */
    char name[LINK_MAX_TOPIC];
    struct link_str topic = redis__op_topic(op);
    memcpy(name, topic.ptr, topic.len);
    topic.ptr = name;
    struct history_bounds b = redis__bounds(re, topic);
    redis__args_reset(op);
    redis__arg(op, "2", 1);
    redis__arg_key(op, 'm', topic);
    redis__arg_key(op, 'h', topic);
    redis__arg(op, "", 0); /* a read makes no state */
    redis__arg(op, "0", 1);
    if (!op->pages) {
        const char *e = op->has_since ? op->since.epoch : "";
        redis__arg(op, e, strlen(e));
        redis__arg_u64(op, op->has_since ? op->since.seq : 0);
    } else {
        redis__arg(op, op->pos.epoch, strlen(op->pos.epoch));
        redis__arg_u64(op, op->next_seq - 1);
    }
    redis__arg_u64(op, REDIS_READ_PAGE);
    redis__arg_u64(op, b.max_count ? b.max_age_ms : 0);
    redis__arg(op, "0", 1);
}

static void read_page(struct rop *op)
{
    read_args(op);
    redis__send(op);
}

static void re_history_read(struct engine *e, struct link_str topic, const struct engine_pos *since,
                            engine_read_cb cb, void *ctx)
{
    struct redis_engine *re = re_of(e);
    struct rshard *sh = redis__shard_of(re, topic);
    struct rtopic *rt = redis__topic_make(sh, topic);
    rt->pins++;
    struct rop *op = redis__op_new(sh, rt, ROP_READ, ctx, 1);
    op->read_cb = cb;
    op->on_reply = read_reply;
    op->script = REDIS_SCRIPT_READ;
    redis__put_topic(op, topic);
    if (since) {
        op->has_since = 1;
        op->since = *since;
    }
    if (!redis__cmd_is_up(sh))
        redis__fail(op);
    else {
        read_args(op);
        if (!redis__topic_defers(rt, op))
            redis__send(op);
    }
    rt->pins--;
    redis__topic_release(rt);
}

/* Ends a read without messages: why, and first_seq. */
static void read_ends(struct rop *op, enum engine_recovery why, uint64_t first_seq)
{
    op->nm = 0;
    buf_reset(&op->msgs);
    op->why = why;
    op->first_seq = first_seq;
    redis__op_done(op, ENGINE_OK);
}

/* Appends one replayed message (its strings as offsets into msgs). Returns
 * 0, or -1 past max_read_bytes. */
static int read_keep(struct rop *op, const struct redis_wire_msg *w)
{
    size_t max = op->sh->re->max_read_bytes;
    if (max && buf_readable(&op->msgs) + w->from.len + w->user.len + w->data.len > max)
        return -1;
    if (op->nm == op->cap) {
        op->cap = op->cap ? op->cap * 2 : 16;
        op->m = xrealloc(op->m, op->cap * sizeof *op->m);
    }
    struct engine_msg *m = &op->m[op->nm++];
    memset(m, 0, sizeof *m);
    m->seq = w->seq;
    m->enc = w->enc;
    const struct link_str *src[] = {&w->from, &w->user, &w->data};
    struct link_str *dst[] = {&m->from, &m->user, &m->data};
    for (int i = 0; i < 3; i++) {
        dst[i]->ptr = (const char *)(uintptr_t)buf_readable(&op->msgs);
        dst[i]->len = src[i]->len;
        if (src[i]->len)
            buf_append(&op->msgs, src[i]->ptr, src[i]->len);
    }
    return 0;
}

static void read_reply(struct rop *op, const redisReply *r)
{
    struct rshard *sh = op->sh;
    struct redis_wire_read rd;
    if (!r) {
        redis__fail(op);
        return;
    }
    if (r->type == REDIS_REPLY_ERROR || redis_wire_read_reply(r, &rd) < 0) {
        redis__warn(sh->re, "redis %s: a history read failed: %.*s", sh->addr.label,
                    r->type == REDIS_REPLY_ERROR ? (int)r->len : 14,
                    r->type == REDIS_REPLY_ERROR ? r->str : "a bad answer");
        sh->st.unavailable++;
        redis__op_done(op, ENGINE_UNAVAILABLE);
        return;
    }
    if (op->pages++ == 0) {
        op->pos.seq = rd.seq;
        memcpy(op->pos.epoch, rd.epoch.ptr, rd.epoch.len);
        op->pos.epoch[rd.epoch.len] = '\0';
        enum engine_recovery why = ENGINE_RECOVERED;
        if (!rd.epoch.len)
            why = ENGINE_NO_TOPIC;
        else if (!op->has_since)
            why = ENGINE_NO_SINCE;
        else if (strcmp(op->since.epoch, op->pos.epoch) != 0)
            why = ENGINE_OTHER_EPOCH;
        else if (op->since.seq > rd.seq)
            why = ENGINE_AHEAD;
        else if (op->since.seq + 1 < rd.first)
            why = ENGINE_TOO_OLD;
        if (why != ENGINE_RECOVERED) {
            read_ends(op, why, why == ENGINE_NO_TOPIC ? 0 : rd.first);
            return;
        }
        op->why = ENGINE_RECOVERED;
        op->first_seq = rd.first;
        op->next_seq = op->since.seq + 1;
    } else if (rd.epoch.len != strlen(op->pos.epoch) ||
               memcmp(rd.epoch.ptr, op->pos.epoch, rd.epoch.len) != 0) {
        /* Redis lost the topic between two pages. */
        op->pos.seq = rd.seq;
        memcpy(op->pos.epoch, rd.epoch.ptr, rd.epoch.len);
        op->pos.epoch[rd.epoch.len] = '\0';
        read_ends(op, rd.epoch.len ? ENGINE_OTHER_EPOCH : ENGINE_NO_TOPIC, rd.first);
        return;
    }
    for (size_t i = 0; i < rd.entries->elements && op->next_seq <= op->pos.seq; i++) {
        struct redis_wire_msg w;
        if (redis_wire_decode_entry(rd.entries->element[i], &w) < 0) {
            sh->st.bad_messages++;
            redis__warn(sh->re, "redis %s: a history entry of %.*s is not one of ours",
                        sh->addr.label, (int)op->topic_len, (const char *)buf_head(&op->args));
            read_ends(op, ENGINE_TOO_OLD, op->pos.seq + 1);
            return;
        }
        if (w.seq != op->next_seq) {
            /* Trimmed between two pages (publishes kept coming). */
            read_ends(op, ENGINE_TOO_OLD, w.seq);
            return;
        }
        if (read_keep(op, &w) < 0) {
            redis__warn(sh->re,
                        "redis %s: a replay of %.*s from seq %llu passes %zu bytes: answered "
                        "as too old",
                        sh->addr.label, (int)op->topic_len, (const char *)buf_head(&op->args),
                        (unsigned long long)op->since.seq, sh->re->max_read_bytes);
            read_ends(op, ENGINE_TOO_OLD, op->pos.seq + 1);
            return;
        }
        op->next_seq++;
    }
    if (op->next_seq > op->pos.seq) {
        redis__op_done(op, ENGINE_OK);
        return;
    }
    if (rd.first > op->next_seq || !rd.entries->elements) {
        read_ends(op, ENGINE_TOO_OLD, rd.first);
        return;
    }
    read_page(op);
}

/* ---- listing, figures, rules -------------------------------------------------------- */

struct re_list {
    struct rtopic **t;
    size_t n, at;
    uint64_t now;
};

static int list_next(struct engine_list *l, struct engine_topic *out)
{
    struct re_list *rl = l->impl[0];
    if (rl->at >= rl->n)
        return 0;
    struct rtopic *t = rl->t[rl->at++];
    uint64_t span = rl->now > t->sample_ms ? rl->now - t->sample_ms : 1;
    uint64_t moved = t->last >= t->sample_seq ? t->last - t->sample_seq : 0;
    double rate = (double)moved * 1000.0 / (double)span;
    if (span >= 1000) {
        t->sample_seq = t->last;
        t->sample_ms = rl->now;
    }
    *out = (struct engine_topic){.topic = {t->name, t->len}, .rate = rate};
    out->pos.seq = t->last;
    memcpy(out->pos.epoch, t->epoch, sizeof out->pos.epoch);
    return 1;
}

/* The topics this hub is interested in, as they stand here (their
 * history's size is Redis's business). */
static void re_topics(struct engine *e, size_t max, engine_list_cb cb, void *ctx)
{
    struct redis_engine *re = re_of(e);
    struct re_list rl = {.now = redis__now_ms(re)};
    size_t cap = re->nwanted < max ? re->nwanted : max;
    rl.t = xmalloc((cap ? cap : 1) * sizeof *rl.t);
    for (size_t s = 0; s < re->nshards && rl.n < cap; s++) {
        struct dict_iter it;
        dict_iter_init(&it, &re->shards[s].topics);
        for (struct dict_entry *de; rl.n < cap && (de = dict_next(&it));) {
            struct rtopic *t = de->value;
            if (t->wanted && t->positioned)
                rl.t[rl.n++] = t;
        }
    }
    struct engine_list l = {.status = ENGINE_OK, .total = re->nwanted, .next = list_next};
    l.impl[0] = &rl;
    cb(ctx, &l);
    free(rl.t);
}

static void re_stats(struct engine *e, struct engine_stats *s)
{
    struct redis_engine *re = re_of(e);
    s->topics = re->nwanted;
    s->max_topics = re->max_topics;
}

static void re_set_rules(struct engine *e, struct history_rules *rules)
{
    struct redis_engine *re = re_of(e);
    history_rules_free(re->rules);
    re->rules = rules;
}

static int re_ready(struct engine *e, char *why, size_t len)
{
    struct redis_engine *re = re_of(e);
    for (size_t i = 0; i < re->nshards; i++) {
        struct rshard *sh = &re->shards[i];
        struct redis_conn *c = !redis_conn_is_up(sh->cmd)   ? sh->cmd
                               : !redis_conn_is_up(sh->sub) ? sh->sub
                                                            : NULL;
        if (c) {
            snprintf(why, len, "redis %s: %s connection down: %s", sh->addr.label,
                     c == sh->cmd ? "command" : "pub/sub",
                     *redis_conn_last_error(c) ? redis_conn_last_error(c) : "connecting");
            return 0;
        }
    }
    return 1;
}

static uint64_t conn_up(struct redis_conn *c)
{
    return (uint64_t)redis_conn_is_up(c);
}

static uint64_t conn_reconnects(struct redis_conn *c)
{
    const struct redis_conn_stats *st = redis_conn_stats(c);
    return st->connects ? st->connects - 1 : 0;
}

static uint64_t conn_failures(struct redis_conn *c)
{
    return redis_conn_stats(c)->failures;
}

static uint64_t conn_commands(struct redis_conn *c)
{
    return redis_conn_stats(c)->commands;
}

static uint64_t conn_error_replies(struct redis_conn *c)
{
    return redis_conn_stats(c)->error_replies;
}

/* The families with a line per shard and connection ... */
static const struct {
    const char *name, *type, *help;
    uint64_t (*get)(struct redis_conn *);
} conn_families[] = {
    {"spoke_hub_redis_up", "gauge", "1 while the connection to the Redis shard is up.", conn_up},
    {"spoke_hub_redis_reconnects_total", "counter",
     "Times the connection came up again after it was lost or could not be made.", conn_reconnects},
    {"spoke_hub_redis_connection_failures_total", "counter",
     "Connections lost, reset (no heartbeat, no answer) or that could not be made.", conn_failures},
    {"spoke_hub_redis_commands_total", "counter",
     "Commands sent to the shard (scripts, pings, heartbeats, subscriptions).", conn_commands},
    {"spoke_hub_redis_errors_total", "counter",
     "Error replies from the shard (a refused AUTH, NOSCRIPT, OOM, a script error).",
     conn_error_replies},
};

/* ... and those with a line per shard (counters of struct rshard_stats). */
static const struct {
    const char *name, *type, *help;
    size_t off;
} shard_families[] = {
    {"spoke_hub_redis_unavailable_total", "counter",
     "Calls answered unavailable (publishes 503 or 504, reads and interest not served): the "
     "shard was down or failed the command.",
     offsetof(struct rshard_stats, unavailable)},
    {"spoke_hub_redis_recovered_total", "counter",
     "Messages read back from a topic's stream after its live stream had a gap (a pub/sub "
     "connection lost), delivered as live.",
     offsetof(struct rshard_stats, recovered)},
    {"spoke_hub_redis_topic_moves_total", "counter",
     "Topics whose numbering moved under this hub's interest: a new epoch (Redis lost the "
     "state) or messages gone from the stream before they could be recovered.",
     offsetof(struct rshard_stats, moved)},
    {"spoke_hub_redis_publishes_repeated_total", "counter",
     "Publishes the shard recognised by their origin and pub_id as ordered before (an edge "
     "worker sent one again after its link broke, to this hub or another): answered with "
     "their first position, not ordered again.",
     offsetof(struct rshard_stats, repeated)},
    {"spoke_hub_redis_noscript_total", "counter",
     "Scripts Redis no longer had (SCRIPT FLUSH): sent again with EVAL.",
     offsetof(struct rshard_stats, noscript)},
    {"spoke_hub_redis_bad_messages_total", "counter",
     "Messages on a topic's channel or stream that are not in the engine's format (something "
     "else writes under redis_prefix).",
     offsetof(struct rshard_stats, bad_messages)},
};

static void re_metrics(struct engine *e, struct buf *b)
{
    struct redis_engine *re = re_of(e);
    static const char *const conns[] = {"command", "pubsub"};
    for (size_t f = 0; f < sizeof conn_families / sizeof conn_families[0]; f++) {
        metrics_family(b, conn_families[f].name, conn_families[f].type, conn_families[f].help);
        for (size_t i = 0; i < re->nshards; i++) {
            struct redis_conn *c[] = {re->shards[i].cmd, re->shards[i].sub};
            for (int k = 0; k < 2; k++)
                buf_printf(b, "%s{shard=\"%s\",conn=\"%s\"} %llu\n", conn_families[f].name,
                           re->shards[i].addr.label, conns[k],
                           (unsigned long long)conn_families[f].get(c[k]));
        }
    }
    for (size_t f = 0; f < sizeof shard_families / sizeof shard_families[0]; f++) {
        metrics_family(b, shard_families[f].name, shard_families[f].type, shard_families[f].help);
        for (size_t i = 0; i < re->nshards; i++) {
            uint64_t v;
            memcpy(&v, (const char *)&re->shards[i].st + shard_families[f].off, sizeof v);
            buf_printf(b, "%s{shard=\"%s\"} %llu\n", shard_families[f].name,
                       re->shards[i].addr.label, (unsigned long long)v);
        }
    }
    metrics_family(b, "spoke_hub_redis_subscriptions", "gauge",
                   "Topics this hub is interested in on the shard (a channel subscription each).");
    for (size_t i = 0; i < re->nshards; i++)
        buf_printf(b, "spoke_hub_redis_subscriptions{shard=\"%s\"} %zu\n", re->shards[i].addr.label,
                   re->shards[i].nwanted);
    metrics_family(b, "spoke_hub_redis_publish_seconds", "histogram",
                   "Time from a publish handed to the engine to its position from Redis.");
    for (size_t i = 0; i < re->nshards; i++) {
        struct rshard *sh = &re->shards[i];
        uint64_t cum = 0;
        for (size_t k = 0; k <= REDIS_LAT_BUCKETS; k++) {
            cum += sh->st.lat_hist[k];
            if (k < REDIS_LAT_BUCKETS)
                buf_printf(b,
                           "spoke_hub_redis_publish_seconds_bucket{shard=\"%s\",le=\"%g\"} %llu\n",
                           sh->addr.label, redis_lat_bounds_us[k] / 1e6, (unsigned long long)cum);
            else
                buf_printf(
                    b, "spoke_hub_redis_publish_seconds_bucket{shard=\"%s\",le=\"+Inf\"} %llu\n",
                    sh->addr.label, (unsigned long long)cum);
        }
        buf_printf(b, "spoke_hub_redis_publish_seconds_sum{shard=\"%s\"} %.9f\n", sh->addr.label,
                   sh->st.lat_sum_us / 1e6);
        buf_printf(b, "spoke_hub_redis_publish_seconds_count{shard=\"%s\"} %llu\n", sh->addr.label,
                   (unsigned long long)cum);
    }
}

/* ---- connections ------------------------------------------------------------------------ */

static void on_cmd_up(struct redis_conn *c, void *ud)
{
    struct rshard *sh = ud;
    sh->eval_mode = 0;
    sh->hold = 0;
    sh->sha_in_flight = 0;
    sh->loads_out = 0;
    redis__load_scripts(sh); /* first on the connection: every EVALSHA after finds them */
    redis__cmd_up(sh);
}

static void on_cmd_down(struct redis_conn *c, const char *why, void *ud)
{
    redis__calls_down(ud);
}

static void on_sub_up(struct redis_conn *c, void *ud)
{
    redis__sub_up(ud);
}

static void on_sub_down(struct redis_conn *c, const char *why, void *ud)
{
    redis__sub_down(ud);
}

static void on_push(struct redis_conn *c, const struct redis_push *p, void *ud)
{
    redis__on_push(ud, p);
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct redis_engine *re = w->data;
    re->tick_n++;
    for (size_t i = 0; i < re->nshards; i++)
        redis__topics_tick(&re->shards[i]);
}

/* ---- making and freeing ---------------------------------------------------------------- */

static void re_free(struct engine *e)
{
    struct redis_engine *re = re_of(e);
    re->freeing = 1;
    ev_timer_stop(re->loop, &re->tick);
    for (size_t i = 0; i < re->nshards; i++) {
        struct rshard *sh = &re->shards[i];
        redis_conn_free(sh->sub);
        sh->sub = NULL;
        redis_conn_free(sh->cmd); /* what was sent fails: ENGINE_GONE */
        sh->cmd = NULL;
        on_cmd_down(NULL, "shutting down", sh);
        redis__topics_free(sh); /* every callback, ENGINE_GONE */
        dict_deinit(&sh->topics, NULL);
    }
    redis_ring_deinit(&re->ring);
    history_rules_free(re->rules);
    free(re->shards);
    free(re->prefix);
    free(re->hb_channel);
    free(re->instance);
    free(re);
}

static const struct engine_ops redis_ops = {
    .publish = re_publish,
    .interest_add = redis__interest_add,
    .interest_remove = redis__interest_remove,
    .history_read = re_history_read,
    .topics = re_topics,
    .stats = re_stats,
    .set_rules = re_set_rules,
    .free = re_free,
    .ready = re_ready,
    .metrics = re_metrics,
};

static int prefix_ok(const char *p)
{
    size_t n = strlen(p);
    if (!n || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
              (p[i] >= '0' && p[i] <= '9') || strchr("._:-", p[i])))
            return 0;
    return 1;
}

struct engine *engine_redis_new(const struct engine_opts *o, char *err, size_t errlen)
{
    struct redis_addr addrs[REDIS_MAX_SHARDS];
    const char *prefix = o->redis_prefix && *o->redis_prefix ? o->redis_prefix : "spoke";
    int n = redis_addr_list_parse(o->redis, addrs, REDIS_MAX_SHARDS, err, errlen);
    if (n > 0 && !prefix_ok(prefix)) {
        snprintf(err, errlen, "redis_prefix '%s': 1 to 64 of A-Z a-z 0-9 . _ : -", prefix);
        n = -1;
    }
    for (int i = 0; i < n; i++)
        if (redis_addr_resolve(&addrs[i], err, errlen) < 0)
            n = -1;
    if (n < 0) {
        history_rules_free(o->rules);
        return NULL;
    }
    struct redis_engine *re = xcalloc(1, sizeof *re);
    re->base.ops = &redis_ops;
    re->loop = o->loop;
    re->rules = o->rules ? o->rules : history_rules_new();
    re->max_topics = o->max_topics;
    re->linger_ms = o->linger_ms;
    re->max_read_bytes = o->max_read_bytes;
    re->on_message = o->on_message;
    re->on_moved = o->on_moved;
    re->ud = o->ud;
    re->now_ms = o->now_ms;
    re->test_ud = o->test_ud;
    re->epochs.random = o->random;
    re->epochs.ud = o->test_ud;
    re->prefix = xstrdup(prefix);
    re->instance = xstrdup(o->instance && *o->instance ? o->instance : "hub");
    struct buf b = BUF_INIT;
    buf_printf(&b, "%s:hb:%s", re->prefix, re->instance);
    buf_append_u8(&b, 0);
    re->hb_channel = xstrdup((const char *)buf_head(&b));
    buf_reset(&b);
    buf_printf(&b, "spoke-hub:%s", re->instance);
    for (size_t i = 0; i < buf_readable(&b); i++)
        if (buf_head(&b)[i] <= ' ')
            buf_head(&b)[i] = '_'; /* CLIENT SETNAME takes no spaces */
    buf_append_u8(&b, 0);
    re->nshards = (size_t)n;
    re->shards = xcalloc(re->nshards, sizeof *re->shards);
    const char *labels[REDIS_MAX_SHARDS];
    for (size_t i = 0; i < re->nshards; i++) {
        struct rshard *sh = &re->shards[i];
        sh->re = re;
        sh->idx = (unsigned)i;
        sh->addr = addrs[i];
        dict_init(&sh->topics);
        labels[i] = sh->addr.label;
        struct redis_conn_opts co = {.loop = re->loop,
                                     .addr = &sh->addr,
                                     .kind = REDIS_CONN_COMMAND,
                                     .user = o->redis_user,
                                     .password = o->redis_password,
                                     .client_name = (const char *)buf_head(&b),
                                     .period_ms = o->redis_heartbeat_ms,
                                     .on_up = on_cmd_up,
                                     .on_down = on_cmd_down,
                                     .ud = sh};
        sh->cmd = redis_conn_new(&co);
        co.kind = REDIS_CONN_PUBSUB;
        co.heartbeat_channel = re->hb_channel;
        co.heartbeat_via = sh->cmd;
        co.on_up = on_sub_up;
        co.on_down = on_sub_down;
        co.on_push = on_push;
        sh->sub = redis_conn_new(&co);
    }
    buf_deinit(&b);
    redis_ring_init(&re->ring, labels, re->nshards);
    ev_timer_init(&re->tick, on_tick, 1.0, 1.0);
    re->tick.data = re;
    ev_timer_start(re->loop, &re->tick);
    log_info("redis engine: %zu shard%s, keys under %s:", re->nshards, re->nshards == 1 ? "" : "s",
             re->prefix);
    return &re->base;
}
