/* placeholder: lands with the quantization issue */
#include "cli.h"
int cli_encodings(int argc, char **argv) { return cli_error("encodings: not implemented yet"); }
