/* The run loop: plans a model's graphs, runs nodes in order, applies the
 * quantization step of encoded tensors, and hands each captured tensor to an
 * observer. */
#ifndef LO_EXEC_H
#define LO_EXEC_H

#include "../ops/ops.h"

/* Runs a subgraph (If branch, Loop or Scan body) of the node being run in
 * ctx. inputs are bound to body->inputs in order; outer-scope names resolve
 * to the enclosing frames. outputs[0..body->n_outputs) receive the body's
 * outputs, owned by the caller (free with lo_tensor_free_data). iteration
 * (-1 for If) is what the observer reports for the body's tensors. */
lo_status lo_exec_subgraph(lo_kernel_ctx *ctx, const lo_graph *body, const lo_tensor *const *inputs,
                           int n_inputs, lo_tensor *outputs, int iteration);

/* lo_session_run that also hands back the graph's outputs: outputs (when
 * not NULL) has room for lo_model_output_count() tensors, each owned by the
 * caller afterwards (free with lo_tensor_free_data). */
lo_status lo_session_run_outputs(lo_session *session, const lo_tensor_view *inputs, int n_inputs,
                                 lo_observer_fn observer, void *user, lo_tensor *outputs,
                                 lo_error *err);

/* lo_session_run_outputs for inputs that may be sequences or optionals
 * (kind LO_KIND_SEQUENCE / LO_KIND_NONE): inputs are full tensors in the
 * graph's input order, borrowed; the observer (may be NULL) sees the
 * tensors among them. Declared shapes are not enforced (dtypes are), as
 * ONNX's backend runner does: the caller checks what it must. For the
 * conformance runner and the command line's sequence and optional inputs. */
lo_status lo_session_run_values(lo_session *session, const lo_tensor *inputs, int n_inputs, lo_observer_fn observer,
                                void *user, lo_tensor *outputs, lo_error *err);

/* Isolated quantization error. Runs the float model (session flt) and, after
 * each of its top-level nodes, the same node of the quantized model (session
 * quant: the same file loaded with encodings) on the float values of the
 * node's inputs, each quantize-dequantized with its own encoding. Inputs are
 * in model order. float_observer sees the float run's tensors; iso_observer
 * sees each node's isolated outputs (quantized where encoded) and the graph
 * inputs quantized. */
lo_status lo_session_run_isolated(lo_session *flt, lo_session *quant, const lo_tensor_view *inputs, int n_inputs,
                                  lo_observer_fn float_observer, void *float_user, lo_observer_fn iso_observer,
                                  void *iso_user, lo_error *err);

/* Whether the observer keeps a top-level tensor (output->tensor is empty:
 * only names are known). Told to a session, it lets the run loop fuse
 * nodes through the tensors that are not kept; saved ones keep their exact
 * values. */
typedef bool (*lo_saved_fn)(void *user, const lo_layer_output *output);
void lo_session_set_saved(lo_session *session, lo_saved_fn saved, void *user);

/* The session's kernel threads, and a new count for its next runs (the
 * oneDNN primitives are built again for it: their caches are keyed by the
 * thread count). */
int lo_session_threads(const lo_session *session);
void lo_session_set_threads(lo_session *session, int threads);

/* The graph of a loaded model, for stages that read it (naming, reports). */
const lo_model_ir *lo_model_graph(const lo_model *model);

#endif
