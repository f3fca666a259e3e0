/* libFuzzer driver for msg_parse (common/msg.h): every input is parsed as a
 * spoke.json text frame and as a spoke.msgpack binary frame, with one
 * msg_parser reused across inputs as a worker reuses it across frames.
 * An accepted message must satisfy the protocol's field rules, and its data
 * must be what every receiving edge can deliver: one valid value in the
 * frame's encoding that passes the splice check, and that transcodes to the
 * other encoding within the parser's render budget. The budget is small
 * here (BUDGET) so that fuzzed inputs reach it. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"
#include "common/mpcheck.h"
#include "common/msg.h"
#include "common/utf8.h"
#include "tests/fuzz/fuzz_check.h"

#define BUDGET 512

static struct msg_parser *parser;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    parser = msg_parser_new();
    FUZZ_CHECK(parser != NULL);
    msg_parser_set_render_budget(parser, BUDGET);
    return 0;
}

static void check_accepted(enum enc enc, const uint8_t *frame, size_t len,
                           const struct client_msg *m)
{
    FUZZ_CHECK(m->op >= OP_SUB && m->op <= OP_PING);
    switch (m->op) {
    case OP_PING: return;
    case OP_SEND:
        FUZZ_CHECK(m->to != NULL && m->to_len >= 1 && m->to_len <= CONN_ID_MAX_LEN);
        FUZZ_CHECK(m->topic == NULL);
        break;
    default:
        FUZZ_CHECK(topic_is_valid(m->topic, m->topic_len));
        FUZZ_CHECK(m->to == NULL);
        break;
    }
    if (m->op != OP_PUB && m->op != OP_SEND) {
        FUZZ_CHECK(m->data == NULL && m->data_len == 0);
        return;
    }
    FUZZ_CHECK(m->data != NULL && m->data_len > 0);
    /* Spliced as is for clients of its own encoding. */
    FUZZ_CHECK(m->data_len <= BUDGET);
    FUZZ_CHECK(msg_data_check(enc, m->data, m->data_len) == MSG_DATA_OK);

    struct buf other = BUF_INIT;
    if (enc == ENC_MSGPACK) {
        /* data is the client's own bytes: one complete object in the frame,
         * the to id valid UTF-8 (all msgpack strings are checked). */
        FUZZ_CHECK(m->data >= frame && m->data_len <= len - (size_t)(m->data - frame));
        FUZZ_CHECK(mp_check(m->data, m->data_len, MSG_DATA_MAX_DEPTH) == 0);
        if (m->to)
            FUZZ_CHECK(utf8_is_valid((const uint8_t *)m->to, m->to_len));
        FUZZ_CHECK(transcode_msgpack_to_json(m->data, m->data_len, BUDGET, &other) == 0);
    } else {
        /* data is jansson's compact dump: valid JSON that reads back, within
         * the nesting that keeps its msgpack form acceptable. */
        json_error_t je;
        json_t *v =
            json_loadb((const char *)m->data, m->data_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        FUZZ_CHECK(v != NULL);
        json_decref(v);
        FUZZ_CHECK(transcode_json_to_msgpack(m->data, m->data_len, BUDGET, &other) == 0);
        FUZZ_CHECK(mp_check(buf_head(&other), buf_readable(&other), MSG_DATA_MAX_DEPTH) == 0);
    }
    buf_deinit(&other);
}

static void parse(enum enc enc, const uint8_t *data, size_t size)
{
    struct client_msg m;
    struct msg_error err;

    if (msg_parse(parser, enc, data, size, &m, &err) == 0) {
        check_accepted(enc, data, size, &m);
        return;
    }
    /* The reason goes back to the client inside a JSON string or msgpack
     * str: a terminated, valid UTF-8 C string. */
    FUZZ_CHECK(err.code == CODE_BAD_REQUEST);
    size_t rlen = strnlen(err.reason, sizeof err.reason);
    FUZZ_CHECK(rlen > 0 && rlen < sizeof err.reason);
    FUZZ_CHECK(utf8_is_valid((const uint8_t *)err.reason, rlen));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse(ENC_JSON, data, size);
    parse(ENC_MSGPACK, data, size);
    return 0;
}
