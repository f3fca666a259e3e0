/* The hub's backend hooks store and its live changes: see hooks.h. */
#include "hub/hooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errbuf.h"
#include "common/hooks_conf.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "hub/hub.h"

static struct hooks_conf *conf_new(void)
{
    struct hooks_conf *c = xmalloc(sizeof *c);
    hooks_conf_defaults(c);
    return c;
}

void hub_hooks_begin(struct hub *h)
{
    free(h->loading_hooks);
    h->loading_hooks = conf_new();
    h->hooks_err[0] = '\0';
}

int hub_hooks_on_key(struct hub *h, const char *key, const char *value)
{
    char why[200];
    if (!h->hooks_err[0] && hooks_conf_set(h->loading_hooks, key, value, why, sizeof why) < 0)
        snprintf(h->hooks_err, sizeof h->hooks_err, "[hooks] %s", why);
    return 0;
}

/* Takes next (heap) as the hooks in force; the document for links follows.
 * how: for the log line (NULL: none). */
static void install(struct hub *h, struct hooks_conf *next, const char *how)
{
    free(h->hooks);
    h->hooks = next;
    buf_reset(&h->hooks_doc);
    hooks_conf_to_json(next, &h->hooks_doc, 1);
    if (!how)
        return; /* at start, before logging is set up: GET /api/hooks tells */
    char on[80] = "";
    size_t n = 0;
    for (int e = 0; e < HOOK_EVENTS; e++)
        if (next->ev[e].mode != HOOK_OFF && n < sizeof on)
            n += (size_t)snprintf(on + n, sizeof on - n, " %s", hooks_event_name(e));
    log_info("hooks (%s): version %llu, on:%s", how, (unsigned long long)next->version,
             n ? on : " none");
}

/* The section just read, finished, or NULL with err set. */
static struct hooks_conf *take_loaded(struct hub *h, char *err, size_t errlen)
{
    struct hooks_conf *c = h->loading_hooks;
    h->loading_hooks = NULL;
    char why[200];
    if (h->hooks_err[0]) {
        snprintf(err, errlen, "%s", h->hooks_err);
    } else if (hooks_conf_finish(c, why, sizeof why) < 0) {
        snprintf(err, errlen, "[hooks] %s", why);
    } else {
        return c;
    }
    free(c);
    return NULL;
}

int hub_hooks_loaded(struct hub *h, char *err, size_t errlen)
{
    struct hooks_conf *c = take_loaded(h, err, errlen);
    if (!c)
        return -1;
    c->version = 1;
    install(h, c, NULL);
    return 0;
}

int hub_hooks_reload(struct hub *h, const char *read_err)
{
    char err[300];
    struct hooks_conf *c = NULL;
    if (read_err) {
        free(h->loading_hooks);
        h->loading_hooks = NULL;
        snprintf(err, sizeof err, "%s", read_err);
    } else {
        c = take_loaded(h, err, sizeof err);
    }
    if (!c) {
        log_error("hooks reload failed, the old hooks (version %llu) stay: %s",
                  (unsigned long long)h->hooks->version, err);
        return 0;
    }
    if (hooks_conf_equal(c, h->hooks)) {
        free(c);
        return 0;
    }
    c->version = h->hooks->version + 1;
    install(h, c, "reloaded");
    return 1;
}

int hub_hooks_update(struct hub *h, json_t *doc, char *err, size_t errlen)
{
    if (!json_is_object(doc))
        return errbuf_set(err, errlen, "the body must be a JSON object (a hooks document)");
    const json_t *s = json_object_get(doc, "secret");
    if (!s || (json_is_string(s) && strcmp(json_string_value(s), "(set)") == 0))
        json_object_set_new(doc, "secret", json_stringn(h->hooks->secret, h->hooks->secret_len));
    if (!json_object_get(doc, "version"))
        json_object_set_new(doc, "version", json_integer((json_int_t)h->hooks->version));
    char *text = json_dumps(doc, JSON_COMPACT);
    if (!text)
        abort(); /* jansson fails only when out of memory: as xmalloc would */
    struct hooks_conf *next = conf_new();
    int rc = hooks_conf_from_json(next, text, strlen(text), err, errlen);
    free(text);
    if (rc < 0 || hooks_conf_equal(next, h->hooks)) {
        free(next);
        return rc < 0 ? -1 : 0;
    }
    next->version = h->hooks->version + 1;
    install(h, next, "API");
    return 1;
}

char *hub_hooks_public_json(const struct hub *h)
{
    struct buf b;
    buf_init(&b);
    hooks_conf_to_json(h->hooks, &b, 0);
    char *text = xmalloc(buf_readable(&b) + 1);
    memcpy(text, buf_head(&b), buf_readable(&b));
    text[buf_readable(&b)] = '\0';
    buf_deinit(&b);
    return text;
}

void hub_hooks_free(struct hub *h)
{
    free(h->hooks);
    free(h->loading_hooks);
    h->hooks = h->loading_hooks = NULL;
    buf_deinit(&h->hooks_doc);
}
