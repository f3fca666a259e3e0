/* The redis engine's interest: this hub's topics on each shard, their
 * channel subscriptions, the positions engine_interest_add answers, live
 * messages in seq order, and recovery from the streams after a gap (see
 * engine_redis.h for the design, engine_redis_internal.h for the
 * structures).
 *
 * A topic's life here: engine_interest_add makes it wanted and SUBSCRIBEs
 * its channel; once Redis confirms (or at once while the pub/sub connection
 * is down), a sync reads its position, making its state if missing, and
 * answers the adds. From then on each live message that is the next seq of
 * the known epoch is delivered; any other makes a sync read the stream
 * from the last seq delivered (held messages wait meanwhile). A sync that
 * finds another epoch, or a stream that no longer holds what was missed,
 * tells the hub through on_moved and goes on from the earliest seq it
 * can. engine_interest_remove UNSUBSCRIBEs; the topic goes once nothing of
 * it is in flight. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/container.h"
#include "common/xalloc.h"
#include "hub/engine_redis_internal.h"

/* Live bytes a shard holds back for its topics' syncs; past it a topic's
 * held messages go (its sync reads them from the stream instead). */
#define REDIS_HELD_MAX (16u << 20)
/* Every wanted topic's state is touched once per this many ticks (1 s). */
#define REDIS_TOUCH_ROUNDS (REDIS_KEEP_MS / 3000)

static void rt_kick(struct rtopic *rt);

struct rtopic *redis__topic(struct rshard *sh, struct link_str topic)
{
    return dict_get(&sh->topics, topic.ptr, topic.len);
}

static struct link_str name_of(const struct rtopic *rt)
{
    return (struct link_str){rt->name, rt->len};
}

static int sub_up(const struct rshard *sh)
{
    return sh->sub && redis_conn_is_up(sh->sub);
}

static int cmd_up(const struct rshard *sh)
{
    return sh->cmd && redis_conn_is_up(sh->cmd);
}

/* ---- held live messages ------------------------------------------------------- */

static void held_clear(struct rtopic *rt)
{
    for (struct rheld *h = rt->held, *next; h; h = next) {
        next = h->next;
        free(h);
    }
    rt->sh->held_bytes -= rt->held_bytes;
    rt->held = rt->held_tail = NULL;
    rt->held_bytes = 0;
}

static void hold(struct rtopic *rt, const struct redis_wire_msg *w)
{
    struct rshard *sh = rt->sh;
    size_t n = sizeof(struct rheld) + w->from.len + w->user.len + w->data.len;
    if (sh->held_bytes + n > REDIS_HELD_MAX) {
        /* The stream has them: the sync reads them back. */
        sh->st.held_dropped++;
        held_clear(rt);
        rt->need_sync = rt->positioned;
        return;
    }
    struct rheld *h = xmalloc(n);
    h->next = NULL;
    h->seq = w->seq;
    h->enc = w->enc;
    h->epoch_len = (uint8_t)w->epoch.len;
    memcpy(h->epoch, w->epoch.ptr, w->epoch.len);
    h->from_len = w->from.len;
    h->user_len = w->user.len;
    h->data_len = w->data.len;
    memcpy(h->bytes, w->from.ptr, w->from.len);
    memcpy(h->bytes + w->from.len, w->user.ptr, w->user.len);
    memcpy(h->bytes + w->from.len + w->user.len, w->data.ptr, w->data.len);
    if (rt->held_tail)
        rt->held_tail->next = h;
    else
        rt->held = h;
    rt->held_tail = h;
    rt->held_bytes += n;
    sh->held_bytes += n;
}

/* Hands one message of rt's epoch to the hub and moves its position. */
static void deliver(struct rtopic *rt, uint64_t seq, uint8_t enc, struct link_str from,
                    struct link_str user, struct link_str data)
{
    struct redis_engine *re = rt->sh->re;
    rt->last = seq;
    if (!re->on_message)
        return;
    struct engine_msg m = {.topic = name_of(rt),
                           .epoch = link_str_c(rt->epoch),
                           .from = from,
                           .user = user,
                           .data = data,
                           .seq = seq,
                           .enc = enc};
    re->on_message(re->ud, &m);
}

static int same_epoch(const struct rtopic *rt, struct link_str e)
{
    return e.len == strlen(rt->epoch) && memcmp(e.ptr, rt->epoch, e.len) == 0;
}

/* What was held back goes out now that rt's position is known: the next
 * seqs of its epoch in order; older ones and other epochs' are dropped (a
 * sync has just read the epoch). A gap stops it: the rest waits for the
 * next sync. */
static void flush_held(struct rtopic *rt)
{
    struct rheld *h;
    while ((h = rt->held)) {
        struct link_str e = {h->epoch, h->epoch_len};
        if (same_epoch(rt, e) && h->seq > rt->last + 1) {
            rt->need_sync = 1;
            return;
        }
        rt->held = h->next;
        if (!rt->held)
            rt->held_tail = NULL;
        size_t n = sizeof *h + h->from_len + h->user_len + h->data_len;
        rt->held_bytes -= n;
        rt->sh->held_bytes -= n;
        if (same_epoch(rt, e) && h->seq == rt->last + 1)
            deliver(rt, h->seq, h->enc, (struct link_str){h->bytes, h->from_len},
                    (struct link_str){h->bytes + h->from_len, h->user_len},
                    (struct link_str){h->bytes + h->from_len + h->user_len, h->data_len});
        free(h);
    }
}

/* ---- topics ------------------------------------------------------------------- */

static struct rtopic *rt_new(struct rshard *sh, struct link_str topic)
{
    struct rtopic *rt = xcalloc(1, sizeof *rt);
    struct dict_entry *de = dict_add(&sh->topics, topic.ptr, topic.len, rt);
    rt->sh = sh;
    rt->name = de->key;
    rt->len = de->klen;
    rt->sample_ms = redis__now_ms(sh->re);
    return rt;
}

/* Frees rt once nothing holds it (see the invariants). */
static void rt_maybe_free(struct rtopic *rt)
{
    if (rt->wanted || rt->pins || rt->sync || rt->adds || rt->waits || rt->subs_out ||
        rt->unsubs_out)
        return;
    struct rshard *sh = rt->sh;
    held_clear(rt);
    /* The name lives in the entry: dict_delete compares before it frees. */
    dict_delete(&sh->topics, rt->name, rt->len);
    free(rt);
}

static void rotation_add(struct rtopic *rt)
{
    struct rshard *sh = rt->sh;
    rt->rnext = NULL;
    rt->rprev = sh->rot_tail;
    if (sh->rot_tail)
        sh->rot_tail->rnext = rt;
    else
        sh->rot = rt;
    sh->rot_tail = rt;
}

static void rotation_remove(struct rtopic *rt)
{
    struct rshard *sh = rt->sh;
    if (rt->rprev)
        rt->rprev->rnext = rt->rnext;
    else
        sh->rot = rt->rnext;
    if (rt->rnext)
        rt->rnext->rprev = rt->rprev;
    else
        sh->rot_tail = rt->rprev;
    rt->rprev = rt->rnext = NULL;
}

static void subscription(struct rtopic *rt, int on)
{
    struct rshard *sh = rt->sh;
    struct buf ch = BUF_INIT;
    redis_wire_key(&ch, sh->re->prefix, 'c', name_of(rt));
    const char *p = (const char *)buf_head(&ch);
    if (on && redis_conn_subscribe(sh->sub, p, buf_readable(&ch)) == 0)
        rt->subs_out++;
    if (!on && redis_conn_unsubscribe(sh->sub, p, buf_readable(&ch)) == 0)
        rt->unsubs_out++;
    buf_deinit(&ch);
}

static void want(struct rtopic *rt)
{
    struct rshard *sh = rt->sh;
    rt->wanted = 1;
    rt->gen++;
    rt->positioned = 0;
    rt->need_sync = 0;
    rt->subscribed = 0;
    held_clear(rt);
    sh->nwanted++;
    sh->re->nwanted++;
    rotation_add(rt);
    if (sub_up(sh))
        subscription(rt, 1);
}

/* Calls behind rt's adds go now (after its sync, on the same connection). */
static void send_waits(struct rtopic *rt)
{
    struct rop *op = rt->waits;
    rt->waits = rt->waits_tail = NULL;
    while (op) {
        struct rop *next = op->qnext;
        op->qnext = NULL;
        redis__send(op);
        op = next;
    }
}

static void unwant(struct rtopic *rt);

/* rt's adds are answered: with its position, or status (then the engine
 * holds no interest in it: the hub does not think it does). */
static void answer_adds(struct rtopic *rt, int status)
{
    struct rop *op = rt->adds;
    rt->adds = rt->adds_tail = NULL;
    while (op) {
        struct rop *next = op->qnext;
        op->qnext = NULL;
        if (status == ENGINE_OK) {
            op->pos.seq = rt->last;
            memcpy(op->pos.epoch, rt->epoch, sizeof op->pos.epoch);
        } else if (status == ENGINE_UNAVAILABLE) {
            rt->sh->st.unavailable++;
        }
        redis__op_done(op, status);
        op = next;
    }
    send_waits(rt);
    if (status != ENGINE_OK && rt->wanted)
        unwant(rt);
}

int redis__topic_defers(struct rtopic *rt, struct rop *op)
{
    if (!rt->adds || rt->sync)
        return 0; /* nothing waits for its subscription */
    op->qnext = NULL;
    if (rt->waits_tail)
        rt->waits_tail->qnext = op;
    else
        rt->waits = op;
    rt->waits_tail = op;
    return 1;
}

/* ---- syncs -------------------------------------------------------------------- */

/* Reads rt's position (making its state if missing) and, when it has one,
 * what came after it. */
static void send_sync(struct rtopic *rt)
{
    struct rshard *sh = rt->sh;
    struct redis_engine *re = sh->re;
    if (!cmd_up(sh)) {
        rt->need_sync = rt->positioned; /* the command connection's return kicks it */
        if (rt->adds)
            answer_adds(rt, re->freeing ? ENGINE_GONE : ENGINE_UNAVAILABLE);
        return;
    }
    struct link_str topic = name_of(rt);
    struct history_bounds b = redis__bounds(re, topic);
    struct rop *op = redis__op_new(sh, ROP_SYNC, NULL, 0);
    char epoch[HUB_EPOCH_LEN + 1];
    epoch_mint(&re->epochs, epoch);
    op->rt = rt;
    op->gen = rt->gen;
    op->script = REDIS_SCRIPT_READ;
    redis__arg(op, "2", 1);
    redis__arg_key(op, 'm', topic);
    redis__arg_key(op, 'h', topic);
    redis__arg(op, epoch, HUB_EPOCH_LEN);
    redis__arg_u64(op, redis__meta_ttl(re, b));
    if (rt->positioned) {
        redis__arg(op, rt->epoch, strlen(rt->epoch));
        redis__arg_u64(op, rt->last);
    } else {
        redis__arg(op, "", 0);
        redis__arg_u64(op, 0);
    }
    redis__arg_u64(op, REDIS_READ_PAGE);
    redis__arg_u64(op, b.max_count ? b.max_age_ms : 0);
    redis__arg(op, rt->positioned ? "1" : "0", 1);
    rt->sync = op;
    rt->need_sync = 0;
    sh->st.syncs++;
    rt->pins++;
    redis__send(op); /* a failure comes back through redis__sync_reply at once */
    if (rt->sync)
        send_waits(rt);
    rt->pins--;
}

/* Decides what rt needs now. */
static void rt_kick(struct rtopic *rt)
{
    struct rshard *sh = rt->sh;
    if (rt->sync || sh->re->freeing)
        return;
    if (rt->adds) {
        if (rt->wanted && sub_up(sh) && !rt->subscribed)
            return; /* the confirmation kicks it: the position is read after it */
        send_sync(rt);
        return;
    }
    if (rt->wanted && rt->positioned && rt->need_sync && rt->subscribed)
        send_sync(rt);
}

/* A sync of positioned rt came back: what it missed goes out as live, or
 * the hub hears where the topic goes on from. */
static void recover(struct rtopic *rt, const struct redis_wire_read *rd)
{
    struct rshard *sh = rt->sh;
    struct redis_engine *re = sh->re;
    if (same_epoch(rt, rd->epoch) && rd->seq >= rt->last && rt->last + 1 >= rd->first) {
        for (size_t i = 0; i < rd->entries->elements; i++) {
            struct redis_wire_msg w;
            if (redis_wire_decode_entry(rd->entries->element[i], &w) < 0) {
                sh->st.bad_messages++;
                redis__warn(re, "redis %s: a history entry of %.*s is not one of ours",
                            sh->addr.label, (int)rt->len, rt->name);
                break;
            }
            if (w.seq <= rt->last)
                continue;
            if (w.seq != rt->last + 1)
                break;
            sh->st.recovered++;
            deliver(rt, w.seq, w.enc, w.from, w.user, w.data);
        }
        if (rt->last < rd->seq)
            rt->need_sync = 1; /* the next page */
        return;
    }
    /* It cannot go on from rt->last: from the earliest seq the stream
     * holds, the whole new epoch if it still has it. */
    char reason[160];
    uint64_t base = rd->first - 1;
    if (!same_epoch(rt, rd->epoch))
        snprintf(reason, sizeof reason, "%s",
                 rd->flags & REDIS_READ_REWOUND
                     ? "Redis went back to an older state of the topic: its numbering restarted"
                     : "epoch changed: the topic's numbering restarted (Redis lost its state)");
    else
        snprintf(reason, sizeof reason,
                 "messages were lost while the hub could not receive them: the history now "
                 "starts after seq %llu",
                 (unsigned long long)base);
    sh->st.moved++;
    rt->last = base;
    memcpy(rt->epoch, rd->epoch.ptr, rd->epoch.len);
    rt->epoch[rd->epoch.len] = '\0';
    rt->sample_seq = base;
    if (base < rd->seq)
        rt->need_sync = 1; /* base + 1 .. seq from the stream next */
    if (re->on_moved) {
        struct engine_pos pos = {.seq = base};
        memcpy(pos.epoch, rt->epoch, sizeof pos.epoch);
        re->on_moved(re->ud, name_of(rt), &pos, reason);
    }
}

void redis__sync_reply(struct rop *op, const redisReply *r)
{
    struct rshard *sh = op->sh;
    struct redis_engine *re = sh->re;
    if (op->kind == ROP_TOUCH) {
        redis__op_done(op, ENGINE_OK);
        return;
    }
    struct rtopic *rt = op->rt;
    rt->sync = NULL;
    rt->pins++;
    struct redis_wire_read rd;
    int ok =
        r && r->type != REDIS_REPLY_ERROR && redis_wire_read_reply(r, &rd) == 0 && rd.epoch.len;
    if (!ok) {
        if (r)
            redis__warn(re, "redis %s: reading the position of %.*s failed: %.*s", sh->addr.label,
                        (int)rt->len, rt->name, r->type == REDIS_REPLY_ERROR ? (int)r->len : 14,
                        r->type == REDIS_REPLY_ERROR ? r->str : "a bad answer");
        if (rt->adds)
            answer_adds(rt, re->freeing ? ENGINE_GONE : ENGINE_UNAVAILABLE);
        else if (rt->wanted && rt->positioned) {
            rt->need_sync = 1;
            sh->resync_due = r != NULL; /* a lost connection kicks it when it is back */
        }
    } else if (op->gen != rt->gen) {
        /* Sent for an interest that ended since: the new one reads its own. */
    } else if (!rt->positioned) {
        rt->positioned = 1;
        rt->last = rt->sample_seq = rd.seq;
        memcpy(rt->epoch, rd.epoch.ptr, rd.epoch.len);
        rt->epoch[rd.epoch.len] = '\0';
        answer_adds(rt, ENGINE_OK);
    } else if (rt->wanted) {
        recover(rt, &rd);
    }
    redis__op_done(op, ENGINE_OK);
    if (rt->wanted && rt->positioned && !rt->sync)
        flush_held(rt);
    rt_kick(rt);
    rt->pins--;
    rt_maybe_free(rt);
}

/* ---- the interface --------------------------------------------------------------- */

void redis__interest_add(struct engine *e, struct link_str topic, engine_pos_cb cb, void *ctx)
{
    struct redis_engine *re = container_of(e, struct redis_engine, base);
    struct rshard *sh = redis__shard_of(re, topic);
    struct rop *op = redis__op_new(sh, ROP_INTEREST, ctx, 1);
    op->pos_cb = cb;
    if (!cmd_up(sh)) {
        sh->st.unavailable++;
        redis__op_done(op, ENGINE_UNAVAILABLE);
        return;
    }
    struct rtopic *rt = redis__topic(sh, topic);
    if (rt && rt->wanted && rt->positioned) {
        op->pos.seq = rt->last; /* idempotent: where it stands */
        memcpy(op->pos.epoch, rt->epoch, sizeof op->pos.epoch);
        redis__op_done(op, ENGINE_OK);
        return;
    }
    if (!rt) {
        if (re->nwanted >= re->max_topics) {
            redis__op_done(op, ENGINE_FULL);
            return;
        }
        rt = rt_new(sh, topic);
    }
    if (!rt->wanted)
        want(rt);
    op->qnext = NULL;
    if (rt->adds_tail)
        rt->adds_tail->qnext = op;
    else
        rt->adds = op;
    rt->adds_tail = op;
    rt->pins++;
    rt_kick(rt);
    rt->pins--;
    rt_maybe_free(rt);
}

/* No more interest: the subscription goes (the topic once nothing of it
 * is in flight). */
static void unwant(struct rtopic *rt)
{
    struct rshard *sh = rt->sh;
    struct redis_engine *re = sh->re;
    rt->wanted = 0;
    rt->positioned = 0;
    rt->need_sync = 0;
    sh->nwanted--;
    re->nwanted--;
    rotation_remove(rt);
    held_clear(rt);
    if (sub_up(sh) && (rt->subscribed || rt->subs_out))
        subscription(rt, 0);
    rt->subscribed = 0;
}

void redis__interest_remove(struct engine *e, struct link_str topic)
{
    struct redis_engine *re = container_of(e, struct redis_engine, base);
    struct rshard *sh = redis__shard_of(re, topic);
    struct rtopic *rt = redis__topic(sh, topic);
    if (!rt || !rt->wanted)
        return;
    unwant(rt);
    rt->pins++;
    rt_kick(rt); /* adds still waiting are answered all the same */
    rt->pins--;
    rt_maybe_free(rt);
}

/* ---- live messages ------------------------------------------------------------------- */

static void on_message(struct rshard *sh, struct rtopic *rt, const struct redis_push *p)
{
    struct redis_wire_msg w;
    if (redis_wire_decode_live(p->payload, p->payload_len, &w) < 0) {
        sh->st.bad_messages++;
        redis__warn(sh->re, "redis %s: a message on the channel of %.*s is not one of ours",
                    sh->addr.label, (int)rt->len, rt->name);
        rt->need_sync = rt->positioned; /* the stream has the real one, if any */
        rt_kick(rt);
        return;
    }
    if (!rt->positioned || rt->sync || rt->held) {
        hold(rt, &w);
        return;
    }
    if (same_epoch(rt, w.epoch)) {
        if (w.seq <= rt->last)
            return; /* recovered already */
        if (w.seq == rt->last + 1) {
            deliver(rt, w.seq, w.enc, w.from, w.user, w.data);
            return;
        }
    }
    /* A gap, or another epoch: what it means is in the stream. */
    hold(rt, &w);
    rt->need_sync = 1;
    rt_kick(rt);
}

void redis__on_push(struct rshard *sh, const struct redis_push *p)
{
    struct link_str topic;
    if (redis_wire_channel_topic(sh->re->prefix, p->channel, p->channel_len, &topic) < 0)
        return;
    struct rtopic *rt = redis__topic(sh, topic);
    if (!rt)
        return;
    rt->pins++;
    if (strcmp(p->kind, "message") == 0) {
        if (rt->wanted)
            on_message(sh, rt, p);
    } else {
        if (strcmp(p->kind, "subscribe") == 0 && rt->subs_out)
            rt->subs_out--;
        else if (strcmp(p->kind, "unsubscribe") == 0 && rt->unsubs_out)
            rt->unsubs_out--;
        if (!rt->subs_out && !rt->unsubs_out)
            rt->subscribed = rt->wanted;
        rt_kick(rt);
    }
    rt->pins--;
    rt_maybe_free(rt);
}

/* ---- the connections ------------------------------------------------------------------- */

/* Calls fn on every topic of sh, with callbacks held until all are done
 * (so that nothing else changes the table meanwhile). */
static void each_topic(struct rshard *sh, void (*fn)(struct rtopic *))
{
    redis__suspend(sh);
    struct dict_iter it;
    dict_iter_init(&it, &sh->topics);
    for (struct dict_entry *de; (de = dict_next(&it));) {
        struct rtopic *rt = de->value;
        rt->pins++;
        fn(rt);
        rt->pins--;
        rt_maybe_free(rt); /* the current entry: safe while iterating */
    }
    redis__resume(sh);
}

static void resubscribe(struct rtopic *rt)
{
    if (rt->wanted)
        subscription(rt, 1);
}

void redis__sub_up(struct rshard *sh)
{
    each_topic(sh, resubscribe);
}

static void unsubscribed(struct rtopic *rt)
{
    rt->subs_out = rt->unsubs_out = 0;
    rt->subscribed = 0;
    if (rt->wanted && rt->positioned)
        rt->need_sync = 1; /* what it missed is read back once subscribed again */
    rt_kick(rt);           /* adds waiting for a confirmation are answered now */
}

void redis__sub_down(struct rshard *sh)
{
    each_topic(sh, unsubscribed);
}

void redis__cmd_up(struct rshard *sh)
{
    each_topic(sh, rt_kick);
}

static void retry(struct rtopic *rt)
{
    if (rt->need_sync)
        rt_kick(rt);
}

void redis__topics_tick(struct rshard *sh)
{
    struct redis_engine *re = sh->re;
    if (!cmd_up(sh))
        return;
    /* Interest keeps the states alive: a share each second, each topic
     * every REDIS_TOUCH_ROUNDS seconds, rotating. */
    size_t k = (sh->nwanted + REDIS_TOUCH_ROUNDS - 1) / REDIS_TOUCH_ROUNDS;
    for (size_t i = 0; i < k && sh->rot; i++) {
        struct rtopic *rt = sh->rot;
        rotation_remove(rt);
        rotation_add(rt);
        if (!redis__meta_ttl(re, redis__bounds(re, name_of(rt))))
            continue; /* a lasting state */
        struct rop *op = redis__op_new(sh, ROP_TOUCH, NULL, 0);
        op->script = REDIS_SCRIPT_TOUCH;
        redis__arg(op, "1", 1);
        redis__arg_key(op, 'm', name_of(rt));
        redis__arg_u64(op, REDIS_KEEP_MS);
        redis__send(op);
    }
    if (sh->resync_due) {
        sh->resync_due = 0;
        each_topic(sh, retry);
    }
}

static void gone(struct rtopic *rt)
{
    if (rt->adds)
        answer_adds(rt, ENGINE_GONE);
    struct rop *op = rt->waits;
    rt->waits = rt->waits_tail = NULL;
    while (op) {
        struct rop *next = op->qnext;
        redis__op_done(op, ENGINE_GONE);
        op = next;
    }
    if (rt->wanted) {
        rt->wanted = 0;
        rotation_remove(rt);
    }
    rt->sync = NULL; /* its reply came (NULL) when the connection was freed */
    rt->subs_out = rt->unsubs_out = 0;
}

void redis__topics_free(struct rshard *sh)
{
    each_topic(sh, gone);
}
