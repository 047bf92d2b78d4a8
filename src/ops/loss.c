#include "ops.h"

const lo_op_def lo_ops_loss[] = {
    {0},
};
