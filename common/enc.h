/* The two client encodings; the same values travel in link messages to say
 * how a payload ("data") is encoded. */
#ifndef SPOKE_ENC_H
#define SPOKE_ENC_H

enum enc { ENC_JSON = 0, ENC_MSGPACK = 1 };
#define ENC_COUNT 2

#endif
