#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>

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

int cli_count_layers(const char *path) {
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    int n = j ? (int)json_array_size(json_object_get(j, "layer_output_names")) : -1;
    json_decref(j);
    return n;
}
