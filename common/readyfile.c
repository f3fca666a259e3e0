/* The ready file: see readyfile.h. */
#include "common/readyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int readyfile_write(const char *path, const json_t *doc, char *err, size_t errlen)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        snprintf(err, errlen, "ready file %s: path too long", path);
        return -1;
    }
    char *text = json_dumps(doc, JSON_COMPACT);
    if (!text) {
        snprintf(err, errlen, "ready file %s: cannot encode", path);
        return -1;
    }
    size_t len = strlen(text);
    text[len++] = '\n'; /* over json_dumps's NUL: we write len bytes */
    int rc = -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "ready file %s: %s", tmp, strerror(errno));
        goto done;
    }
    /* No fsync: the file describes this process's life, not data to keep
     * across a power cut; rename alone makes the replacement atomic. */
    ssize_t n = write(fd, text, len);
    int e = n < 0 ? errno : 0;
    if (close(fd) != 0 && !e)
        e = errno;
    if (e || n != (ssize_t)len) {
        snprintf(err, errlen, "ready file %s: %s", tmp, e ? strerror(e) : "short write");
        unlink(tmp);
        goto done;
    }
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "ready file %s: %s", path, strerror(errno));
        unlink(tmp);
        goto done;
    }
    rc = 0;
done:
    free(text);
    return rc;
}

void readyfile_remove(const char *path)
{
    if (path && path[0])
        unlink(path);
}
