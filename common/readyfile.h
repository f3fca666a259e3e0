/* The ready file (--ready-file): a small JSON object a process writes to say
 * which ports it bound, so that scripts and tests never guess a free port.
 * The file is replaced whole (a temporary file, then rename), so a reader
 * sees either no file, the previous contents or the new ones, never half.
 * Blocking file I/O: call it from a main thread, never from a worker loop. */
#ifndef SPOKE_READYFILE_H
#define SPOKE_READYFILE_H
#include <jansson.h>
#include <stddef.h>

/* Writes doc (borrowed) as one line of JSON to path, replacing any file
 * there. Returns 0, or -1 with a message in err. */
int readyfile_write(const char *path, const json_t *doc, char *err, size_t errlen);
/* Removes path at a clean exit (a missing file is no error). */
void readyfile_remove(const char *path);

#endif
