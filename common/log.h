/* Logging to stderr, one line per event: time, level, component, message.
 * The component (e.g. "edge-a/w1", "hub") is per thread. */
#ifndef SPOKE_LOG_H
#define SPOKE_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

extern enum log_level log_min_level;

/* Sets this thread's component name (copied, truncated to 63 bytes). */
void log_set_component(const char *name);
/* Parses "debug", "info", "warn" or "error". Returns 0, or -1 if unknown. */
int log_parse_level(const char *s, enum log_level *out);
const char *log_level_name(enum log_level level);
void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...)                         \
    do {                                       \
        if (log_min_level <= LOG_DEBUG)        \
            log_write(LOG_DEBUG, __VA_ARGS__); \
    } while (0)
#define log_info(...)                         \
    do {                                      \
        if (log_min_level <= LOG_INFO)        \
            log_write(LOG_INFO, __VA_ARGS__); \
    } while (0)
#define log_warn(...)                         \
    do {                                      \
        if (log_min_level <= LOG_WARN)        \
            log_write(LOG_WARN, __VA_ARGS__); \
    } while (0)
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)

#endif
