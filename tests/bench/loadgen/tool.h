/* What spoke-loadgen and spoke-linkgen both need of a command-line tool:
 * dying with a message, and their own CPU time. */
#ifndef SPOKE_BENCH_TOOL_H
#define SPOKE_BENCH_TOOL_H

/* One line on stderr, prefixed with the program's name, then exit(1). */
void lg_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* user+sys CPU seconds of this process. */
double lg_cpu_s(void);

#endif
