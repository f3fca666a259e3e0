/* The requests a backend hook decides (docs/hooks.md): subscribe, publish
 * and rpc. Each asks the backend, then carries the request out through the
 * caller's continuation (edge/request.c passes its request_*_go), refuses
 * it or answers it once the backend has; a connection gone meanwhile is
 * dropped. */
#ifndef SPOKE_EDGE_REQUEST_HOOKS_H
#define SPOKE_EDGE_REQUEST_HOOKS_H
#include <stddef.h>
#include <stdint.h>

#include "common/enc.h"

struct client;
struct client_msg;

/* What a sub or pub the backend allowed goes on with. */
typedef void (*request_sub_go_fn)(struct client *c, const struct client_msg *m);
typedef void (*request_pub_go_fn)(struct client *c, int has_id, int64_t id, const char *topic,
                                  size_t topic_len, enum enc enc, const uint8_t *data,
                                  size_t data_len);

void request_hook_sub(struct client *c, const struct client_msg *m, request_sub_go_fn go);
/* The backend may replace the data: go is then given its JSON. */
void request_hook_pub(struct client *c, const struct client_msg *m, request_pub_go_fn go);
void request_hook_rpc(struct client *c, const struct client_msg *m);

#endif
