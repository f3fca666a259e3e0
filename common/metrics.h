/* Prometheus text exposition helpers shared by the /metrics endpoints. */
#ifndef SPOKE_METRICS_H
#define SPOKE_METRICS_H
#include "common/buf.h"

/* The HELP and TYPE lines that open a metric family. */
static inline void metrics_family(struct buf *b, const char *name, const char *type,
                                  const char *help)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

#endif
