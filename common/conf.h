/* Settings from an INI file (-c FILE, parsed with inih) and command-line
 * flags. Every setting is a key `foo_bar` in the file and a flag
 * `--foo-bar VALUE` (or `--foo-bar=VALUE`); flags override the file.
 * Errors (unknown key, malformed value, missing file) print one line naming
 * the culprit and exit with status 2. */
#ifndef SPOKE_CONF_H
#define SPOKE_CONF_H
#include <stddef.h>

enum conf_type {
    CONF_STR,      /* ptr: char ** (heap copy, replaced on each set) */
    CONF_INT,      /* ptr: long *, checked against [min, max] */
    CONF_BOOL,     /* ptr: int *; true/false/yes/no/on/off/1/0; a bare --flag is true */
    CONF_LBOOL,    /* as CONF_BOOL, ptr: long * (a policy key) */
    CONF_ADDR,     /* ptr: struct net_addr *; "HOST:PORT" */
    CONF_ADDRS,    /* ptr: struct net_addr_list *; "HOST:PORT[,HOST:PORT...]" */
    CONF_LOGLEVEL, /* ptr: enum log_level *; debug|info|warn|error */
    CONF_MS,       /* ptr: long * milliseconds; written as seconds ("30", "0.25"),
                    * checked against [min, max] milliseconds */
    CONF_BYTES,    /* ptr: long * bytes; an integer, or one followed by KiB, MiB,
                    * GiB or TiB ("64MiB"), checked against [min, max] */
};

struct conf_opt {
    const char *key; /* file key; the flag is "--" + key with '_' -> '-' */
    enum conf_type type;
    void *ptr;
    const char *def;     /* default applied before the file; NULL: keep the caller's value */
    long min, max;       /* CONF_INT bounds */
    const char *help;    /* one line; for def == NULL it should say what the default is */
    const char *section; /* INI section holding the key (NULL: top level); the flag is
                           * the same either way */
};

/* Keys in sections that no option names (e.g. [edge.NAME]) go here; return
 * 0, or -1 with a message in err (which makes loading fail). NULL: such
 * sections are an error. */
typedef int (*conf_section_fn)(void *ud, const char *section, const char *key, const char *value,
                               char *err, size_t errlen);

struct conf_spec {
    const char *prog;    /* "spoke-edge" */
    const char *summary; /* one line for --help */
    const struct conf_opt *opts;
    size_t nopts;
    conf_section_fn on_section;
    void *ud;
    unsigned char *from_flag; /* if set: nopts flags, set to 1 for options given as flags */
    const char **config_path; /* if set: receives the -c FILE path (or NULL) */
};

/* Applies defaults, then the file named by -c/--config (if any), then the
 * flags. Handles --help and --version (prints and exits 0). Exits 2 on any
 * error. Returns only on success. */
void conf_load(const struct conf_spec *spec, int argc, char **argv, const char *version);

/* Re-reads the file for a live reload: applies only options in `section`
 * (and passes unclaimed sections to on_section); top-level keys, which need
 * a restart, are skipped. Returns 0, or -1 with a message in err. */
int conf_reload(const struct conf_spec *spec, const char *path, const char *section, char *err,
                size_t errlen);

/* Sets one option from its text form. Returns 0, or -1 with a message in err. */
int conf_set(const struct conf_opt *opt, const char *value, char *err, size_t errlen);

#endif
