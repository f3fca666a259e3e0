/* The backend hooks configuration: defaults, [hooks] keys, and the JSON
 * document (see hooks_conf.h). */
#include "common/hooks_conf.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/errbuf.h"
#include "common/jsonwrite.h"
#include "common/policy.h"
#include "common/topic_pattern.h"

_Static_assert(HOOKS_PATTERN_MAX == TOPIC_PATTERN_MAX, "hook patterns are topic patterns");

static const char *const event_names[HOOK_EVENTS] = {"connect", "subscribe", "publish", "rpc",
                                                     "disconnect"};

const char *hooks_event_name(enum hook_event e)
{
    return (unsigned)e < HOOK_EVENTS ? event_names[e] : "unknown";
}

static int event_has_topics(int e)
{
    return e == HOOK_SUBSCRIBE || e == HOOK_PUBLISH;
}

/* The numeric keys: INI name, JSON place, unit and range. Parsed with the
 * policy's parser (common/policy.h), so durations are seconds as in
 * [policy] ("2", "0.5"); the JSON document holds them in ms. */
struct num_key {
    const char *ini;  /* [hooks] key */
    const char *json; /* JSON key, in the object `where` */
    const char *where;
    enum policy_unit unit;
    size_t off;
    long min, max, def;
};
#define NUM(i, j, w, u, f, mn, mx, d)                         \
    {                                                         \
        i, j, w, u, offsetof(struct hooks_conf, f), mn, mx, d \
    }
static const struct num_key num_keys[] = {
    NUM("timeout", "timeout_ms", NULL, POLICY_SECONDS, timeout_ms, 1, 60000, 2000),
    NUM("max_in_flight", "max_in_flight", NULL, POLICY_COUNT, max_in_flight, 1, 4096, 64),
    NUM("breaker_failures", "failures", "breaker", POLICY_COUNT, breaker_failures, 1, 1000, 5),
    NUM("breaker_cooldown", "cooldown_ms", "breaker", POLICY_SECONDS, breaker_cooldown_ms, 100,
        600000, 5000),
    NUM("disconnect_batch", "batch", "disconnect", POLICY_COUNT, disconnect_batch, 1, 1000, 100),
    NUM("disconnect_interval", "interval_ms", "disconnect", POLICY_SECONDS, disconnect_interval_ms,
        10, 60000, 1000),
    NUM("disconnect_retries", "retries", "disconnect", POLICY_COUNT, disconnect_retries, 0, 10, 3),
};
#define NNUM (sizeof num_keys / sizeof num_keys[0])

static long *num_field(struct hooks_conf *c, const struct num_key *k)
{
    return (long *)((char *)c + k->off);
}
static long num_get(const struct hooks_conf *c, const struct num_key *k)
{
    return *(const long *)((const char *)c + k->off);
}

void hooks_conf_defaults(struct hooks_conf *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < NNUM; i++)
        *num_field(c, &num_keys[i]) = num_keys[i].def;
}

int hooks_conf_any(const struct hooks_conf *c)
{
    for (int e = 0; e < HOOK_EVENTS; e++)
        if (c->ev[e].mode != HOOK_OFF)
            return 1;
    return 0;
}

/* ---- value checks shared by the INI and the JSON readers */

static int url_ok(const char *what, const char *s, size_t n, char *err, size_t errlen)
{
    if (n > HOOKS_URL_MAX)
        return errbuf_set(err, errlen, "%s: longer than %d bytes", what, HOOKS_URL_MAX);
    if (!(n > 7 && strncmp(s, "http://", 7) == 0) && !(n > 8 && strncmp(s, "https://", 8) == 0))
        return errbuf_set(err, errlen, "%s: must start with http:// or https://", what);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return errbuf_set(err, errlen, "%s: must be printable ASCII without spaces", what);
    return 0;
}

static int secret_ok(const char *s, size_t n, char *err, size_t errlen)
{
    if (n > HOOKS_SECRET_MAX)
        return errbuf_set(err, errlen, "secret: longer than %d bytes", HOOKS_SECRET_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
            return errbuf_set(err, errlen, "secret: must be printable ASCII");
    return 0;
}

/* An HTTP field name (RFC 9110 section 5.1): a token of tchars. */
static int header_ok(const char *s, size_t n)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    if (n == 0 || n > HOOKS_HEADER_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch && strchr(extra, ch))))
            return 0;
    }
    return 1;
}

static int add_header(struct hooks_conf *c, const char *s, size_t n, char *err, size_t errlen)
{
    if (!header_ok(s, n))
        return errbuf_set(err, errlen, "forward_headers: '%.*s' is not an HTTP header name",
                          (int)(n > 64 ? 64 : n), s);
    if (c->nheaders >= HOOKS_HEADERS_MAX)
        return errbuf_set(err, errlen, "forward_headers: more than %d", HOOKS_HEADERS_MAX);
    for (unsigned i = 0; i < c->nheaders; i++)
        if (strlen(c->headers[i]) == n && strncasecmp(c->headers[i], s, n) == 0)
            return errbuf_set(err, errlen, "forward_headers: '%.*s' twice", (int)n, s);
    memcpy(c->headers[c->nheaders], s, n);
    c->headers[c->nheaders][n] = '\0';
    c->nheaders++;
    return 0;
}

static int add_topic(struct hooks_conf *c, int e, const char *s, size_t n, char *err, size_t errlen)
{
    struct hook_event_conf *ev = &c->ev[e];
    if (!topic_pattern_is_valid(s, n))
        return errbuf_set(err, errlen,
                          "%s topics: '%.*s' is not a topic pattern (a topic, or a prefix and *)",
                          event_names[e], (int)(n > 64 ? 64 : n), s);
    if (ev->ntopics >= HOOKS_TOPICS_MAX)
        return errbuf_set(err, errlen, "%s topics: more than %d", event_names[e], HOOKS_TOPICS_MAX);
    memcpy(ev->topics[ev->ntopics], s, n);
    ev->topics[ev->ntopics][n] = '\0';
    ev->ntopics++;
    return 0;
}

/* Calls add(c, word) for each space-separated word of value. */
static int each_word(struct hooks_conf *c, int e, const char *value, int headers, char *err,
                     size_t errlen)
{
    const char *p = value;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            return 0;
        const char *w = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        int rc = headers ? add_header(c, w, (size_t)(p - w), err, errlen)
                         : add_topic(c, e, w, (size_t)(p - w), err, errlen);
        if (rc < 0)
            return -1;
    }
}

static int set_string(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        return -1;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

/* ---- the [hooks] keys */

static int event_of(const char *name, size_t n)
{
    for (int e = 0; e < HOOK_EVENTS; e++)
        if (strlen(event_names[e]) == n && memcmp(event_names[e], name, n) == 0)
            return e;
    return -1;
}

static int set_secret_file(struct hooks_conf *c, const char *path, char *err, size_t errlen)
{
    /* Read at startup or on SIGHUP, on the hub's loop before anything is
     * served from it, like the config file itself. */
    FILE *f = fopen(path, "r");
    if (!f)
        return errbuf_set(err, errlen, "secret_file: cannot open %s: %s", path, strerror(errno));
    char text[HOOKS_SECRET_MAX + 2];
    size_t n = fread(text, 1, sizeof text, f);
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return errbuf_set(err, errlen, "secret_file: cannot read %s", path);
    while (n && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        n--; /* one trailing newline, as editors leave it */
    if (n > HOOKS_SECRET_MAX)
        return errbuf_set(err, errlen, "secret_file: %s holds more than %d bytes", path,
                          HOOKS_SECRET_MAX);
    if (secret_ok(text, n, err, errlen) < 0)
        return -1;
    memcpy(c->secret, text, n);
    c->secret[n] = '\0';
    c->secret_len = n;
    return 0;
}

int hooks_conf_set(struct hooks_conf *c, const char *key, const char *value, char *err,
                   size_t errlen)
{
    size_t vlen = strlen(value);
    for (size_t i = 0; i < NNUM; i++) {
        const struct num_key *k = &num_keys[i];
        if (strcmp(key, k->ini) != 0)
            continue;
        struct policy_key pk = {k->ini, k->unit, 0, k->min, k->max, NULL, NULL};
        return policy_parse_value(&pk, value, num_field(c, k), err, errlen);
    }
    if (strcmp(key, "url") == 0) {
        if (url_ok("url", value, vlen, err, errlen) < 0)
            return -1;
        set_string(c->base_url, sizeof c->base_url, value, vlen);
        return 0;
    }
    if (strcmp(key, "secret") == 0) {
        if (secret_ok(value, vlen, err, errlen) < 0)
            return -1;
        set_string(c->secret, sizeof c->secret, value, vlen);
        c->secret_len = vlen;
        return 0;
    }
    if (strcmp(key, "secret_file") == 0)
        return set_secret_file(c, value, err, errlen);
    if (strcmp(key, "forward_headers") == 0) {
        c->nheaders = 0;
        return each_word(c, 0, value, 1, err, errlen);
    }
    const char *us = strchr(key, '_');
    int e = event_of(key, us ? (size_t)(us - key) : strlen(key));
    if (e < 0)
        return errbuf_set(err, errlen, "'%s' is not a [hooks] key", key);
    struct hook_event_conf *ev = &c->ev[e];
    if (!us) {
        if (strcmp(value, "off") == 0)
            ev->mode = HOOK_OFF;
        else if (strcmp(value, "closed") == 0 || strcmp(value, "on") == 0)
            ev->mode = HOOK_FAIL_CLOSED;
        else if (strcmp(value, "open") == 0)
            ev->mode = HOOK_FAIL_OPEN;
        else
            return errbuf_set(err, errlen, "%s: '%s' is not off, on, closed or open", key, value);
        if (e == HOOK_DISCONNECT && ev->mode != HOOK_OFF)
            ev->mode = HOOK_FAIL_CLOSED; /* a report: nothing fails open or closed */
        return 0;
    }
    if (strcmp(us, "_url") == 0) {
        if (url_ok(key, value, vlen, err, errlen) < 0)
            return -1;
        set_string(ev->url, sizeof ev->url, value, vlen);
        return 0;
    }
    if (strcmp(us, "_topics") == 0 && event_has_topics(e)) {
        ev->ntopics = 0;
        return each_word(c, e, value, 0, err, errlen);
    }
    return errbuf_set(err, errlen, "'%s' is not a [hooks] key", key);
}

/* The URL of event e: its own, else url + "/" + its name (one '/' only). */
static int derive_url(struct hooks_conf *c, int e, char *err, size_t errlen)
{
    struct hook_event_conf *ev = &c->ev[e];
    if (ev->mode == HOOK_OFF) {
        /* Off: nothing of it is kept, so that every conf has one form. */
        memset(ev, 0, sizeof *ev);
        if (e == HOOK_DISCONNECT) {
            c->disconnect_batch = 100;
            c->disconnect_interval_ms = 1000;
            c->disconnect_retries = 3;
        }
        return 0;
    }
    if (ev->url[0])
        return 0;
    size_t n = strlen(c->base_url);
    if (!n)
        return errbuf_set(err, errlen, "%s is on but neither url nor %s_url is set", event_names[e],
                          event_names[e]);
    const char *slash = c->base_url[n - 1] == '/' ? "" : "/";
    int w = snprintf(ev->url, sizeof ev->url, "%s%s%s", c->base_url, slash, event_names[e]);
    if (w < 0 || (size_t)w > HOOKS_URL_MAX) {
        ev->url[0] = '\0';
        return errbuf_set(err, errlen, "%s: url + \"/%s\" is longer than %d bytes", event_names[e],
                          event_names[e], HOOKS_URL_MAX);
    }
    return 0;
}

int hooks_conf_finish(struct hooks_conf *c, char *err, size_t errlen)
{
    for (int e = 0; e < HOOK_EVENTS; e++)
        if (derive_url(c, e, err, errlen) < 0)
            return -1;
    return 0;
}

/* ---- JSON out */

static void write_key(struct buf *out, int *first, const char *key)
{
    if (!*first)
        buf_append_str(out, ",");
    *first = 0;
    json_write_str(out, key, strlen(key));
    buf_append_str(out, ":");
}

static void write_num(struct buf *out, int *first, const struct hooks_conf *c, const char *where)
{
    for (size_t i = 0; i < NNUM; i++) {
        const struct num_key *k = &num_keys[i];
        if ((where == NULL) != (k->where == NULL) || (where && strcmp(where, k->where) != 0))
            continue;
        write_key(out, first, k->json);
        json_write_i64(out, num_get(c, k));
    }
}

/* The URL derive_url would give event e, to tell whether its own differs. */
static int url_is_derived(const struct hooks_conf *c, int e)
{
    char want[HOOKS_URL_MAX + 64];
    size_t n = strlen(c->base_url);
    if (!n)
        return 0;
    snprintf(want, sizeof want, "%s%s%s", c->base_url, c->base_url[n - 1] == '/' ? "" : "/",
             event_names[e]);
    return strcmp(want, c->ev[e].url) == 0;
}

void hooks_conf_to_json(const struct hooks_conf *c, struct buf *out, int with_secret)
{
    int first = 1;
    buf_append_str(out, "{");
    write_key(out, &first, "version");
    json_write_u64(out, c->version);
    if (c->base_url[0]) {
        write_key(out, &first, "url");
        json_write_str(out, c->base_url, strlen(c->base_url));
    }
    write_key(out, &first, "secret");
    if (with_secret)
        json_write_str(out, c->secret, c->secret_len);
    else
        buf_append_str(out, c->secret_len ? "\"(set)\"" : "\"\"");
    write_num(out, &first, c, NULL);
    write_key(out, &first, "breaker");
    int bfirst = 1;
    buf_append_str(out, "{");
    write_num(out, &bfirst, c, "breaker");
    buf_append_str(out, "}");
    write_key(out, &first, "forward_headers");
    buf_append_str(out, "[");
    for (unsigned i = 0; i < c->nheaders; i++) {
        if (i)
            buf_append_str(out, ",");
        json_write_str(out, c->headers[i], strlen(c->headers[i]));
    }
    buf_append_str(out, "]");
    write_key(out, &first, "events");
    buf_append_str(out, "{");
    int efirst = 1;
    for (int e = 0; e < HOOK_EVENTS; e++) {
        const struct hook_event_conf *ev = &c->ev[e];
        if (ev->mode == HOOK_OFF)
            continue;
        write_key(out, &efirst, event_names[e]);
        buf_append_str(out, "{");
        int f = 1;
        if (e != HOOK_DISCONNECT) {
            write_key(out, &f, "fail");
            buf_append_str(out, ev->mode == HOOK_FAIL_OPEN ? "\"open\"" : "\"closed\"");
        }
        if (!url_is_derived(c, e)) {
            write_key(out, &f, "url");
            json_write_str(out, ev->url, strlen(ev->url));
        }
        if (event_has_topics(e) && ev->ntopics) {
            write_key(out, &f, "topics");
            buf_append_str(out, "[");
            for (unsigned i = 0; i < ev->ntopics; i++) {
                if (i)
                    buf_append_str(out, ",");
                json_write_str(out, ev->topics[i], strlen(ev->topics[i]));
            }
            buf_append_str(out, "]");
        }
        if (e == HOOK_DISCONNECT)
            write_num(out, &f, c, "disconnect");
        buf_append_str(out, "}");
    }
    buf_append_str(out, "}}");
}

/* ---- JSON in */

static int read_num(struct hooks_conf *c, const char *where, const char *key, const json_t *v,
                    char *err, size_t errlen)
{
    for (size_t i = 0; i < NNUM; i++) {
        const struct num_key *k = &num_keys[i];
        if ((where == NULL) != (k->where == NULL) || (where && strcmp(where, k->where) != 0) ||
            strcmp(key, k->json) != 0)
            continue;
        const char *pre = where ? where : "", *dot = where ? "." : "";
        if (!json_is_integer(v))
            return errbuf_set(err, errlen, "%s%s%s: must be an integer", pre, dot, key);
        json_int_t n = json_integer_value(v);
        if (n < k->min || n > k->max)
            return errbuf_set(err, errlen, "%s%s%s: out of range [%ld, %ld]", pre, dot, key, k->min,
                              k->max);
        *num_field(c, k) = (long)n;
        return 1;
    }
    return 0;
}

static int read_string_array(struct hooks_conf *c, int e, const char *what, const json_t *a,
                             char *err, size_t errlen)
{
    if (!json_is_array(a))
        return errbuf_set(err, errlen, "%s: must be an array of strings", what);
    size_t i;
    const json_t *v;
    json_array_foreach(a, i, v)
    {
        if (!json_is_string(v))
            return errbuf_set(err, errlen, "%s: must be an array of strings", what);
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        int rc = e < 0 ? add_header(c, s, n, err, errlen) : add_topic(c, e, s, n, err, errlen);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int read_event(struct hooks_conf *c, int e, const json_t *o, char *err, size_t errlen)
{
    const char *name = event_names[e];
    if (!json_is_object(o))
        return errbuf_set(err, errlen, "events.%s: must be an object", name);
    struct hook_event_conf *ev = &c->ev[e];
    ev->mode = HOOK_FAIL_CLOSED;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        char what[64];
        snprintf(what, sizeof what, "events.%s.%s", name, key);
        if (strcmp(key, "fail") == 0 && e != HOOK_DISCONNECT) {
            const char *s = json_string_value(v);
            if (s && strcmp(s, "closed") == 0)
                ev->mode = HOOK_FAIL_CLOSED;
            else if (s && strcmp(s, "open") == 0)
                ev->mode = HOOK_FAIL_OPEN;
            else
                return errbuf_set(err, errlen, "%s: must be \"closed\" or \"open\"", what);
        } else if (strcmp(key, "url") == 0) {
            if (!json_is_string(v))
                return errbuf_set(err, errlen, "%s: must be a string", what);
            if (url_ok(what, json_string_value(v), json_string_length(v), err, errlen) < 0)
                return -1;
            set_string(ev->url, sizeof ev->url, json_string_value(v), json_string_length(v));
        } else if (strcmp(key, "topics") == 0 && event_has_topics(e)) {
            if (read_string_array(c, e, what, v, err, errlen) < 0)
                return -1;
        } else if (e == HOOK_DISCONNECT) {
            int rc = read_num(c, "disconnect", key, v, err, errlen);
            if (rc < 0)
                return -1;
            if (rc == 0)
                return errbuf_set(err, errlen, "%s: unknown key", what);
        } else {
            return errbuf_set(err, errlen, "%s: unknown key", what);
        }
    }
    return 0;
}

static int read_doc(struct hooks_conf *c, const json_t *doc, char *err, size_t errlen)
{
    if (!json_is_object(doc))
        return errbuf_set(err, errlen, "not a JSON object");
    const json_t *ver = json_object_get(doc, "version");
    if (!ver)
        return errbuf_set(err, errlen, "version: missing");
    if (!json_is_integer(ver) || json_integer_value(ver) < 0)
        return errbuf_set(err, errlen, "version: must be a non-negative integer");
    c->version = (uint64_t)json_integer_value(ver);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)doc, key, v)
    {
        if (strcmp(key, "version") == 0)
            continue;
        if (strcmp(key, "url") == 0) {
            if (!json_is_string(v))
                return errbuf_set(err, errlen, "url: must be a string");
            if (url_ok("url", json_string_value(v), json_string_length(v), err, errlen) < 0)
                return -1;
            set_string(c->base_url, sizeof c->base_url, json_string_value(v),
                       json_string_length(v));
        } else if (strcmp(key, "secret") == 0) {
            if (!json_is_string(v))
                return errbuf_set(err, errlen, "secret: must be a string");
            size_t n = json_string_length(v);
            if (secret_ok(json_string_value(v), n, err, errlen) < 0)
                return -1;
            set_string(c->secret, sizeof c->secret, json_string_value(v), n);
            c->secret_len = n;
        } else if (strcmp(key, "breaker") == 0) {
            if (!json_is_object(v))
                return errbuf_set(err, errlen, "breaker: must be an object");
            const char *bk;
            json_t *bv;
            json_object_foreach(v, bk, bv)
            {
                int rc = read_num(c, "breaker", bk, bv, err, errlen);
                if (rc < 0)
                    return -1;
                if (rc == 0)
                    return errbuf_set(err, errlen, "breaker.%s: unknown key", bk);
            }
        } else if (strcmp(key, "forward_headers") == 0) {
            if (read_string_array(c, -1, "forward_headers", v, err, errlen) < 0)
                return -1;
        } else if (strcmp(key, "events") == 0) {
            if (!json_is_object(v))
                return errbuf_set(err, errlen, "events: must be an object");
            const char *ek;
            json_t *ev;
            json_object_foreach(v, ek, ev)
            {
                int e = event_of(ek, strlen(ek));
                if (e < 0)
                    return errbuf_set(err, errlen, "events.%.64s: not an event", ek);
                if (read_event(c, e, ev, err, errlen) < 0)
                    return -1;
            }
        } else {
            int rc = read_num(c, NULL, key, v, err, errlen);
            if (rc < 0)
                return -1;
            if (rc == 0)
                return errbuf_set(err, errlen, "%.64s: unknown key", key);
        }
    }
    return hooks_conf_finish(c, err, errlen);
}

int hooks_conf_from_json(struct hooks_conf *c, const char *doc, size_t len, char *err,
                         size_t errlen)
{
    hooks_conf_defaults(c);
    if (len > HOOKS_DOC_MAX)
        return errbuf_set(err, errlen, "%zu bytes (at most %d)", len, HOOKS_DOC_MAX);
    json_error_t je;
    json_t *j = json_loadb(doc, len, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return errbuf_set(err, errlen, "not JSON: %s", je.text);
    int rc = read_doc(c, j, err, errlen);
    json_decref(j);
    if (rc < 0)
        hooks_conf_defaults(c);
    return rc;
}

int hooks_conf_topic_matches(const struct hook_event_conf *e, const char *topic, size_t len)
{
    if (e->ntopics == 0)
        return 1;
    for (unsigned i = 0; i < e->ntopics; i++)
        if (topic_pattern_match(e->topics[i], strlen(e->topics[i]), topic, len))
            return 1;
    return 0;
}

int hooks_conf_equal(const struct hooks_conf *a, const struct hooks_conf *b)
{
    for (int e = 0; e < HOOK_EVENTS; e++) {
        const struct hook_event_conf *x = &a->ev[e], *y = &b->ev[e];
        if (x->mode != y->mode || strcmp(x->url, y->url) != 0 || x->ntopics != y->ntopics)
            return 0;
        for (unsigned i = 0; i < x->ntopics; i++)
            if (strcmp(x->topics[i], y->topics[i]) != 0)
                return 0;
    }
    if (strcmp(a->base_url, b->base_url) != 0 || a->secret_len != b->secret_len ||
        memcmp(a->secret, b->secret, a->secret_len) != 0 || a->nheaders != b->nheaders)
        return 0;
    for (unsigned i = 0; i < a->nheaders; i++)
        if (strcmp(a->headers[i], b->headers[i]) != 0)
            return 0;
    for (size_t i = 0; i < NNUM; i++)
        if (num_get(a, &num_keys[i]) != num_get(b, &num_keys[i]))
            return 0;
    return 1;
}
