/* For unit tests of what the hub reads from Redis: a reply as Redis would
 * send it, parsed from RESP by hiredis's reader. Include after cmocka.h. */
#ifndef SPOKE_TESTS_RESP_REPLY_H
#define SPOKE_TESTS_RESP_REPLY_H
#include <hiredis/hiredis.h>
#include <string.h>

/* One reply (freed by the caller with freeReplyObject). */
static redisReply *resp(const char *bytes)
{
    redisReader *rd = redisReaderCreate();
    void *reply = NULL;
    redisReaderFeed(rd, bytes, strlen(bytes));
    assert_int_equal(redisReaderGetReply(rd, &reply), REDIS_OK);
    assert_non_null(reply);
    redisReaderFree(rd);
    return reply;
}

#endif
