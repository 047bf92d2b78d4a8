/* ImageDecoder: the bytes' signature picks the format, and each format is
 * decoded by the library Pillow (ONNX's reference) uses for it, so the
 * pixels are Pillow's: libpng, libtiff, libjpeg(-turbo), libwebp and
 * OpenJPEG here and in image_png.c / image_tiff.c; BMP through stb_image
 * and PNM by a small reader (image_bmp_pnm.c says why). Whatever the
 * format, the declared size is checked against lo_image_max_pixels() and
 * against what the file's bytes can hold before anything that large is
 * allocated. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h> /* JWRN_JPEG_EOF */
#include <openjpeg.h>
#include <webp/decode.h>

#include "../helpers.h"
#include "image.h"

static int64_t max_pixels = LO_IMAGE_MAX_PIXELS;

int64_t lo_image_max_pixels(void) { return max_pixels; }
void lo_image_set_max_pixels(int64_t pixels) { max_pixels = pixels > 0 ? pixels : LO_IMAGE_MAX_PIXELS; }

static const char *image_vfail(lo_image *img, int status, const char *fmt, va_list ap) {
    vsnprintf(img->why, sizeof img->why, fmt, ap);
    img->status = status;
    return img->why;
}

const char *lo_image_fail(lo_image *img, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    const char *why = image_vfail(img, 0, fmt, ap);
    va_end(ap);
    return why;
}

const char *lo_image_unsupported(lo_image *img, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    const char *why = image_vfail(img, LO_ERR_UNSUPPORTED, fmt, ap);
    va_end(ap);
    return why;
}

const char *lo_image_size_ok(lo_image *img, const char *format, int64_t w, int64_t h) {
    if (w <= 0 || h <= 0) return lo_image_fail(img, "%s image of %" PRId64 " x %" PRId64 " pixels (empty)", format, w, h);
    if (w > max_pixels || h > max_pixels || w * h > max_pixels) {
        lo_image_fail(img,
                      "%s image of %" PRId64 " x %" PRId64 " pixels is larger than the %" PRId64
                      " pixels ImageDecoder decodes",
                      format, w, h, max_pixels);
        img->status = LO_ERR_NOMEM;
        return img->why;
    }
    return NULL;
}

const char *lo_image_alloc(lo_image *img, const char *format, int64_t w, int64_t h) {
    const char *why = lo_image_size_ok(img, format, w, h);
    if (why) return why;
    img->rgb = malloc((size_t)(w * h * 3));
    if (!img->rgb) {
        lo_image_fail(img, "out of memory for a %s image of %" PRId64 " x %" PRId64 " pixels", format, w, h);
        img->status = LO_ERR_NOMEM;
        return img->why;
    }
    img->w = w, img->h = h;
    return NULL;
}

/* ---- JPEG ---------------------------------------------------------------------------------- */

/* libjpeg reports errors by calling error_exit, whose default exits the
 * process: ours jumps back with the message instead. */
typedef struct jpeg_failure {
    struct jpeg_error_mgr mgr;
    struct jpeg_progress_mgr progress;
    jmp_buf back;
    char message[JMSG_LENGTH_MAX];
} jpeg_failure;

static void jpeg_fail(j_common_ptr cinfo) {
    jpeg_failure *f = (jpeg_failure *)cinfo->err;
    f->mgr.format_message(cinfo, f->message);
    longjmp(f->back, 1);
}

/* Warnings are ignored, as Pillow does, except running out of data: libjpeg
 * would invent the rest of the image, Pillow refuses the truncated file. */
static void jpeg_warn(j_common_ptr cinfo, int level) {
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) jpeg_fail(cinfo);
}

/* A progressive file may hold any number of scans, each a pass over the
 * whole image; past this many it is an attack, not a photograph (the same
 * bound libjpeg-turbo suggests for its scan limit). */
#define JPEG_MAX_SCANS 500

static void jpeg_progress(j_common_ptr cinfo) {
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->input_scan_number > JPEG_MAX_SCANS) {
        jpeg_failure *f = (jpeg_failure *)cinfo->err;
        snprintf(f->message, sizeof f->message, "more than %d progressive scans", JPEG_MAX_SCANS);
        longjmp(f->back, 1);
    }
}

/* Decodes to RGB as Pillow does (libjpeg's defaults: integer IDCT, fancy
 * upsampling); a grayscale JPEG is spread over the three channels. */
const char *lo_decode_jpeg(const uint8_t *b, size_t n, lo_image *img) {
    struct jpeg_decompress_struct cinfo;
    jpeg_failure fail;
    cinfo.err = jpeg_std_error(&fail.mgr);
    fail.mgr.error_exit = jpeg_fail;
    fail.mgr.emit_message = jpeg_warn;
    uint8_t *volatile row = NULL;
    /* what the error path reads, kept out of registers longjmp may restore */
    lo_image *volatile out = img;
    if (setjmp(fail.back)) {
        jpeg_destroy_decompress(&cinfo);
        free(row);
        free(out->rgb);
        out->rgb = NULL;
        return lo_image_fail(out, "bad JPEG: %s", fail.message);
    }
    jpeg_create_decompress(&cinfo);
    fail.progress.progress_monitor = jpeg_progress;
    cinfo.progress = &fail.progress;
    /* libjpeg's own working memory (whole-image coefficient buffers of a
     * progressive file) within a bound of the same order as the image: past
     * it libjpeg fails (it has no backing store) instead of allocating. */
    cinfo.mem->max_memory_to_use = (long)(lo_image_max_pixels() * 8);
    jpeg_mem_src(&cinfo, b, (unsigned long)n);
    jpeg_read_header(&cinfo, TRUE);
    const char *why = lo_image_size_ok(img, "JPEG", cinfo.image_width, cinfo.image_height);
    /* Huffman coding spends at least one bit on every 8x8 block of every
     * component (its DC difference), so the file bounds the block count;
     * arithmetic coding can go below a bit and is bounded by the size cap. */
    int64_t min_blocks = INT64_MAX;
    for (int c = 0; c < cinfo.num_components; c++) {
        int64_t k = (int64_t)cinfo.comp_info[c].width_in_blocks * cinfo.comp_info[c].height_in_blocks;
        if (k < min_blocks) min_blocks = k;
    }
    if (!why && !cinfo.arith_code && min_blocks > (int64_t)n * 8)
        why = lo_image_fail(img, "JPEG image of %u x %u pixels cannot be held in its %zu bytes (truncated or damaged)",
                            cinfo.image_width, cinfo.image_height, n);
    if (why) {
        jpeg_destroy_decompress(&cinfo);
        return why;
    }
    bool gray = cinfo.jpeg_color_space == JCS_GRAYSCALE;
    cinfo.out_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    int64_t W = cinfo.output_width, H = cinfo.output_height, c = cinfo.output_components;
    if (c != 1 && c != 3) {
        jpeg_destroy_decompress(&cinfo);
        return lo_image_unsupported(img, "JPEG with %d output channels (not supported)", (int)c);
    }
    why = lo_image_alloc(img, "JPEG", W, H);
    if (!why && !(row = malloc((size_t)(W * c)))) why = "out of memory";
    if (why) {
        free(row);
        jpeg_destroy_decompress(&cinfo);
        return why;
    }
    uint8_t *rgb = img->rgb;
    while (cinfo.output_scanline < cinfo.output_height) {
        int64_t y = cinfo.output_scanline;
        JSAMPROW rows[1] = {(JSAMPROW)row};
        if (jpeg_read_scanlines(&cinfo, rows, 1) != 1) break;
        for (int64_t x = 0; x < W; x++) {
            uint8_t *o = rgb + (y * W + x) * 3;
            if (c == 3) o[0] = row[x * 3], o[1] = row[x * 3 + 1], o[2] = row[x * 3 + 2];
            else o[0] = o[1] = o[2] = row[x];
        }
    }
    free(row);
    row = NULL; /* jpeg_finish_decompress may still fail and jump back */
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    return NULL;
}

/* ---- WebP ---------------------------------------------------------------------------------- */

/* WebP to RGB with libwebp's defaults (fancy upsampling), as Pillow; the
 * header's size is checked before libwebp decodes into our buffer. */
const char *lo_decode_webp(const uint8_t *b, size_t n, lo_image *img) {
    int w = 0, h = 0;
    if (!WebPGetInfo(b, n, &w, &h)) return "bad WebP image";
    const char *why = lo_image_alloc(img, "WebP", w, h);
    if (why) return why;
    size_t bytes = (size_t)w * (size_t)h * 3;
    if (!WebPDecodeRGBInto(b, n, img->rgb, bytes, w * 3)) {
        free(img->rgb);
        img->rgb = NULL;
        return "bad WebP image";
    }
    return NULL;
}

/* ---- JPEG 2000 ----------------------------------------------------------------------------- */

/* OpenJPEG reads through callbacks: these serve it from memory. */
typedef struct j2k_source {
    const uint8_t *b;
    size_t n, at;
} j2k_source;

static OPJ_SIZE_T j2k_read(void *buf, OPJ_SIZE_T size, void *user) {
    j2k_source *s = user;
    if (s->at >= s->n) return (OPJ_SIZE_T)-1;
    size_t k = s->n - s->at < size ? s->n - s->at : size;
    memcpy(buf, s->b + s->at, k);
    s->at += k;
    return k;
}

static OPJ_OFF_T j2k_skip(OPJ_OFF_T k, void *user) {
    j2k_source *s = user;
    if (k < 0 || (size_t)k > s->n - s->at) k = (OPJ_OFF_T)(s->n - s->at);
    s->at += (size_t)k;
    return k;
}

static OPJ_BOOL j2k_seek(OPJ_OFF_T at, void *user) {
    j2k_source *s = user;
    if (at < 0 || (size_t)at > s->n) return OPJ_FALSE;
    s->at = (size_t)at;
    return OPJ_TRUE;
}

static void j2k_quiet(const char *msg, void *user) { (void)msg, (void)user; }

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* Before OpenJPEG sees the file: its SIZ marker (image and tile grid,
 * components), read here, since opj_read_header already allocates per tile
 * and per component. Every tile present costs a tile-part header (SOT and
 * SOD, 14 bytes), so the file bounds the tile count; the image size is
 * checked against the cap. In a JP2 file the codestream is the jp2c box. */
static const char *j2k_siz_check(const uint8_t *b, size_t n, bool jp2, lo_image *img) {
    size_t at = 0;
    if (jp2) {
        for (;;) {
            if (n - at < 8) return "bad JPEG 2000 image (no codestream box)";
            uint64_t len = be32(b + at), head = 8;
            if (len == 1) {
                if (n - at < 16) return "bad JPEG 2000 image (truncated box)";
                len = (uint64_t)be32(b + at + 8) << 32 | be32(b + at + 12), head = 16;
            } else if (len == 0) {
                len = n - at;
            }
            if (!memcmp(b + at + 4, "jp2c", 4)) {
                at += head;
                break;
            }
            if (len < head || len > n - at) return "bad JPEG 2000 image (truncated box)";
            at += (size_t)len;
        }
    }
    if (n - at < 4 + 38 || memcmp(b + at, "\xff\x4f\xff\x51", 4)) return "bad JPEG 2000 image (no SIZ marker)";
    const uint8_t *siz = b + at + 4;
    uint64_t xs = be32(siz + 4), ys = be32(siz + 8), xo = be32(siz + 12), yo = be32(siz + 16);
    uint64_t xt = be32(siz + 20), yt = be32(siz + 24), xto = be32(siz + 28), yto = be32(siz + 32);
    unsigned comps = (unsigned)(siz[36] << 8 | siz[37]);
    if (xo >= xs || yo >= ys || !xt || !yt || xto > xo || yto > yo) return "bad JPEG 2000 image (SIZ marker)";
    if (comps != 1 && comps != 3)
        return lo_image_unsupported(img, "JPEG 2000 image with %u components (1 or 3 are supported)", comps);
    const char *why = lo_image_size_ok(img, "JPEG 2000", (int64_t)(xs - xo), (int64_t)(ys - yo));
    if (why) return why;
    uint64_t tx = (xs - xto + xt - 1) / xt, ty = (ys - yto + yt - 1) / yt, most = (n - at) / 14;
    uint64_t tiles = tx > most || ty > most ? UINT64_MAX : tx * ty;
    if (tiles > most)
        return lo_image_fail(img, "JPEG 2000 image of %" PRIu64 " x %" PRIu64 " tiles cannot be held in its %zu bytes (truncated or damaged)",
                             tx, ty, n);
    return NULL;
}

/* A JP2 file or a raw J2K codestream of 8-bit grey or RGB components. The
 * header's size and components are checked before opj_decode allocates. */
const char *lo_decode_j2k(const uint8_t *b, size_t n, bool jp2, lo_image *img) {
    j2k_source src = {b, n, 0};
    opj_stream_t *st = opj_stream_create(1 << 16, OPJ_TRUE);
    opj_codec_t *codec = opj_create_decompress(jp2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K);
    opj_image_t *im = NULL;
    const char *why = j2k_siz_check(b, n, jp2, img);
    if (!why && (!st || !codec)) why = "out of memory";
    if (!why) {
        opj_stream_set_user_data(st, &src, NULL);
        opj_stream_set_user_data_length(st, n);
        opj_stream_set_read_function(st, j2k_read);
        opj_stream_set_skip_function(st, j2k_skip);
        opj_stream_set_seek_function(st, j2k_seek);
        opj_set_info_handler(codec, j2k_quiet, NULL);
        opj_set_warning_handler(codec, j2k_quiet, NULL);
        opj_set_error_handler(codec, j2k_quiet, NULL);
        opj_dparameters_t params;
        opj_set_default_decoder_parameters(&params);
        if (!opj_setup_decoder(codec, &params) || !opj_read_header(st, codec, &im)) why = "bad JPEG 2000 image";
    }
    int nc = im ? (int)im->numcomps : 0;
    if (!why && nc != 1 && nc != 3)
        why = lo_image_unsupported(img, "JPEG 2000 image with %d components (1 or 3 are supported)", nc);
    for (int c = 0; !why && c < nc; c++) {
        const opj_image_comp_t *k = &im->comps[c];
        if (k->prec != 8 || k->sgnd || k->dx != 1 || k->dy != 1)
            why = lo_image_unsupported(img, "JPEG 2000 image that is not 8-bit unsigned and unsubsampled (not supported)");
    }
    if (!why) why = lo_image_size_ok(img, "JPEG 2000", (int64_t)im->x1 - im->x0, (int64_t)im->y1 - im->y0);
    if (!why && (!opj_decode(codec, st, im) || !opj_end_decompress(codec, st))) why = "bad JPEG 2000 image";
    for (int c = 0; !why && c < nc; c++) {
        const opj_image_comp_t *k = &im->comps[c];
        if (k->w != im->comps[0].w || k->h != im->comps[0].h || !k->data) why = "bad JPEG 2000 image (components differ)";
    }
    if (!why) {
        int64_t W = im->comps[0].w, H = im->comps[0].h;
        why = lo_image_alloc(img, "JPEG 2000", W, H);
        for (int64_t i = 0; !why && i < W * H; i++)
            for (int c = 0; c < 3; c++) {
                OPJ_INT32 v = im->comps[nc == 3 ? c : 0].data[i];
                img->rgb[i * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    }
    if (im) opj_image_destroy(im);
    if (codec) opj_destroy_codec(codec);
    if (st) opj_stream_destroy(st);
    return why;
}

/* ---- the operator -------------------------------------------------------------------------- */

/* Pillow's convert("L"): ITU-R 601-2 luma in 16-bit fixed point, rounded. */
static uint8_t luma(const uint8_t *p) {
    return (uint8_t)(((uint32_t)p[0] * 19595 + (uint32_t)p[1] * 38470 + (uint32_t)p[2] * 7471 + 0x8000) >> 16);
}

static lo_status image_decoder_run(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, has_in(ctx, 0) && ctx->in[0]->dtype == LO_UINT8 && ctx->in[0]->rank == 1,
             "encoded_stream must be a 1-D uint8 tensor");
    const lo_tensor *x = ctx->in[0];
    const char *fmt = lo_attr_string(ctx->node, "pixel_format", "RGB");
    int mode = !strcmp(fmt, "RGB") ? 0 : !strcmp(fmt, "BGR") ? 1 : !strcmp(fmt, "Grayscale") ? 2 : -1;
    if (mode < 0) return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "pixel_format '%s'", fmt);
    const uint8_t *b = x->data;
    size_t n = (size_t)lo_numel(x);
    lo_image img;
    memset(&img, 0, sizeof img);
    const char *why;
    if (n >= 2 && b[0] == 'B' && b[1] == 'M') why = lo_decode_bmp(b, n, &img);
    else if (n >= 2 && b[0] == 'P' && b[1] >= '1' && b[1] <= '7') why = lo_decode_pnm(b, n, &img);
    else if (n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8)) why = lo_decode_png(b, n, &img);
    else if (n >= 4 && (!memcmp(b, "II*\0", 4) || !memcmp(b, "MM\0*", 4) || !memcmp(b, "II+\0", 4) || !memcmp(b, "MM\0+", 4)))
        why = lo_decode_tiff(b, n, &img);
    else if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) why = lo_decode_jpeg(b, n, &img);
    else if (n >= 12 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBP", 4)) why = lo_decode_webp(b, n, &img);
    else if (n >= 12 && !memcmp(b, "\0\0\0\x0cjP  \r\n\x87\n", 12)) why = lo_decode_j2k(b, n, true, &img);
    else if (n >= 4 && b[0] == 0xff && b[1] == 0x4f && b[2] == 0xff && b[3] == 0x51) why = lo_decode_j2k(b, n, false, &img);
    else {
        why = "the image is none of BMP, PNM, PNG, TIFF, JPEG, WebP or JPEG 2000 (not supported)";
        img.status = LO_ERR_UNSUPPORTED;
    }
    if (why) {
        free(img.rgb);
        return lo_kernel_fail(ctx, img.status ? (lo_status)img.status : LO_ERR_INPUT, "%s", why);
    }
    int64_t dims[3] = {img.h, img.w, mode == 2 ? 1 : 3};
    lo_status st = lo_output(ctx, 0, LO_UINT8, 3, dims);
    if (st == LO_OK && has_out(ctx, 0)) {
        uint8_t *o = ctx->out[0]->data;
        for (int64_t i = 0; i < img.w * img.h; i++) {
            const uint8_t *p = img.rgb + i * 3;
            if (mode == 0) o[i * 3] = p[0], o[i * 3 + 1] = p[1], o[i * 3 + 2] = p[2];
            else if (mode == 1) o[i * 3] = p[2], o[i * 3 + 1] = p[1], o[i * 3 + 2] = p[0];
            else o[i] = luma(p);
        }
    }
    free(img.rgb);
    return st;
}

/* ==== table ============================================================================ */

const lo_op_def lo_ops_image_image_decoder[] = {
    {"", "ImageDecoder", 20, LO_OPSET_MAX, NULL, image_decoder_run, NULL, 0},
    {0},
};
