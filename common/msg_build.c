/* Builds the edge-to-client messages of protocol v1 (msg.h) straight into an
 * output buffer, without a JSON DOM or an intermediate msgpack buffer. */
#include <string.h>

#include "common/jsoncheck.h"
#include "common/jsonwrite.h"
#include "common/mpcheck.h"
#include "common/mpwrite.h"
#include "common/msg.h"

/* ---- payloads */

int msg_data_check(enum enc enc, const uint8_t *data, size_t len)
{
    if (!data || len == 0)
        return MSG_DATA_INVALID;
    if (enc == ENC_MSGPACK)
        return mp_check_payload(data, len, MSG_DATA_MAX_DEPTH) == 0 ? MSG_DATA_OK
                                                                    : MSG_DATA_INVALID;
    /* A syntax check, not a parse: jansson agrees on every input (the
     * fuzz_jsoncheck driver holds it to that) but builds a document to do
     * it, ten times the CPU per message and worker. */
    if (json_check(data, len, JSON_CHECK_MAX_DEPTH) < 0)
        return MSG_DATA_INVALID;
    return MSG_DATA_OK;
}

int msg_data_render(struct buf *out, enum enc enc, enum enc data_enc, const uint8_t *data,
                    size_t len, size_t budget)
{
    if (!data || len == 0)
        return MSG_DATA_INVALID; /* not a value: appending nothing would corrupt the message */
    /* Longer data is refused before it is parsed, whatever it would render
     * as: a publisher's edge never sends it (msg_parse refuses data longer
     * than its budget), and the check bounds what parsing costs here (a
     * jansson document is up to ~70 times its text) by the budget rather
     * than by the link's message size. */
    if (len > budget)
        return MSG_DATA_OVER_BUDGET;
    if (enc == data_enc) {
        /* Checked once per message and encoding by the caller's design
         * (one build per encoding, never per subscriber). */
        int rc = msg_data_check(enc, data, len);
        if (rc < 0)
            return rc;
        buf_append(out, data, len);
        return MSG_DATA_OK;
    }
    if (enc == ENC_JSON)
        return transcode_msgpack_to_json(data, len, budget, out);
    return transcode_json_to_msgpack(data, len, budget, out);
}

/* ---- builders */

/* Room to reserve for data's rendering: its own length (the usual size in
 * either encoding), but never more than the budget allows. */
static size_t reserve_hint(size_t data_len, size_t budget)
{
    return data_len < budget ? data_len : budget;
}

static const char *nz(const char *s)
{
    return s ? s : "";
}

/* The constant parts of the msgpack maps are written as byte literals (fixmap
 * header, fixstr keys): one memcpy instead of two writer calls per key. The
 * literals are split after each \x escape because a following hex letter
 * would otherwise extend the escape. */

int msg_build_msg(struct buf *out, enum enc enc, const char *topic, size_t topic_len, uint64_t seq,
                  const char *from, size_t from_len, const char *user, size_t user_len,
                  enum enc data_enc, const uint8_t *data, size_t data_len, size_t budget)
{
    size_t mark = buf_readable(out);
    int rc;

    if (enc == ENC_JSON) {
        buf_reserve(out, 56 + topic_len + from_len + reserve_hint(data_len, budget));
        BUF_APPEND_LIT(out, "{\"op\":\"msg\",\"topic\":");
        json_write_str(out, topic, topic_len);
        BUF_APPEND_LIT(out, ",\"seq\":");
        json_write_u64(out, seq);
        BUF_APPEND_LIT(out, ",\"data\":");
        if ((rc = msg_data_render(out, enc, data_enc, data, data_len, budget)) < 0)
            goto fail;
        BUF_APPEND_LIT(out, ",\"from\":");
        json_write_str(out, from, from_len);
        if (user_len) {
            BUF_APPEND_LIT(out, ",\"user\":");
            json_write_str(out, user, user_len);
        }
        buf_append_u8(out, '}');
        return 0;
    }

    buf_reserve(out, 56 + topic_len + from_len + user_len + reserve_hint(data_len, budget));
    buf_append_u8(out, user_len ? 0x86 : 0x85); /* fixmap of 6 or 5 */
    BUF_APPEND_LIT(out, "\xa2op\xa3msg\xa5topic");
    mp_write_str(out, topic, topic_len);
    BUF_APPEND_LIT(out, "\xa3seq");
    mp_write_uint(out, seq);
    BUF_APPEND_LIT(out, "\xa4"
                        "data");
    if ((rc = msg_data_render(out, enc, data_enc, data, data_len, budget)) < 0)
        goto fail;
    BUF_APPEND_LIT(out, "\xa4"
                        "from");
    mp_write_str(out, from, from_len);
    if (user_len) {
        BUF_APPEND_LIT(out, "\xa4"
                            "user");
        mp_write_str(out, user, user_len);
    }
    return 0;
fail:
    buf_truncate(out, mark);
    return rc;
}

int msg_build_direct(struct buf *out, enum enc enc, const char *from, size_t from_len,
                     const char *user, size_t user_len, enum enc data_enc, const uint8_t *data,
                     size_t data_len, size_t budget)
{
    size_t mark = buf_readable(out);
    int rc;

    if (enc == ENC_JSON) {
        buf_reserve(out, 40 + from_len + reserve_hint(data_len, budget));
        BUF_APPEND_LIT(out, "{\"op\":\"direct\",\"from\":");
        json_write_str(out, from, from_len);
        if (user_len) {
            BUF_APPEND_LIT(out, ",\"user\":");
            json_write_str(out, user, user_len);
        }
        BUF_APPEND_LIT(out, ",\"data\":");
        if ((rc = msg_data_render(out, enc, data_enc, data, data_len, budget)) < 0)
            goto fail;
        buf_append_u8(out, '}');
        return 0;
    }

    buf_reserve(out, 40 + from_len + user_len + reserve_hint(data_len, budget));
    buf_append_u8(out, user_len ? 0x84 : 0x83); /* fixmap of 4 or 3 */
    BUF_APPEND_LIT(out, "\xa2op\xa6"
                        "direct\xa4"
                        "from");
    mp_write_str(out, from, from_len);
    if (user_len) {
        BUF_APPEND_LIT(out, "\xa4"
                            "user");
        mp_write_str(out, user, user_len);
    }
    BUF_APPEND_LIT(out, "\xa4"
                        "data");
    if ((rc = msg_data_render(out, enc, data_enc, data, data_len, budget)) < 0)
        goto fail;
    return 0;
fail:
    buf_truncate(out, mark);
    return rc;
}

void msg_build_welcome(struct buf *out, enum enc enc, const char *conn, const char *edge,
                       const char *region, const struct policy *policy, const char *user)
{
    conn = nz(conn);
    edge = nz(edge);
    region = nz(region);
    user = nz(user);
    size_t cl = strlen(conn), el = strlen(edge), rl = strlen(region), ul = strlen(user);

    if (enc == ENC_JSON) {
        BUF_APPEND_LIT(out, "{\"op\":\"welcome\",\"conn\":");
        json_write_str(out, conn, cl);
        BUF_APPEND_LIT(out, ",\"edge\":");
        json_write_str(out, edge, el);
        BUF_APPEND_LIT(out, ",\"region\":");
        json_write_str(out, region, rl);
        if (ul) {
            BUF_APPEND_LIT(out, ",\"user\":");
            json_write_str(out, user, ul);
        }
        if (policy) {
            BUF_APPEND_LIT(out, ",\"policy\":{\"idle_timeout_ms\":");
            json_write_i64(out, policy->idle_timeout_ms);
            BUF_APPEND_LIT(out, ",\"ping_interval_ms\":");
            json_write_i64(out, policy->ping_interval_ms);
            BUF_APPEND_LIT(out, ",\"max_message_bytes\":");
            json_write_i64(out, policy->max_message_bytes);
            buf_append_u8(out, '}');
        }
        buf_append_u8(out, '}');
        return;
    }

    buf_append_u8(out, (uint8_t)(0x84 + !!policy + !!ul)); /* fixmap of 4 to 6 */
    BUF_APPEND_LIT(out, "\xa2op\xa7welcome\xa4"
                        "conn");
    mp_write_str(out, conn, cl);
    BUF_APPEND_LIT(out, "\xa4"
                        "edge");
    mp_write_str(out, edge, el);
    BUF_APPEND_LIT(out, "\xa6region");
    mp_write_str(out, region, rl);
    if (ul) {
        BUF_APPEND_LIT(out, "\xa4"
                            "user");
        mp_write_str(out, user, ul);
    }
    if (policy) {
        BUF_APPEND_LIT(out, "\xa6policy\x83\xafidle_timeout_ms");
        mp_write_int(out, policy->idle_timeout_ms);
        BUF_APPEND_LIT(out, "\xb0ping_interval_ms");
        mp_write_int(out, policy->ping_interval_ms);
        BUF_APPEND_LIT(out, "\xb1max_message_bytes");
        mp_write_int(out, policy->max_message_bytes);
    }
}

void msg_build_pong(struct buf *out, enum enc enc, int has_id, int64_t id)
{
    if (enc == ENC_JSON) {
        BUF_APPEND_LIT(out, "{\"op\":\"pong\"");
        if (has_id) {
            BUF_APPEND_LIT(out, ",\"id\":");
            json_write_i64(out, id);
        }
        buf_append_u8(out, '}');
        return;
    }
    buf_append_u8(out, has_id ? 0x82 : 0x81);
    BUF_APPEND_LIT(out, "\xa2op\xa4pong");
    if (has_id) {
        BUF_APPEND_LIT(out, "\xa2id");
        mp_write_int(out, id);
    }
}

void msg_build_ack(struct buf *out, enum enc enc, int64_t id)
{
    if (enc == ENC_JSON) {
        BUF_APPEND_LIT(out, "{\"op\":\"ack\",\"id\":");
        json_write_i64(out, id);
        buf_append_u8(out, '}');
        return;
    }

    BUF_APPEND_LIT(out, "\x82\xa2op\xa3"
                        "ack\xa2id");
    mp_write_int(out, id);
}

void msg_build_ack_at(struct buf *out, enum enc enc, int64_t id, uint64_t seq, const char *epoch,
                      int recovered, const char *reason)
{
    size_t el = epoch ? strlen(epoch) : 0;
    int with_reason = recovered == 0 && reason;
    size_t rl = with_reason ? strlen(reason) : 0;

    if (enc == ENC_JSON) {
        BUF_APPEND_LIT(out, "{\"op\":\"ack\",\"id\":");
        json_write_i64(out, id);
        if (epoch) {
            BUF_APPEND_LIT(out, ",\"seq\":");
            json_write_u64(out, seq);
            BUF_APPEND_LIT(out, ",\"epoch\":");
            json_write_str(out, epoch, el);
        }
        if (recovered >= 0) {
            if (recovered)
                BUF_APPEND_LIT(out, ",\"recovered\":true");
            else
                BUF_APPEND_LIT(out, ",\"recovered\":false");
        }
        if (with_reason) {
            BUF_APPEND_LIT(out, ",\"reason\":");
            json_write_str(out, reason, rl);
        }
        buf_append_u8(out, '}');
        return;
    }

    mp_write_map(out, 2 + (epoch ? 2 : 0) + (recovered >= 0) + with_reason);
    BUF_APPEND_LIT(out, "\xa2op\xa3"
                        "ack\xa2id");
    mp_write_int(out, id);
    if (epoch) {
        BUF_APPEND_LIT(out, "\xa3seq");
        mp_write_uint(out, seq);
        BUF_APPEND_LIT(out, "\xa5"
                            "epoch");
        mp_write_str(out, epoch, el);
    }
    if (recovered >= 0) {
        BUF_APPEND_LIT(out, "\xa9recovered");
        mp_write_bool(out, recovered != 0);
    }
    if (with_reason) {
        BUF_APPEND_LIT(out, "\xa6reason");
        mp_write_str(out, reason, rl);
    }
}

void msg_build_reset(struct buf *out, enum enc enc, const char *topic, size_t topic_len,
                     uint64_t seq, const char *epoch, const char *reason)
{
    epoch = nz(epoch);
    reason = nz(reason);
    size_t el = strlen(epoch), rl = strlen(reason);

    if (enc == ENC_JSON) {
        BUF_APPEND_LIT(out, "{\"op\":\"reset\",\"topic\":");
        json_write_str(out, topic, topic_len);
        BUF_APPEND_LIT(out, ",\"seq\":");
        json_write_u64(out, seq);
        BUF_APPEND_LIT(out, ",\"epoch\":");
        json_write_str(out, epoch, el);
        BUF_APPEND_LIT(out, ",\"reason\":");
        json_write_str(out, reason, rl);
        buf_append_u8(out, '}');
        return;
    }

    BUF_APPEND_LIT(out, "\x85\xa2op\xa5"
                        "reset\xa5topic");
    mp_write_str(out, topic, topic_len);
    BUF_APPEND_LIT(out, "\xa3seq");
    mp_write_uint(out, seq);
    BUF_APPEND_LIT(out, "\xa5"
                        "epoch");
    mp_write_str(out, epoch, el);
    BUF_APPEND_LIT(out, "\xa6reason");
    mp_write_str(out, reason, rl);
}

void msg_build_error(struct buf *out, enum enc enc, int has_id, int64_t id, int code,
                     const char *reason)
{
    reason = nz(reason);
    size_t rl = strlen(reason);

    if (enc == ENC_JSON) {
        BUF_APPEND_LIT(out, "{\"op\":\"error\"");
        if (has_id) {
            BUF_APPEND_LIT(out, ",\"id\":");
            json_write_i64(out, id);
        }
        BUF_APPEND_LIT(out, ",\"code\":");
        json_write_i64(out, code);
        BUF_APPEND_LIT(out, ",\"reason\":");
        json_write_str(out, reason, rl);
        buf_append_u8(out, '}');
        return;
    }

    if (has_id) {
        BUF_APPEND_LIT(out, "\x84\xa2op\xa5"
                            "error\xa2id");
        mp_write_int(out, id);
    } else {
        BUF_APPEND_LIT(out, "\x83\xa2op\xa5"
                            "error");
    }
    BUF_APPEND_LIT(out, "\xa4"
                        "code");
    mp_write_int(out, code);
    BUF_APPEND_LIT(out, "\xa6reason");
    mp_write_str(out, reason, rl);
}

int msg_build_rpc_result(struct buf *out, enum enc enc, int64_t id, enum enc data_enc,
                         const uint8_t *data, size_t data_len, size_t budget)
{
    size_t mark = buf_readable(out);
    int rc;
    if (enc == ENC_JSON) {
        buf_reserve(out, 40 + reserve_hint(data_len, budget));
        BUF_APPEND_LIT(out, "{\"op\":\"rpc\",\"id\":");
        json_write_i64(out, id);
        BUF_APPEND_LIT(out, ",\"data\":");
        if ((rc = msg_data_render(out, enc, data_enc, data, data_len, budget)) < 0)
            goto fail;
        buf_append_u8(out, '}');
        return 0;
    }
    buf_reserve(out, 40 + reserve_hint(data_len, budget));
    BUF_APPEND_LIT(out, "\x83\xa2op\xa3rpc\xa2id");
    mp_write_int(out, id);
    BUF_APPEND_LIT(out, "\xa4"
                        "data");
    if ((rc = msg_data_render(out, enc, data_enc, data, data_len, budget)) < 0)
        goto fail;
    return 0;
fail:
    buf_truncate(out, mark);
    return rc;
}

int msg_welcome_add_data(struct buf *out, size_t mark, enum enc enc, enum enc data_enc,
                         const uint8_t *data, size_t data_len, size_t budget)
{
    size_t end = buf_readable(out);
    uint8_t *w = buf_head(out) + mark;
    int rc;
    if (enc == ENC_JSON) {
        buf_truncate(out, end - 1); /* the closing brace */
        BUF_APPEND_LIT(out, ",\"data\":");
        if ((rc = msg_data_render(out, enc, data_enc, data, data_len, budget)) < 0)
            goto fail;
        buf_append_u8(out, '}');
        return 0;
    }
    if (w[0] < 0x80 || w[0] >= 0x8f)
        return MSG_DATA_INVALID; /* not a fixmap with room for one more key */
    BUF_APPEND_LIT(out, "\xa4"
                        "data");
    if ((rc = msg_data_render(out, enc, data_enc, data, data_len, budget)) < 0)
        goto fail;
    buf_head(out)[mark]++; /* one more key in the fixmap */
    return 0;
fail:
    if (enc == ENC_JSON) {
        buf_truncate(out, end - 1);
        buf_append_u8(out, '}');
    } else {
        buf_truncate(out, end);
    }
    return rc;
}
