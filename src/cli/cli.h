/* Subcommands of the layerout command and their shared helpers. */
#ifndef LO_CLI_H
#define LO_CLI_H

#include "layerout.h"

int cli_generate(int argc, char **argv);
int cli_encodings(int argc, char **argv);
int cli_compare(int argc, char **argv);

/* Prints "layerout: MESSAGE" and returns the error exit status (2). */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cli_fail(const lo_error *err);
/* Number of names in a layer_output_name_order.json, or -1. */
int cli_count_layers(const char *path);

#endif
