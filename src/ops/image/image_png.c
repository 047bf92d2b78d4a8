/* PNG through libpng, to Pillow's pixels: 1/2/4-bit samples widened as
 * Pillow's unpackers do (x255/x85/x17, as libpng's expansion), palettes
 * expanded, 16-bit colour and grey+alpha reduced to their high byte; 16-bit
 * grey is Pillow's mode "I;16", which its convert() clips to 255, and so
 * does this. Gamma, colour profiles and transparency are not applied
 * (Pillow applies none of them either). */
#include <inttypes.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "image.h"

typedef struct png_source {
    const uint8_t *b;
    size_t n, at;
    char message[200];
} png_source;

static void png_read_mem(png_structp png, png_bytep out, size_t k) {
    png_source *s = png_get_io_ptr(png);
    if (k > s->n - s->at) png_error(png, "the file ends inside the image (truncated)");
    memcpy(out, s->b + s->at, k);
    s->at += k;
}

static void png_fail(png_structp png, png_const_charp msg) {
    png_source *s = png_get_error_ptr(png);
    snprintf(s->message, sizeof s->message, "%s", msg);
    png_longjmp(png, 1);
}

static void png_quiet(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* Before libpng: the header's size against the cap, and the image data the
 * file holds. DEFLATE expands at most 1032 to 1 (a 258-byte match coded in
 * two bits), so the IDAT bytes bound the rows they can inflate to. */
static const char *png_plausible(const uint8_t *b, size_t n, lo_image *img) {
    if (n < 33 || memcmp(b + 12, "IHDR", 4)) return "PNG without an IHDR header";
    int64_t w = be32(b + 16), h = be32(b + 20);
    int depth = b[24], ctype = b[25];
    int ch = ctype == 0 || ctype == 3 ? 1 : ctype == 2 ? 3 : ctype == 4 ? 2 : ctype == 6 ? 4 : 0;
    if (!ch || (depth != 1 && depth != 2 && depth != 4 && depth != 8 && depth != 16))
        return lo_image_fail(img, "PNG colour type %d / bit depth %d (invalid)", ctype, depth);
    const char *why = lo_image_size_ok(img, "PNG", w, h);
    if (why) return why;
    uint64_t idat = 0;
    for (size_t at = 8; at + 8 <= n;) {
        uint64_t len = be32(b + at);
        if (!memcmp(b + at + 4, "IDAT", 4)) idat += len < n - at ? len : n - at;
        if (!memcmp(b + at + 4, "IEND", 4)) break;
        at += 12 + (size_t)len;
        if (len > n) break;
    }
    uint64_t rows = (uint64_t)h * (((uint64_t)w * (uint64_t)(ch * depth) + 7) / 8);
    if (rows > (idat + 1) * 1032)
        return lo_image_fail(img,
                             "PNG of %" PRId64 " x %" PRId64 " pixels cannot inflate from its %" PRIu64
                             " bytes of image data (truncated or damaged)",
                             w, h, idat);
    return NULL;
}

const char *lo_decode_png(const uint8_t *b, size_t n, lo_image *img) {
    const char *why = png_plausible(b, n, img);
    if (why) return why;
    png_source src = {b, n, 0, ""};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_fail, png_quiet);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return "out of memory";
    }
    uint8_t *volatile rows_mem = NULL;
    png_bytep *volatile rows = NULL;
    lo_image *volatile out = img;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(rows);
        free(rows_mem);
        free(out->rgb);
        out->rgb = NULL;
        return lo_image_fail(out, "bad PNG: %s", src.message);
    }
    png_set_read_fn(png, &src, png_read_mem);
    /* libpng's own limits: the size (the cap, checked again on what libpng
     * parses) and ancillary chunks (text, profiles) kept small. */
    int64_t cap = lo_image_max_pixels();
    png_set_user_limits(png, (png_uint_32)(cap < 0x7fffffff ? cap : 0x7fffffff), (png_uint_32)(cap < 0x7fffffff ? cap : 0x7fffffff));
    png_set_chunk_malloc_max(png, 8u << 20);
    png_set_chunk_cache_max(png, 1000);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int depth = png_get_bit_depth(png, info), ctype = png_get_color_type(png, info);
    bool grey16 = depth == 16 && ctype == PNG_COLOR_TYPE_GRAY;
    if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16 && !grey16) png_set_strip_16(png); /* the high byte, as Pillow's ;16B unpackers */
    if (ctype & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    int ch = png_get_channels(png, info);
    if ((ch != 1 && ch != 3) || rowbytes < (size_t)w * (size_t)ch * (grey16 ? 2 : 1)) png_error(png, "unexpected row layout");
    why = lo_image_alloc(img, "PNG", w, h);
    if (why) {
        png_destroy_read_struct(&png, &info, NULL);
        return why;
    }
    /* an interlaced image needs the whole decoded image at once; any other
     * is read a row at a time */
    bool interlaced = png_get_interlace_type(png, info) != PNG_INTERLACE_NONE;
    if (!(rows_mem = malloc(rowbytes * (interlaced ? h : 1))) || !(rows = malloc(sizeof(png_bytep) * (interlaced ? h : 1))))
        png_error(png, "out of memory");
    if (interlaced) {
        for (png_uint_32 y = 0; y < h; y++) rows[y] = rows_mem + rowbytes * y;
        png_read_image(png, rows);
    }
    for (png_uint_32 y = 0; y < h; y++) {
        const uint8_t *row = interlaced ? rows[y] : rows_mem;
        if (!interlaced) png_read_row(png, rows_mem, NULL);
        for (png_uint_32 x = 0; x < w; x++) {
            uint8_t *o = img->rgb + ((size_t)y * w + x) * 3;
            const uint8_t *p = row + (size_t)x * ch * (grey16 ? 2 : 1);
            if (grey16) {
                unsigned v = (unsigned)p[0] << 8 | p[1]; /* PNG's byte order */
                o[0] = o[1] = o[2] = (uint8_t)(v > 255 ? 255 : v);
            } else if (ch == 1) {
                o[0] = o[1] = o[2] = p[0];
            } else {
                o[0] = p[0], o[1] = p[1], o[2] = p[2];
            }
        }
    }
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    free(rows_mem);
    return NULL;
}
