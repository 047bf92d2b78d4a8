/* Subcommands of the layerout command and their shared helpers. */
#ifndef LO_CLI_H
#define LO_CLI_H

#include <stdbool.h>

#include "graph/graph.h"

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
typedef struct cli_shape {
    char *name;
    int rank;
    int64_t dims[LO_MAX_RANK];
} cli_shape;
bool cli_parse_shape(char *arg, cli_shape *s);
/* Reads one sample's input files (names[i] NULL: by position) into
 * tensors[] in model input order, checked against the model; inputs the
 * model declares as sequences or optionals are read from SequenceProto /
 * OptionalProto files. On failure nothing is left to free. */
lo_status cli_load_sample(const lo_model *m, int n_files, char *const *names, char *const *paths,
                          const cli_shape *shapes, int n_shapes, lo_tensor *tensors, lo_error *err);
/* Whether any of a sample's inputs is a sequence or an (empty) optional. */
bool cli_has_non_tensor(const lo_tensor *tensors, int n);

/* Prints "layerout: MESSAGE" and returns the error exit status (2). */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cli_fail(const lo_error *err);
/* Number of names in a layer_output_name_order.json, or -1. */
int cli_count_layers(const char *path);

#endif
