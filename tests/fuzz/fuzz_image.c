/* ImageDecoder on any bytes: every decoder behind it (libpng, libtiff,
 * stb_image's BMP, the PNM reader, libjpeg, libwebp, OpenJPEG; the bytes'
 * signature picks one) must fail with a message, never crash, read out of
 * bounds or allocate beyond its limit.
 *
 * The size cap is lowered to 4 Mpixels here: the product's (Pillow's 179
 * Mpixels) is sane for a program but not for one fuzz input's 10 s and
 * 2 GB, and codecs without a compressed-size bound (WebP, JPEG 2000,
 * arithmetic JPEG, some TIFF compressions) can declare that much in a few
 * bytes. Every check runs the same way under either cap. */
#include "fuzz_common.h"
#include "ops/image/image.h"
#include "ops/ops.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *formats[] = {"RGB", "BGR", "Grayscale"};
    const lo_op_def *def = lo_op_lookup("", "ImageDecoder", 20);
    if (!def) abort();
    lo_image_set_max_pixels((int64_t)1 << 22);
    lo_tensor in;
    memset(&in, 0, sizeof in);
    in.kind = LO_KIND_TENSOR;
    in.dtype = LO_UINT8;
    in.rank = 1;
    in.dims[0] = (int64_t)size;
    in.data = (void *)data;
    in.nbytes = size;
    lo_attr attr = {.name = "pixel_format", .type = LO_ATTR_STRING};
    attr.s = (char *)formats[size % 3];
    attr.s_len = strlen(attr.s);
    int ins[1] = {0}, outs[1] = {0};
    lo_node node;
    memset(&node, 0, sizeof node);
    node.name = "decode";
    node.op_type = "ImageDecoder";
    node.domain = "";
    node.opset = 20;
    node.attrs = &attr;
    node.n_attrs = 1;
    node.inputs = ins, node.n_inputs = 1, node.outputs = outs, node.n_outputs = 1;
    lo_tensor out;
    memset(&out, 0, sizeof out);
    const lo_tensor *inp[1] = {&in};
    lo_tensor *outp[1] = {&out};
    lo_error err;
    err.message[0] = 0;
    lo_kernel_ctx ctx = {.node = &node, .in = inp, .n_in = 1, .out = outp, .n_out = 1, .err = &err, .threads = 1};
    lo_status st = def->run(&ctx);
    if (st == LO_OK) {
        /* a decoded image is H x W x C of uint8, whole */
        if (out.rank != 3 || out.dtype != LO_UINT8 || (size_t)lo_numel(&out) != out.nbytes) abort();
    } else if (!err.message[0]) {
        abort();
    }
    lo_tensor_free_data(&out);
    return 0;
}
