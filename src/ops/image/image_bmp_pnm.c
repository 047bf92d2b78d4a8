/* BMP through stb_image (libstb), PNM by a reader of its own.
 *
 * stb_image decodes BMP's uncompressed variants (1/4/8-bit palette, 24 and
 * 32 bits, bit fields) to the same pixels as Pillow. It does not decode
 * RLE, and its 16-bit (5-5-5) scaling differs from Pillow's by one level
 * in places: those are refused before it runs. It also decodes binary PNM,
 * but without rescaling a maxval other than 255, and no ASCII PNM at all;
 * Debian 12 has no development package of libnetpbm. So PNM (P1-P6) is
 * read here, following Pillow's PpmImagePlugin: samples scaled to 0..255
 * by round(value / maxval * 255) with Python's rounding; 16-bit grey
 * becomes Pillow's 32-bit mode "I" (scaled to 0..65535), which Pillow's
 * convert clips to 255, and so does this. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <stb_image.h>

#include "image.h"

static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

const char *lo_decode_bmp(const uint8_t *b, size_t n, lo_image *img) {
    if (n < 26 || n > (size_t)INT32_MAX) return "truncated BMP";
    uint32_t off = le32(b + 10), hsz = le32(b + 14), comp = 0;
    int64_t w, h;
    unsigned bpp;
    if (hsz == 12) {
        w = le16(b + 18), h = le16(b + 20), bpp = le16(b + 24); /* unsigned in the OS/2 header */
    } else if (hsz == 40 || hsz == 56 || hsz == 108 || hsz == 124) {
        if (n < 54) return "truncated BMP";
        w = (int32_t)le32(b + 18), h = (int32_t)le32(b + 22), bpp = le16(b + 28), comp = le32(b + 30);
    } else {
        return lo_image_unsupported(img, "BMP with a %u-byte header (not supported)", hsz);
    }
    if (comp != 0 && comp != 3)
        return lo_image_unsupported(img, "BMP compression %u (RLE or embedded JPEG/PNG: not supported)", comp);
    if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 24 && bpp != 32)
        return lo_image_unsupported(img, "BMP of %u bits per pixel (not supported)", bpp);
    if (h < 0) h = -h; /* top-down */
    const char *why = lo_image_size_ok(img, "BMP", w, h);
    if (why) return why;
    /* uncompressed: the rows are in the file, or the header lies */
    uint64_t stride = ((uint64_t)w * bpp + 31) / 32 * 4;
    if ((uint64_t)off + stride * (uint64_t)h > n)
        return lo_image_fail(img, "BMP of %lld x %lld pixels needs %llu bytes of pixel data; the file has %zu (truncated)",
                             (long long)w, (long long)h, (unsigned long long)(stride * (uint64_t)h), n);
    int sw = 0, sh = 0, sc = 0;
    uint8_t *px = stbi_load_from_memory(b, (int)n, &sw, &sh, &sc, 3);
    if (!px) return lo_image_fail(img, "bad BMP image: %s", stbi_failure_reason() ? stbi_failure_reason() : "?");
    if (sw != w || sh != h) {
        stbi_image_free(px);
        return "bad BMP image";
    }
    img->rgb = px; /* stb_image allocates with malloc */
    img->w = w, img->h = h;
    return NULL;
}

/* ---- PNM ----------------------------------------------------------------------------------- */

static bool pnm_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/* Skips whitespace and comments ('#' to the end of the line). */
static void pnm_skip(const uint8_t *b, size_t n, size_t *at) {
    while (*at < n) {
        if (pnm_space(b[*at])) (*at)++;
        else if (b[*at] == '#')
            while (*at < n && b[*at] != '\n' && b[*at] != '\r') (*at)++;
        else break;
    }
}

/* A decimal token of at most 10 digits (Pillow's limit); false if none. */
static bool pnm_int(const uint8_t *b, size_t n, size_t *at, int64_t *v) {
    pnm_skip(b, n, at);
    size_t start = *at;
    *v = 0;
    while (*at < n && b[*at] >= '0' && b[*at] <= '9' && *at - start < 10) *v = *v * 10 + (b[(*at)++] - '0');
    return *at > start && (*at >= n || pnm_space(b[*at]) || b[*at] == '#');
}

/* Python's round(v / maxval * out_max): the same double operations, and
 * rint's ties-to-even is Python's rounding. */
static int64_t pnm_scale(int64_t v, int64_t maxval, int64_t out_max) {
    double s = rint((double)v / (double)maxval * (double)out_max);
    return s > (double)out_max ? out_max : (int64_t)s;
}

const char *lo_decode_pnm(const uint8_t *b, size_t n, lo_image *img) {
    char kind = (char)b[1];
    if (kind == '7') return lo_image_unsupported(img, "PAM (P7) image (not supported)");
    bool bitonal = kind == '1' || kind == '4', ascii = kind <= '3';
    int ch = kind == '3' || kind == '6' ? 3 : 1;
    size_t at = 2;
    int64_t w, h, maxval = 1;
    if (!pnm_int(b, n, &at, &w) || !pnm_int(b, n, &at, &h) || (!bitonal && !pnm_int(b, n, &at, &maxval)))
        return "bad PNM header";
    if (maxval < 1 || maxval > 65535) return lo_image_fail(img, "PNM maxval %lld (must be 1 to 65535)", (long long)maxval);
    const char *why = lo_image_size_ok(img, "PNM", w, h);
    if (why) return why;
    at++; /* the single whitespace that ends the header */
    int bytes = maxval > 255 ? 2 : 1;
    /* the samples must be in the file: one byte (or bit) each at least */
    uint64_t need = bitonal && !ascii ? (uint64_t)(w + 7) / 8 * (uint64_t)h : (uint64_t)(w * h) * (uint64_t)ch * (ascii ? 1 : bytes);
    if (at > n || need > n - at)
        return lo_image_fail(img, "PNM of %lld x %lld pixels needs at least %llu bytes of samples; the file has %zu (truncated)",
                             (long long)w, (long long)h, (unsigned long long)need, at > n ? 0 : n - at);
    if ((why = lo_image_alloc(img, "PNM", w, h))) return why;
    /* 16-bit grey is Pillow's mode "I", scaled to 0..65535, then clipped */
    int64_t out_max = !bitonal && ch == 1 && maxval > 255 ? 65535 : 255;
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++) {
            uint8_t *o = img->rgb + (y * w + x) * 3;
            for (int c = 0; c < ch; c++) {
                int64_t v;
                if (kind == '4') {
                    v = (b[at + (size_t)(y * ((w + 7) / 8) + x / 8)] >> (7 - x % 8)) & 1 ? 0 : 255;
                } else if (kind == '1') {
                    pnm_skip(b, n, &at);
                    if (at >= n || (b[at] != '0' && b[at] != '1')) goto short_data;
                    v = b[at++] == '1' ? 0 : 255;
                } else if (ascii) {
                    if (!pnm_int(b, n, &at, &v)) goto short_data;
                    if (v > maxval) {
                        free(img->rgb), img->rgb = NULL;
                        return lo_image_fail(img, "PNM sample %lld above maxval %lld", (long long)v, (long long)maxval);
                    }
                    v = pnm_scale(v, maxval, out_max);
                } else {
                    v = bytes == 1 ? b[at] : (int64_t)b[at] << 8 | b[at + 1];
                    at += (size_t)bytes;
                    if (maxval != 255 || bytes != 1) v = pnm_scale(v, maxval, out_max);
                }
                o[c] = (uint8_t)(v > 255 ? 255 : v);
            }
            if (ch == 1) o[1] = o[2] = o[0];
        }
    return NULL;
short_data:
    free(img->rgb), img->rgb = NULL;
    return "truncated PNM sample data";
}
