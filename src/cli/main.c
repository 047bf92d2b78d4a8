#include <stdio.h>
#include "layerout.h"
int main(void) { printf("%s\n", lo_version()); return 0; }
