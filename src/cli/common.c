#include <stdarg.h>
#include <stdio.h>

#include <errno.h>
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


lo_status cli_read_sample(const lo_model *m, const lo_input_list *list, int s, int n_in, char *const *in_names,
                          char *const *in_paths, const cli_shape *shapes, int n_shapes, lo_sample **sample,
                          lo_error *err) {
    if (!list)
        return lo_sample_read(m, n_in, (const char *const *)in_names, (const char *const *)in_paths, shapes,
                              n_shapes, sample, err);
    const char *const *names, *const *paths;
    int n = lo_input_list_files(list, s, &names, &paths);
    return lo_sample_read(m, n, names, paths, shapes, n_shapes, sample, err);
}
