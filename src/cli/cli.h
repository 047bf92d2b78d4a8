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

/* --shape NAME=1x3x224x224 */
typedef lo_input_shape cli_shape;
bool cli_parse_shape(char *arg, cli_shape *s);
/* What -i, --input-list and --shape gather (generate, analyze). */
typedef struct cli_inputs {
    char *names[CLI_MAX_INPUTS], *paths[CLI_MAX_INPUTS];
    int n;
    const char *list;
    cli_shape shapes[64];
    int n_shapes;
} cli_inputs;
/* getopt's option c, one of 'i' (-i), 'L' (--input-list) and 'S' (--shape),
 * with its value arg, into in: 0, or 2 (the exit status) after a message. */
int cli_input_option(int c, char *arg, cli_inputs *in);
/* --rounding half-even|half-away: 0, or 2 after a message. */
int cli_parse_rounding(const char *arg, lo_rounding_mode *mode);
/* Reads sample s of list, or (list NULL) the -i files of in, into *sample. */
lo_status cli_read_sample(const lo_model *m, const lo_input_list *list, int s, const cli_inputs *in,
                          lo_sample **sample, lo_error *err);

/* The options of a command that parses with cli_parse: a table ended by
 * {0} (kind CLI_END), each option with its long name, a short alias or NULL,
 * and where its value goes: int * (CLI_FLAG: set to 1; CLI_COUNT: a whole
 * number from 0 to max), const char ** (CLI_TEXT), double * (CLI_NUMBER:
 * any but NaN). */
typedef enum cli_kind { CLI_END = 0, CLI_FLAG, CLI_TEXT, CLI_COUNT, CLI_NUMBER } cli_kind;
typedef struct cli_opt {
    const char *name, *alias;
    cli_kind kind;
    void *to;
    long max;
} cli_opt;
/* Parses argv[1..] (--name VALUE, --name=VALUE, -h/--help printing usage)
 * into the table's places and the other arguments into pos (up to max_pos;
 * takes says what they are, for the message when there are more).
 * Returns -1 when the command goes on, else its exit status: 0 after
 * --help, 2 after an error message naming the option. */
int cli_parse(int argc, char **argv, const char *cmd, const char *usage, const cli_opt *opts, const char *takes,
              const char **pos, int max_pos, int *n_pos);

/* Prints "layerout: MESSAGE" and returns the error exit status (2). */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cli_fail(const lo_error *err);

#endif
