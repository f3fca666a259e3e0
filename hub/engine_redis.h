/* The redis engine (`engine = redis`): topics ordered in Redis, so that
 * every hub using the same Redis shards gives a topic one order, one epoch
 * and one history, and a hub that restarts finds them again. Behind
 * hub/engine.h like the memory engine; made by engine_redis_new there.
 *
 * Shards. `redis = ADDR[,ADDR...]` lists independent Redis servers; a topic
 * lives on one, chosen by the consistent hash of hub/redis_ring.h, so
 * every hub listing the same addresses (as written, in any order) agrees
 * and adding one moves few topics. Each shard gets two connections
 * (hub/redis_conn.h): one for commands, one for pub/sub.
 *
 * Order. A publish is one Lua script on its topic's shard
 * (hub/engine_redis_wire.h has the keys and the scripts): it makes the
 * topic's state if missing (with an epoch the hub proposes), takes the
 * next seq, appends the message to the topic's stream (ID "<seq>-0",
 * capped at the topic's [history] count, its key expiring the topic's age
 * after the last publish, older entries trimmed), PUBLISHes it with its
 * position on the topic's channel, and answers the position. A publish
 * with an origin (an edge worker's pub_id) leaves a record of its position
 * for twice publish_timeout, and the script answers one it finds recorded
 * with that position, ordering nothing: an edge that failed over from a
 * hub that died before answering gets its first result from another hub
 * (ENGINE_REPEATED). Scripts go
 * as EVALSHA (loaded with SCRIPT LOAD on every connect); on NOSCRIPT the
 * call is sent again as EVAL, and later calls wait until every EVALSHA
 * sent before is answered, so that none overtakes one made before it.
 * Every call is sent at once: those of one loop turn leave in one write.
 *
 * Interest. While this hub's links want a topic, its shard's pub/sub
 * connection SUBSCRIBEs its channel. engine_interest_add subscribes, and
 * once Redis confirms, reads the topic's position (making its state if
 * missing): every message after it then comes on the channel. Live
 * messages that come while a read of the topic is under way wait, and
 * those at or below the position it gives are dropped. A live message
 * that is not the next seq of the epoch the engine knows (a gap, or
 * another epoch) makes it read the stream from the last seq it delivered
 * and deliver what it missed as live, in order; if the stream no longer
 * holds it, or the epoch changed (Redis restarted empty), on_moved tells
 * the hub where the topic goes on from. The same happens for every
 * topic when a pub/sub connection comes back.
 *
 * Failures. A shard whose command connection is down answers publishes,
 * reads and new interest ENGINE_UNAVAILABLE at once; one whose pub/sub
 * connection is down still orders publishes, and its topics are recovered
 * from their streams when it is back. engine_ready says which shard is
 * down and why; engine_metrics has the figures per shard.
 *
 * Topic states and max_topics. A topic's state lives in Redis: without an
 * age bound on its history, for as long as Redis keeps it; with one, for
 * the age plus topic_linger after its last publish. An interest keeps it
 * at least 30 s more (REDIS_KEEP_MS), refreshed every 10 s while it
 * lasts. A hub cannot count the states of all hubs cheaply, so max_topics
 * bounds what this hub holds: the topics it is interested in (a
 * subscription each); interest in one more is ENGINE_FULL, and publishes
 * are never refused for it. */
#ifndef SPOKE_HUB_ENGINE_REDIS_H
#define SPOKE_HUB_ENGINE_REDIS_H
#include "hub/engine.h"

/* engine_redis_new is declared in engine.h (engines.c makes it by name);
 * its limits and intervals are in engine_redis_call.h. */

#endif
