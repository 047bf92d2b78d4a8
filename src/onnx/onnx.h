/* ONNX protobuf → graph IR. The protobuf structs never leave this module. */
#ifndef LO_ONNX_H
#define LO_ONNX_H

#include "../graph/graph.h"

/* Loads a model file (external data is mapped from beside it). */
lo_status lo_onnx_load(const char *path, lo_model_ir **model, lo_error *err);

/* Decodes a serialized TensorProto (a test_data_set_N/input_0.pb file, or
 * bytes given by the caller). *name receives a malloc'd copy of its name
 * (or NULL) when name is given. */
lo_status lo_onnx_read_tensor_file(const char *path, lo_tensor *out, char **name, lo_error *err);
lo_status lo_onnx_decode_tensor(const uint8_t *bytes, size_t len, lo_tensor *out, char **name,
                                lo_error *err);

#endif
