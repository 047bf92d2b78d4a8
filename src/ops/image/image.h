/* ImageDecoder's formats: each decoder fills an lo_image with RGB pixels as
 * Pillow (ONNX's reference) would give them after convert("RGB"), or
 * returns why it cannot. Every decoder reads the declared size first and
 * asks lo_image_size_ok() before anything of that size is allocated, by
 * itself or by the library under it. */
#ifndef LO_OPS_IMAGE_H
#define LO_OPS_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Pillow's limit for decompression bombs (2 x Image.MAX_IMAGE_PIXELS): an
 * image Pillow refuses by default is refused here too. */
#define LO_IMAGE_MAX_PIXELS INT64_C(178956970)

typedef struct lo_image {
    int64_t w, h;
    uint8_t *rgb;      /* h * w * 3, freed with free() */
    int status;        /* on failure: an lo_status, 0 meaning LO_ERR_INPUT */
    char why[320];     /* room for a formatted message */
} lo_image;

/* Formats into img->why and returns it; lo_image_unsupported also marks
 * the failure as a variant this build does not decode. */
const char *lo_image_fail(lo_image *img, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *lo_image_unsupported(lo_image *img, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* NULL when a w x h image may be decoded; else the message naming the
 * dimensions and the limit. */
const char *lo_image_size_ok(lo_image *img, const char *format, int64_t w, int64_t h);

/* lo_image_size_ok, then img->rgb allocated and img->w/h set. */
const char *lo_image_alloc(lo_image *img, const char *format, int64_t w, int64_t h);

/* The limit in pixels in force (LO_IMAGE_MAX_PIXELS unless lowered). Not
 * public: the fuzz target lowers it so each input finishes within its time
 * and memory budget; set it before decoding, not while. */
int64_t lo_image_max_pixels(void);
void lo_image_set_max_pixels(int64_t pixels);

const char *lo_decode_png(const uint8_t *b, size_t n, lo_image *img);
const char *lo_decode_tiff(const uint8_t *b, size_t n, lo_image *img);
const char *lo_decode_bmp(const uint8_t *b, size_t n, lo_image *img);
const char *lo_decode_pnm(const uint8_t *b, size_t n, lo_image *img);
const char *lo_decode_jpeg(const uint8_t *b, size_t n, lo_image *img);
const char *lo_decode_webp(const uint8_t *b, size_t n, lo_image *img);
const char *lo_decode_j2k(const uint8_t *b, size_t n, bool jp2, lo_image *img);

#endif
