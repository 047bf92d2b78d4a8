#include <stdarg.h>
#include <stdio.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("layerout: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 2;
}

int cli_fail(const lo_error *err) { return cli_error("%s", err->message); }

bool cli_add_input(char *arg, char **names, char **paths, int *n) {
    if (*n >= CLI_MAX_INPUTS) return false;
    /* NAME=FILE is split in place: argv strings are ours to modify */
    char *eq = strchr(arg, '=');
    if (eq) *eq = 0;
    names[*n] = eq ? arg : NULL;
    paths[*n] = eq ? eq + 1 : arg;
    (*n)++;
    return true;
}

bool cli_parse_shape(char *arg, cli_shape *s) {
    const char *eq = strrchr(arg, '=');
    if (!eq || eq == arg) return false;
    s->rank = 0;
    const char *p = eq + 1;
    if (!*p) return false;
    while (*p) {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < 0 || s->rank >= LO_MAX_RANK) return false;
        s->dims[s->rank++] = v;
        p = end;
        if (*p == 'x' || *p == 'X' || *p == ',') p++;
        else if (*p) return false;
    }
    *(char *)eq = 0; /* split in place, once valid: argv strings are ours to modify */
    s->name = arg;
    return true;
}

int cli_input_option(int c, char *arg, cli_inputs *in) {
    switch (c) {
    case 'i':
        if (!cli_add_input(arg, in->names, in->paths, &in->n)) return cli_error("too many -i inputs");
        return 0;
    case 'L': in->list = arg; return 0;
    default:
        if (in->n_shapes >= (int)(sizeof in->shapes / sizeof in->shapes[0]) ||
            !cli_parse_shape(arg, &in->shapes[in->n_shapes]))
            return cli_error("--shape takes NAME=DIMS such as input=1x3x224x224, got '%s'", arg);
        in->n_shapes++;
        return 0;
    }
}

int cli_parse_rounding(const char *arg, lo_rounding_mode *mode) {
    if (!strcmp(arg, "half-even")) *mode = LO_ROUNDING_HALF_EVEN;
    else if (!strcmp(arg, "half-away")) *mode = LO_ROUNDING_HALF_AWAY;
    else return cli_error("--rounding takes half-even or half-away, got '%s'", arg);
    return 0;
}

lo_status cli_read_sample(const lo_model *m, const lo_input_list *list, int s, const cli_inputs *in,
                          lo_sample **sample, lo_error *err) {
    if (!list)
        return lo_sample_read(m, in->n, (const char *const *)in->names, (const char *const *)in->paths, in->shapes,
                              in->n_shapes, sample, err);
    const char *const *names, *const *paths;
    int n = lo_input_list_files(list, s, &names, &paths);
    return lo_sample_read(m, n, names, paths, in->shapes, in->n_shapes, sample, err);
}

/* ---- the option loop of the commands without getopt ------------------------ */

static bool named(const cli_opt *o, const char *a, size_t len) {
    return (o->name && strlen(o->name) == len && !strncmp(o->name, a, len)) ||
           (o->alias && strlen(o->alias) == len && !strncmp(o->alias, a, len));
}

/* The value of option o in v: 0, or the error exit status after a message. */
static int take_value(const cli_opt *o, const char *v) {
    char *end;
    errno = 0;
    switch (o->kind) {
    case CLI_TEXT: *(const char **)o->to = v; return 0;
    case CLI_COUNT: {
        long n = strtol(v, &end, 10);
        if (errno || end == v || *end || n < 0 || n > o->max)
            return cli_error("%s wants a whole number from 0 to %ld, not '%s'", o->name, o->max, v);
        *(int *)o->to = (int)n;
        return 0;
    }
    case CLI_NUMBER: {
        double d = strtod(v, &end);
        if (errno || end == v || *end || isnan(d)) return cli_error("%s wants a number, not '%s'", o->name, v);
        *(double *)o->to = d;
        return 0;
    }
    case CLI_FLAG:
    case CLI_END: break;
    }
    return 0;
}

int cli_parse(int argc, char **argv, const char *cmd, const char *usage, const cli_opt *opts, const char *takes,
              const char **pos, int max_pos, int *n_pos) {
    *n_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return 0;
        }
        if (a[0] != '-' || !a[1]) {
            if (*n_pos == max_pos)
                return cli_error("%s takes %s; '%s' is one too many", cmd, takes, a);
            pos[(*n_pos)++] = a;
            continue;
        }
        /* --name=value as getopt takes it, or the value as the next argument */
        const char *eq = a[1] == '-' ? strchr(a, '=') : NULL;
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        const cli_opt *o = opts;
        while (o->kind != CLI_END && !named(o, a, len)) o++;
        if (o->kind == CLI_END)
            return cli_error("%s: unknown option '%s' (see 'layerout %s --help')", cmd, a, cmd);
        if (o->kind == CLI_FLAG) {
            if (eq) return cli_error("%s takes no value", o->name);
            *(int *)o->to = 1;
            continue;
        }
        const char *v = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
        if (!v) return cli_error("%s needs a value (see 'layerout %s --help')", o->name, cmd);
        int st = take_value(o, v);
        if (st) return st;
    }
    return -1;
}
