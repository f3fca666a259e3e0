/* Origin and token checks on the upgrade request: see admission.h. */
#include "edge/admission.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/textlist.h"
#include "edge/auth.h"
#include "edge/config.h"
#include "edge/handshake.h"
#include "edge/edge.h"

int admission_origin_allowed(const char *list, const char *origin)
{
    if (!list || !*list || !origin)
        return 1;
    size_t olen = strlen(origin), n;
    const char *item;
    while (textlist_next(&list, &item, &n)) {
        while (n > 1 && item[n - 1] == '/') /* "https://a.example/" names the origin too */
            n--;
        if ((n == 1 && *item == '*') || (n == olen && strncasecmp(item, origin, n) == 0))
            return 1;
    }
    return 0;
}

int admission_check(struct worker *w, const struct handshake *hs, struct buf *response,
                    struct auth_identity **id, const char **why)
{
    const struct edge_config *cfg = w->cfg;
    *id = NULL;
    if (!admission_origin_allowed(cfg->allowed_origins, handshake_origin(hs))) {
        w->stats.refused_origin++;
        *why = "origin not allowed";
        buf_reset(response);
        handshake_refuse(response, 403, "Forbidden", "", "origin not allowed\n");
        return -1;
    }
    const char *token = handshake_token(hs);
    const struct auth *auth = edge_auth(cfg);
    const char *reason = NULL;
    if (token && !auth_enabled(auth)) {
        /* No key to check it with: the token means nothing here. */
        return 0;
    }
    if (token) {
        if (auth_verify(auth, token, strlen(token), time(NULL), id, &reason) == 0)
            return 0;
    } else if (auth_required(auth)) {
        reason = "token required";
    } else {
        return 0;
    }
    w->stats.refused_auth++;
    *why = reason;
    char body[160];
    snprintf(body, sizeof body, "%s\n", reason);
    buf_reset(response);
    handshake_refuse(response, 401, "Unauthorized",
                     "WWW-Authenticate: Bearer error=\"invalid_token\"\r\n", body);
    return -1;
}
