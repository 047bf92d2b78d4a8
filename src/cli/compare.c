/* placeholder: lands with the compare issue */
#include "cli.h"
int cli_compare(int argc, char **argv) { return cli_error("compare: not implemented yet"); }
