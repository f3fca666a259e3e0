/* The redis engine's interest (engine_redis_topic.c): this hub's topics
 * on each shard, their subscriptions, positions, live messages and
 * recovery; called by engine_redis.c, over engine_redis_call.h. */
#ifndef SPOKE_HUB_ENGINE_REDIS_TOPIC_H
#define SPOKE_HUB_ENGINE_REDIS_TOPIC_H
#include "hub/engine_redis_call.h"

void redis__interest_add(struct engine *e, struct link_str topic, engine_pos_cb cb, void *ctx);
void redis__interest_remove(struct engine *e, struct link_str topic);
/* 1 if calls on rt must wait behind an interest add (then queued on it). */
int redis__topic_defers(struct rtopic *rt, struct rop *op);
/* A sync's or a touch's reply (r NULL: no reply). */
void redis__sync_reply(struct rop *op, const redisReply *r);
/* The connections' events. */
void redis__sub_up(struct rshard *sh);
void redis__sub_down(struct rshard *sh);
void redis__cmd_up(struct rshard *sh);
void redis__on_push(struct rshard *sh, const struct redis_push *p);
/* Every second: touches a share of the wanted topics' states, retries
 * failed syncs. */
void redis__topics_tick(struct rshard *sh);
/* engine_free: every call waiting on a topic completes with ENGINE_GONE,
 * and the topics go. */
void redis__topics_free(struct rshard *sh);

#endif
