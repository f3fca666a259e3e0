/* INI file + flag settings: see conf.h. */
#include "common/conf.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/net.h"
#include "common/xalloc.h"

static void flag_name(const char *key, char *out, size_t outlen)
{
    size_t i = 0;
    for (; key[i] && i + 1 < outlen; i++)
        out[i] = key[i] == '_' ? '-' : key[i];
    out[i] = '\0';
}

int conf_set(const struct conf_opt *opt, const char *value, char *err, size_t errlen)
{
    switch (opt->type) {
    case CONF_STR: {
        char **p = opt->ptr;
        free(*p);
        *p = xstrdup(value);
        return 0;
    }
    case CONF_INT: {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end) {
            snprintf(err, errlen, "%s: '%s' is not an integer", opt->key, value);
            return -1;
        }
        if (v < opt->min || v > opt->max) {
            snprintf(err, errlen, "%s: %ld is out of range [%ld, %ld]", opt->key, v, opt->min,
                     opt->max);
            return -1;
        }
        *(long *)opt->ptr = v;
        return 0;
    }
    case CONF_BOOL:
    case CONF_LBOOL: {
        static const char *const yes[] = {"true", "yes", "on", "1"};
        static const char *const no[] = {"false", "no", "off", "0"};
        for (int i = 0; i < 4; i++) {
            if (strcmp(value, yes[i]) == 0 || strcmp(value, no[i]) == 0) {
                int v = strcmp(value, yes[i]) == 0;
                if (opt->type == CONF_LBOOL)
                    *(long *)opt->ptr = v;
                else
                    *(int *)opt->ptr = v;
                return 0;
            }
        }
        snprintf(err, errlen, "%s: '%s' is not a boolean (true or false)", opt->key, value);
        return -1;
    }
    case CONF_ADDR:
        if (net_parse_addr(value, opt->ptr, 1) < 0) {
            snprintf(err, errlen, "%s: '%s' is not HOST:PORT", opt->key, value);
            return -1;
        }
        return 0;
    case CONF_ADDRS: {
        char why[300];
        if (net_parse_addr_list(value, opt->ptr, why, sizeof why) < 0) {
            snprintf(err, errlen, "%s: %s", opt->key, why);
            return -1;
        }
        return 0;
    }
    case CONF_MS: {
        char *end;
        errno = 0;
        double secs = strtod(value, &end);
        if (errno || end == value || *end || !(secs >= 0)) {
            snprintf(err, errlen, "%s: '%s' is not a number of seconds", opt->key, value);
            return -1;
        }
        double ms = secs * 1000.0 + 0.5;
        if (secs > 0 && ms < 1.0)
            ms = 1.0; /* a positive duration never rounds to 0, which means "off" */
        if (ms < (double)opt->min || ms > (double)opt->max + 0.5) {
            snprintf(err, errlen, "%s: %s s is out of range [%g, %g] s", opt->key, value,
                     opt->min / 1000.0, opt->max / 1000.0);
            return -1;
        }
        *(long *)opt->ptr = (long)ms;
        return 0;
    }
    case CONF_BYTES: {
        static const struct {
            const char *unit;
            int shift;
        } units[] = {{"", 0}, {"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40}};
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        size_t u = 0;
        while (u < sizeof units / sizeof units[0] && strcmp(end, units[u].unit) != 0)
            u++;
        if (errno || end == value || *value == '-' || *value == '+' ||
            u == sizeof units / sizeof units[0] || v > (LONG_MAX >> units[u].shift)) {
            snprintf(err, errlen,
                     "%s: '%s' is not a size in bytes (an integer, or with KiB, MiB, GiB or "
                     "TiB, as in 64MiB)",
                     opt->key, value);
            return -1;
        }
        v <<= units[u].shift;
        if (v < opt->min || v > opt->max) {
            snprintf(err, errlen, "%s: %s (%ld bytes) is out of range [%ld, %ld] bytes", opt->key,
                     value, v, opt->min, opt->max);
            return -1;
        }
        *(long *)opt->ptr = v;
        return 0;
    }
    case CONF_LOGLEVEL:
        if (log_parse_level(value, opt->ptr) < 0) {
            snprintf(err, errlen, "%s: '%s' is not a log level (debug, info, warn, error)",
                     opt->key, value);
            return -1;
        }
        return 0;
    }
    snprintf(err, errlen, "%s: unsupported option type", opt->key);
    return -1;
}

static int same_section(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static const struct conf_opt *find_key(const struct conf_spec *spec, const char *section,
                                       const char *key)
{
    for (size_t i = 0; i < spec->nopts; i++)
        if (same_section(spec->opts[i].section, section) && strcmp(spec->opts[i].key, key) == 0)
            return &spec->opts[i];
    return NULL;
}

static int section_is_known(const struct conf_spec *spec, const char *section)
{
    for (size_t i = 0; i < spec->nopts; i++)
        if (same_section(spec->opts[i].section, section))
            return 1;
    return 0;
}

static const struct conf_opt *find_flag(const struct conf_spec *spec, const char *flag, size_t len)
{
    char name[128];
    for (size_t i = 0; i < spec->nopts; i++) {
        flag_name(spec->opts[i].key, name, sizeof name);
        if (strlen(name) == len && memcmp(name, flag, len) == 0)
            return &spec->opts[i];
    }
    return NULL;
}

struct ini_state {
    const struct conf_spec *spec;
    const char *path;
    char err[512];
    unsigned char *seen; /* one flag per option: duplicates are an error */
    const char *only;    /* reload: apply only this section's options */
};

static int on_ini_line(void *user, const char *section, const char *key, const char *value)
{
    struct ini_state *st = user;
    char err[400];
    if (st->err[0])
        return 0;
    if (!section_is_known(st->spec, section[0] ? section : NULL)) {
        if (section[0] && st->spec->on_section) {
            if (st->spec->on_section(st->spec->ud, section, key, value, err, sizeof err) < 0) {
                snprintf(st->err, sizeof st->err, "%s: [%s] %s", st->path, section, err);
                return 0;
            }
            return 1;
        }
        if (section[0])
            snprintf(st->err, sizeof st->err, "%s: unknown section [%s]", st->path, section);
        else
            snprintf(st->err, sizeof st->err, "%s: unknown key '%s'", st->path, key);
        return 0;
    }
    const struct conf_opt *opt = find_key(st->spec, section[0] ? section : NULL, key);
    if (!opt) {
        if (section[0])
            snprintf(st->err, sizeof st->err, "%s: unknown key '%s' in [%s]", st->path, key,
                     section);
        else
            snprintf(st->err, sizeof st->err, "%s: unknown key '%s'", st->path, key);
        return 0;
    }
    if (st->only && !same_section(opt->section, st->only))
        return 1; /* reload: this key needs a restart */
    size_t idx = (size_t)(opt - st->spec->opts);
    if (st->seen[idx]) {
        snprintf(st->err, sizeof st->err, "%s: key '%s' set twice", st->path, key);
        return 0;
    }
    st->seen[idx] = 1;
    if (conf_set(opt, value, err, sizeof err) < 0) {
        snprintf(st->err, sizeof st->err, "%s: %s", st->path, err);
        return 0;
    }
    return 1;
}

static void print_help(const struct conf_spec *spec)
{
    printf("usage: %s [-c FILE] [--KEY VALUE ...]\n%s\n\n", spec->prog, spec->summary);
    printf(
        "  -c, --config FILE          read settings from an INI file (keys as below, '_' for '-')\n");
    printf("  -h, --help                 show this help and exit\n");
    printf("      --version              print the version and exit\n\n");
    for (size_t i = 0; i < spec->nopts; i++) {
        const struct conf_opt *o = &spec->opts[i];
        char name[128], left[160];
        if (o->section && (i == 0 || !same_section(spec->opts[i - 1].section, o->section)))
            printf("\n  in the [%s] section of the file:\n", o->section);
        const char *metavar = o->type == CONF_ADDR                            ? "HOST:PORT"
                              : o->type == CONF_ADDRS                         ? "HOST:PORT[,...]"
                              : o->type == CONF_MS                            ? "SECONDS"
                              : o->type == CONF_BYTES                         ? "BYTES"
                              : o->type == CONF_INT                           ? "N"
                              : o->type == CONF_BOOL || o->type == CONF_LBOOL ? "BOOL"
                              : o->type == CONF_LOGLEVEL                      ? "LEVEL"
                                                                              : "VALUE";
        flag_name(o->key, name, sizeof name);
        snprintf(left, sizeof left, "--%s %s", name, metavar);
        if (o->def)
            printf("      %-26s %s (default: %s)\n", left, o->help, o->def[0] ? o->def : "\"\"");
        else
            printf("      %-26s %s\n", left, o->help);
    }
}

static void die(const char *prog, const char *msg)
{
    fprintf(stderr, "%s: %s\n", prog, msg);
    exit(2);
}

/* Parses an INI file into the options (all, or only section `only`).
 * Returns 0, or -1 with a message in err. */
static int read_file(const struct conf_spec *spec, const char *path, const char *only, char *err,
                     size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read config file %s: %s", path, strerror(errno));
        return -1;
    }
    struct ini_state st = {spec, path, "", xcalloc(spec->nopts, 1), only};
    /* Debian's inih defaults silently cut lines at 200 bytes and turn
     * indented lines into continuations (LIBRARIES.md §10). */
    ini_max_line = 4096;
    ini_allow_multiline = 0;
    int rc = ini_parse_file(f, on_ini_line, &st);
    fclose(f);
    free(st.seen);
    if (st.err[0]) {
        snprintf(err, errlen, "%s", st.err);
        return -1;
    }
    if (rc != 0) {
        snprintf(err, errlen, "%s:%d: syntax error (expected key = value)", path, rc);
        return -1;
    }
    return 0;
}

int conf_reload(const struct conf_spec *spec, const char *path, const char *section, char *err,
                size_t errlen)
{
    return read_file(spec, path, section, err, errlen);
}

void conf_load(const struct conf_spec *spec, int argc, char **argv, const char *version)
{
    char err[512];
    const char *config = NULL;

    for (size_t i = 0; i < spec->nopts; i++) {
        if (spec->opts[i].def && conf_set(&spec->opts[i], spec->opts[i].def, err, sizeof err) < 0)
            die(spec->prog, err); /* a bad built-in default is a bug; say so loudly */
    }

    /* First pass: help, version and the config file. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            print_help(spec);
            exit(0);
        }
        if (strcmp(a, "--version") == 0) {
            printf("%s %s\n", spec->prog, version);
            exit(0);
        }
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            if (i + 1 >= argc) {
                snprintf(err, sizeof err, "%s needs a FILE argument", a);
                die(spec->prog, err);
            }
            config = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            config = a + 9;
        }
    }

    if (spec->config_path)
        *spec->config_path = config;
    if (config && read_file(spec, config, NULL, err, sizeof err) < 0)
        die(spec->prog, err);

    /* Second pass: flags override the file. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            i++;
            continue;
        }
        if (strncmp(a, "--config=", 9) == 0)
            continue;
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, sizeof err, "unexpected argument '%s' (see --help)", a);
            die(spec->prog, err);
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const struct conf_opt *opt = find_flag(spec, name, len);
        if (!opt) {
            snprintf(err, sizeof err, "unknown option '--%.*s' (see --help)", (int)len, name);
            die(spec->prog, err);
        }
        const char *value;
        if (eq) {
            value = eq + 1;
        } else if ((opt->type == CONF_BOOL || opt->type == CONF_LBOOL) &&
                   (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0)) {
            value = "true"; /* a bare switch: --demo */
        } else {
            if (i + 1 >= argc) {
                snprintf(err, sizeof err, "option '--%.*s' needs a value", (int)len, name);
                die(spec->prog, err);
            }
            value = argv[++i];
        }
        char e2[400];
        if (spec->from_flag)
            spec->from_flag[opt - spec->opts] = 1;
        if (conf_set(opt, value, e2, sizeof e2) < 0) {
            snprintf(err, sizeof err, "--%.*s: %s", (int)len, name, strchr(e2, ' ') + 1);
            die(spec->prog, err);
        }
    }
}
