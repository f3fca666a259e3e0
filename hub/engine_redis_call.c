/* The redis engine's calls to Redis and their order: the shards' common
 * helpers, calls (struct rop) with their arguments, each topic's FIFO of
 * callbacks, the topic records that hold them, and scripts sent as EVALSHA
 * (or EVAL after NOSCRIPT, holding later ones back until those before are
 * answered). The bottom of the engine: it calls nothing above it, and
 * hands each reply to its call's own handler (engine_redis_call.h). */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "hub/engine_redis_call.h"

struct rshard *redis__shard_of(struct redis_engine *re, struct link_str topic)
{
    return &re->shards[re->nshards == 1 ? 0 : redis_ring_shard(&re->ring, topic.ptr, topic.len)];
}

uint64_t redis__now_ms(struct redis_engine *re)
{
    return re->now_ms ? re->now_ms(re->test_ud) : clock_mono_ms();
}

void redis__warn(struct redis_engine *re, const char *fmt, ...)
{
    double now = ev_now(re->loop);
    if (re->warned_at > 0 && now - re->warned_at < 5.0) {
        re->unwarned++;
        return;
    }
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (re->unwarned)
        log_warn("%s (and %llu more warnings since the last one)", line,
                 (unsigned long long)re->unwarned);
    else
        log_warn("%s", line);
    re->warned_at = now;
    re->unwarned = 0;
}

struct history_bounds redis__bounds(struct redis_engine *re, struct link_str topic)
{
    return history_rules_match(re->rules, topic.ptr, topic.len);
}

/* How long a topic's state outlives its last publish: for ever while its
 * history has no age bound (0), else the age (none kept: 0) plus the
 * linger, and at least REDIS_KEEP_MS. */
uint64_t redis__meta_ttl(struct redis_engine *re, struct history_bounds b)
{
    if (b.max_count && !b.max_age_ms)
        return 0;
    uint64_t ttl = (b.max_count ? b.max_age_ms : 0) + re->linger_ms;
    return ttl < REDIS_KEEP_MS ? REDIS_KEEP_MS : ttl;
}

/* ---- calls and their order ----------------------------------------------------- */

/* Puts op on its topic's FIFO: its callback waits for those before it. */
static void fifo_push(struct rop *op)
{
    struct rtopic *rt = op->rt;
    op->in_fifo = 1;
    if (rt->fifo_tail)
        rt->fifo_tail->next = op;
    else
        rt->fifo = op;
    rt->fifo_tail = op;
}

struct rop *redis__op_new(struct rshard *sh, struct rtopic *rt, enum rop_kind kind, void *ctx,
                          int has_cb)
{
    struct rop *op = xcalloc(1, sizeof *op);
    op->sh = sh;
    op->rt = rt;
    op->kind = kind;
    op->ctx = ctx;
    buf_init(&op->args);
    buf_init(&op->msgs);
    if (has_cb)
        fifo_push(op);
    return op;
}

static void op_free(struct rop *op)
{
    buf_deinit(&op->args);
    buf_deinit(&op->msgs);
    free(op->m);
    free(op);
}

static int read_next(struct engine_read *r, struct engine_msg *m)
{
    struct rop *op = r->impl[0];
    if (op->at >= op->nm)
        return 0;
    *m = op->m[op->at++];
    return 1;
}

struct link_str redis__op_topic(const struct rop *op)
{
    return (struct link_str){(const char *)buf_head(&op->args) + op->topic_off, op->topic_len};
}

/* The replayed messages' strings were appended to msgs as offsets; now
 * that it has stopped growing they become pointers. */
static void fix_msgs(struct rop *op)
{
    const char *base = (const char *)buf_head(&op->msgs);
    struct link_str topic = redis__op_topic(op);
    for (size_t i = 0; i < op->nm; i++) {
        struct engine_msg *m = &op->m[i];
        m->topic = topic;
        m->epoch = link_str_c(op->pos.epoch);
        m->from.ptr = base + (uintptr_t)m->from.ptr;
        m->user.ptr = base + (uintptr_t)m->user.ptr;
        m->data.ptr = base + (uintptr_t)m->data.ptr;
    }
}

/* Makes op's callback (its outcome, or ENGINE_GONE while freeing). */
static void complete(struct redis_engine *re, struct rop *op)
{
    int status = re->freeing ? ENGINE_GONE : op->status;
    switch (op->kind) {
    case ROP_INTEREST:
        /* Where the topic stands now, not when the add was answered: a
         * callback held behind an earlier call on the topic may come after
         * live messages, or a move (on_moved, which the hub ignores until
         * this answer), that the engine has delivered since. */
        if (status == ENGINE_OK && op->rt->wanted && op->rt->positioned) {
            op->pos.seq = op->rt->last;
            memcpy(op->pos.epoch, op->rt->epoch, sizeof op->pos.epoch);
        }
        /* fall through */
    case ROP_PUBLISH:
        if (op->pos_cb)
            op->pos_cb(op->ctx, status, status >= ENGINE_OK ? &op->pos : NULL);
        break;
    case ROP_READ: {
        if (status != ENGINE_OK) {
            op->nm = 0;
            memset(&op->pos, 0, sizeof op->pos);
            op->why = ENGINE_NO_TOPIC;
        }
        fix_msgs(op);
        struct engine_read r = {.status = status,
                                .pos = op->pos,
                                .why = op->why,
                                .first_seq = op->first_seq,
                                .next = read_next};
        r.impl[0] = op;
        op->read_cb(op->ctx, &r);
        break;
    }
    case ROP_SYNC:
    case ROP_TOUCH: break;
    }
}

/* Callbacks from rt's FIFO head while it is done. A callback may call
 * the engine again: calls on rt join the FIFO, and this loop (not a nested
 * one) completes them. While callbacks are suspended, rt waits on the
 * shard's due list instead. */
static void drain(struct rtopic *rt)
{
    struct rshard *sh = rt->sh;
    if (rt->draining)
        return;
    if (sh->suspended) {
        if (!rt->due) {
            rt->due = 1;
            rt->pins++;
            rt->due_next = sh->due;
            sh->due = rt;
        }
        return;
    }
    rt->draining = 1;
    rt->pins++;
    struct rop *op;
    while ((op = rt->fifo) && op->done) {
        rt->fifo = op->next;
        if (!rt->fifo)
            rt->fifo_tail = NULL;
        complete(sh->re, op);
        op_free(op);
    }
    rt->draining = 0;
    rt->pins--;
    redis__topic_release(rt);
}

void redis__suspend(struct rshard *sh)
{
    sh->suspended++;
}

void redis__resume(struct rshard *sh)
{
    if (--sh->suspended)
        return;
    struct rtopic *rt;
    while ((rt = sh->due)) {
        sh->due = rt->due_next;
        rt->due = 0;
        rt->due_next = NULL;
        rt->pins--;
        drain(rt);
    }
}

void redis__op_done(struct rop *op, int status)
{
    op->done = 1;
    op->status = status;
    if (!op->in_fifo) {
        op_free(op);
        return;
    }
    drain(op->rt);
}

/* ---- arguments ------------------------------------------------------------------ */

void redis__arg(struct rop *op, const void *p, size_t n)
{
    assert(op->argn < REDIS_MAX_ARGS);
    op->arg_off[op->argn] = (uint32_t)buf_readable(&op->args);
    op->arg_len[op->argn] = (uint32_t)n;
    op->argn++;
    if (n)
        buf_append(&op->args, p, n);
}

void redis__arg_u64(struct rop *op, uint64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%llu", (unsigned long long)v);
    redis__arg(op, num, (size_t)n);
}

/* The bytes appended to op->args since at are its next argument. */
static void arg_since(struct rop *op, size_t at)
{
    assert(op->argn < REDIS_MAX_ARGS);
    op->arg_off[op->argn] = (uint32_t)at;
    op->arg_len[op->argn] = (uint32_t)(buf_readable(&op->args) - at);
    op->argn++;
}

void redis__arg_key(struct rop *op, char kind, struct link_str topic)
{
    size_t at = buf_readable(&op->args);
    redis_wire_key(&op->args, op->sh->re->prefix, kind, topic);
    arg_since(op, at);
}

void redis__arg_pub_key(struct rop *op, struct link_str topic, const struct engine_origin *o)
{
    size_t at = buf_readable(&op->args);
    redis_wire_pub_key(&op->args, op->sh->re->prefix, topic, o->name, o->worker, o->boot,
                       o->pub_id);
    arg_since(op, at);
}

void redis__put_topic(struct rop *op, struct link_str topic)
{
    op->topic_off = 0;
    op->topic_len = topic.len;
    buf_append(&op->args, topic.ptr, topic.len);
}

void redis__args_reset(struct rop *op)
{
    op->args.len = op->args.off + op->topic_len;
    op->argn = 0;
}

/* ---- scripts -------------------------------------------------------------------- */

int redis__cmd_is_up(const struct rshard *sh)
{
    return sh->cmd && redis_conn_is_up(sh->cmd);
}

static void on_loaded(struct redis_conn *c, redisReply *r, void *privdata)
{
    struct rshard *sh = privdata;
    sh->loads_out--;
    if (r && r->type == REDIS_REPLY_ERROR) {
        redis__warn(sh->re, "redis %s: SCRIPT LOAD refused: %.*s", sh->addr.label, (int)r->len,
                    r->str);
        return;
    }
    if (r && !sh->loads_out)
        sh->eval_mode = 0;
}

void redis__load_scripts(struct rshard *sh)
{
    for (int i = 0; i < REDIS_SCRIPTS; i++) {
        const char *text = redis_script_text((enum redis_script)i);
        const char *argv[] = {"SCRIPT", "LOAD", text};
        size_t lens[] = {6, 4, strlen(text)};
        if (redis_conn_command(sh->cmd, on_loaded, sh, 3, argv, lens) == 0)
            sh->loads_out++;
    }
}

void redis__fail(struct rop *op)
{
    struct redis_engine *re = op->sh->re;
    if (op->kind == ROP_SYNC || op->kind == ROP_TOUCH) {
        op->on_reply(op, NULL);
        return;
    }
    if (!re->freeing)
        op->sh->st.unavailable++;
    redis__op_done(op, re->freeing ? ENGINE_GONE : ENGINE_UNAVAILABLE);
}

static void on_script_reply(struct redis_conn *c, redisReply *r, void *privdata);

static void send_now(struct rop *op, int eval)
{
    struct rshard *sh = op->sh;
    const char *argv[2 + REDIS_MAX_ARGS];
    size_t lens[2 + REDIS_MAX_ARGS];
    argv[0] = eval ? "EVAL" : "EVALSHA";
    argv[1] = eval ? redis_script_text(op->script) : redis_script_sha(op->script);
    lens[0] = strlen(argv[0]);
    lens[1] = strlen(argv[1]);
    const char *base = (const char *)buf_head(&op->args);
    for (uint32_t i = 0; i < op->argn; i++) {
        argv[2 + i] = base + op->arg_off[i];
        lens[2 + i] = op->arg_len[i];
    }
    if (!redis__cmd_is_up(sh) ||
        redis_conn_command(sh->cmd, on_script_reply, op, 2 + (int)op->argn, argv, lens) < 0) {
        redis__fail(op);
        return;
    }
    op->sent_sha = !eval;
    if (!eval)
        sh->sha_in_flight++;
}

void redis__send(struct rop *op)
{
    struct rshard *sh = op->sh;
    if (!redis__cmd_is_up(sh)) {
        redis__fail(op);
        return;
    }
    if (sh->held_ops || (sh->hold && sh->sha_in_flight)) {
        op->qnext = NULL;
        if (sh->held_ops_tail)
            sh->held_ops_tail->qnext = op;
        else
            sh->held_ops = op;
        sh->held_ops_tail = op;
        return;
    }
    send_now(op, sh->eval_mode);
}

/* Once no EVALSHA sent before the NOSCRIPT is unanswered, what waited
 * goes, in call order. */
static void release_hold(struct rshard *sh)
{
    if (!sh->hold || sh->sha_in_flight)
        return;
    sh->hold = 0;
    struct rop *op = sh->held_ops;
    sh->held_ops = sh->held_ops_tail = NULL;
    while (op) {
        struct rop *next = op->qnext;
        op->qnext = NULL;
        send_now(op, sh->eval_mode);
        op = next;
    }
}

static void on_script_reply(struct redis_conn *c, redisReply *r, void *privdata)
{
    struct rop *op = privdata;
    struct rshard *sh = op->sh;
    if (op->sent_sha) {
        op->sent_sha = 0;
        sh->sha_in_flight--;
    }
    if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0 &&
        !sh->re->freeing) {
        /* The script cache was flushed under us: this call again as EVAL,
         * and later ones wait until every EVALSHA already sent is answered
         * (those fail alike and are sent again in their order). */
        sh->st.noscript++;
        if (!sh->eval_mode) {
            redis__warn(sh->re,
                        "redis %s: NOSCRIPT: the script cache was flushed; sending "
                        "scripts with EVAL until SCRIPT LOAD is answered",
                        sh->addr.label);
            sh->eval_mode = 1;
            sh->hold = 1;
            redis__load_scripts(sh);
        }
        send_now(op, 1);
        release_hold(sh);
        return;
    }
    release_hold(sh); /* before any callback can make a call */
    op->on_reply(op, r);
}

/* ---- topic records --------------------------------------------------------------- */

struct rtopic *redis__topic(struct rshard *sh, struct link_str topic)
{
    return dict_get(&sh->topics, topic.ptr, topic.len);
}

struct rtopic *redis__topic_make(struct rshard *sh, struct link_str topic)
{
    struct rtopic *rt = redis__topic(sh, topic);
    if (rt)
        return rt;
    rt = xcalloc(1, sizeof *rt);
    struct dict_entry *de = dict_add(&sh->topics, topic.ptr, topic.len, rt);
    rt->sh = sh;
    rt->name = de->node.name;
    rt->len = de->node.len;
    rt->sample_ms = redis__now_ms(sh->re);
    return rt;
}

void redis__held_clear(struct rtopic *rt)
{
    for (struct rheld *h = rt->held, *next; h; h = next) {
        next = h->next;
        free(h);
    }
    rt->sh->held_bytes -= rt->held_bytes;
    rt->held = rt->held_tail = NULL;
    rt->held_bytes = 0;
}

void redis__topic_release(struct rtopic *rt)
{
    if (rt->wanted || rt->pins || rt->fifo || rt->sync || rt->adds || rt->waits || rt->subs_out ||
        rt->unsubs_out)
        return;
    struct rshard *sh = rt->sh;
    redis__held_clear(rt);
    /* The name lives in the entry: dict_delete compares before it frees. */
    dict_delete(&sh->topics, rt->name, rt->len);
    free(rt);
}

void redis__calls_down(struct rshard *sh)
{
    /* Every command sent has had its NULL reply: only calls held behind a
     * NOSCRIPT are left, and they fail too. */
    struct rop *op = sh->held_ops;
    sh->held_ops = sh->held_ops_tail = NULL;
    sh->hold = 0;
    sh->sha_in_flight = 0;
    while (op) {
        struct rop *next = op->qnext;
        op->qnext = NULL;
        redis__fail(op);
        op = next;
    }
}
