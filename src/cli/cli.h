/* Subcommands of the layerout command and their shared helpers. */
#ifndef LO_CLI_H
#define LO_CLI_H

#include <stdbool.h>

#include "layerout.h"

int cli_generate(int argc, char **argv);
int cli_encodings(int argc, char **argv);
int cli_compare(int argc, char **argv);
int cli_analyze(int argc, char **argv);
int cli_extract(int argc, char **argv);
int cli_merge(int argc, char **argv);

#define CLI_MAX_INPUTS 256
/* -i FILE or -i NAME=FILE, into names[*n] (NULL: by position) and paths[*n];
 * false when there are too many. */
bool cli_add_input(char *arg, char **names, char **paths, int *n);

/* --shape NAME=1x3x224x224 */
typedef lo_input_shape cli_shape;
bool cli_parse_shape(char *arg, cli_shape *s);
/* Reads sample s of list, or (list NULL) the -i files, into *sample. */
lo_status cli_read_sample(const lo_model *m, const lo_input_list *list, int s, int n_in, char *const *in_names,
                          char *const *in_paths, const cli_shape *shapes, int n_shapes, lo_sample **sample,
                          lo_error *err);

/* Prints "layerout: MESSAGE" and returns the error exit status (2). */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cli_fail(const lo_error *err);

#endif
