/* ImageDecoder: BMP, PNM, PNG and uncompressed TIFF decoded here; JPEG
 * through libjpeg(-turbo), WebP through libwebp and JPEG 2000 through
 * OpenJPEG, the decoders Pillow (ONNX's reference) uses, so the pixels are
 * the same. */
#include <ctype.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <openjpeg.h>
#include <webp/decode.h>

#include "../helpers.h"

/* ---- ImageDecoder ------------------------------------------------------------------------ */

typedef struct image {
    int64_t w, h;
    uint8_t *rgb; /* h * w * 3 */
} image;

static uint32_t rd_u32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t rd_u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* BITMAPINFOHEADER files, 24 or 32 bits per pixel, uncompressed. */
static const char *decode_bmp(const uint8_t *b, size_t n, image *img) {
    if (n < 54) return "truncated BMP";
    uint32_t off = rd_u32(b + 10), hdr = rd_u32(b + 14);
    int32_t w = (int32_t)rd_u32(b + 18), h = (int32_t)rd_u32(b + 22);
    uint16_t bpp = rd_u16(b + 28);
    uint32_t comp = rd_u32(b + 30);
    if (hdr < 40 || (bpp != 24 && bpp != 32) || (comp != 0 && !(comp == 3 && bpp == 32)))
        return "BMP variant (palette or compression) not supported";
    bool top_down = h < 0;
    int64_t H = top_down ? -(int64_t)h : h, W = w;
    if (W <= 0 || H <= 0 || W > 1 << 16 || H > 1 << 16) return "bad BMP size";
    int64_t stride = ((W * bpp / 8) + 3) & ~3;
    if ((uint64_t)off + (uint64_t)(stride * H) > n) return "truncated BMP pixel data";
    img->w = W, img->h = H;
    img->rgb = malloc((size_t)(W * H * 3));
    if (!img->rgb) return "out of memory";
    for (int64_t y = 0; y < H; y++) {
        const uint8_t *row = b + off + (top_down ? y : H - 1 - y) * stride;
        for (int64_t x = 0; x < W; x++) {
            const uint8_t *px = row + x * (bpp / 8);
            uint8_t *o = img->rgb + (y * W + x) * 3;
            o[0] = px[2], o[1] = px[1], o[2] = px[0];
        }
    }
    return NULL;
}

static bool pnm_int(const uint8_t *b, size_t n, size_t *at, int64_t *v) {
    for (;;) {
        while (*at < n && isspace(b[*at])) (*at)++;
        if (*at < n && b[*at] == '#') {
            while (*at < n && b[*at] != '\n') (*at)++;
            continue;
        }
        break;
    }
    if (*at >= n || !isdigit(b[*at])) return false;
    *v = 0;
    while (*at < n && isdigit(b[*at]) && *v < (1 << 24)) *v = *v * 10 + (b[(*at)++] - '0');
    return true;
}

/* Netpbm P2/P3 (ASCII) and P5/P6 (binary) with maxval up to 255. */
static const char *decode_pnm(const uint8_t *b, size_t n, image *img) {
    if (n < 3 || b[0] != 'P' || !strchr("2356", b[1])) return "not a supported PNM file";
    char kind = (char)b[1];
    size_t at = 2;
    int64_t W, H, maxv;
    if (!pnm_int(b, n, &at, &W) || !pnm_int(b, n, &at, &H) || !pnm_int(b, n, &at, &maxv)) return "bad PNM header";
    if (W <= 0 || H <= 0 || W > 1 << 16 || H > 1 << 16 || maxv <= 0 || maxv > 255) return "PNM size or maxval not supported";
    int ch = kind == '3' || kind == '6' ? 3 : 1;
    bool ascii = kind == '2' || kind == '3';
    if (!ascii) {
        at++; /* the single whitespace after maxval */
        if (at + (size_t)(W * H * ch) > n) return "truncated PNM pixel data";
    }
    img->w = W, img->h = H;
    img->rgb = malloc((size_t)(W * H * 3));
    if (!img->rgb) return "out of memory";
    for (int64_t i = 0; i < W * H; i++)
        for (int c = 0; c < 3; c++) {
            int64_t v;
            if (c < ch) {
                if (ascii) {
                    if (!pnm_int(b, n, &at, &v)) return "truncated PNM pixel data";
                } else {
                    v = b[at++];
                }
                v = v * 255 / maxv;
            } else {
                v = img->rgb[i * 3];
            }
            img->rgb[i * 3 + c] = (uint8_t)v;
        }
    return NULL;
}

/* A DEFLATE (RFC 1951) decoder for PNG's zlib stream: stored, fixed and
 * dynamic Huffman blocks. Codes are canonical, so a table of code counts
 * per length and the symbols in code order decode them bit by bit. */
typedef struct bits {
    const uint8_t *p;
    size_t n, pos; /* in bits */
} bits;

static int bits_get(bits *b, int k, bool *ok) {
    int v = 0;
    for (int i = 0; i < k; i++, b->pos++) {
        if (b->pos >= b->n * 8) {
            *ok = false;
            return 0;
        }
        v |= ((b->p[b->pos >> 3] >> (b->pos & 7)) & 1) << i;
    }
    return v;
}

typedef struct huff {
    int16_t count[16];
    int16_t symbol[320];
} huff;

static bool huff_build(huff *h, const uint8_t *lengths, int n) {
    memset(h->count, 0, sizeof h->count);
    for (int i = 0; i < n; i++) h->count[lengths[i]]++;
    h->count[0] = 0;
    int16_t offs[16];
    offs[1] = 0;
    int left = 1;
    for (int len = 1; len < 16; len++) {
        left = left * 2 - h->count[len];
        if (left < 0) return false; /* over-subscribed */
        if (len < 15) offs[len + 1] = (int16_t)(offs[len] + h->count[len]);
    }
    for (int i = 0; i < n; i++)
        if (lengths[i]) h->symbol[offs[lengths[i]]++] = (int16_t)i;
    return true;
}

static int huff_decode(bits *b, const huff *h, bool *ok) {
    int code = 0, first = 0, index = 0;
    for (int len = 1; len < 16; len++) {
        code |= bits_get(b, 1, ok);
        if (!*ok) return -1;
        int c = h->count[len];
        if (code - first < c) return h->symbol[index + code - first];
        index += c;
        first = (first + c) << 1;
        code <<= 1;
    }
    *ok = false;
    return -1;
}

static const char *inflate_raw(const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *out_n) {
    static const int16_t len_base[29] = {3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
    static const int8_t len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
    static const int16_t dist_base[30] = {1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
    static const int8_t dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
    static const uint8_t clen_order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
    bits b = {in, n, 0};
    bool ok = true;
    size_t o = 0;
    int last;
    do {
        last = bits_get(&b, 1, &ok);
        int type = bits_get(&b, 2, &ok);
        if (!ok) return "truncated deflate stream";
        if (type == 0) {
            b.pos = (b.pos + 7) & ~(size_t)7;
            size_t at = b.pos / 8;
            if (at + 4 > n) return "truncated stored block";
            size_t len = in[at] | (size_t)in[at + 1] << 8;
            if ((len ^ 0xffff) != (in[at + 2] | (size_t)in[at + 3] << 8)) return "bad stored block";
            if (at + 4 + len > n || o + len > cap) return "stored block overruns";
            memcpy(out + o, in + at + 4, len);
            o += len;
            b.pos = (at + 4 + len) * 8;
            continue;
        }
        if (type == 3) return "bad deflate block type";
        huff lit, dist;
        uint8_t lens[320];
        if (type == 1) {
            for (int i = 0; i < 288; i++) lens[i] = i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8;
            huff_build(&lit, lens, 288);
            for (int i = 0; i < 30; i++) lens[i] = 5;
            huff_build(&dist, lens, 30);
        } else {
            int nlen = bits_get(&b, 5, &ok) + 257, ndist = bits_get(&b, 5, &ok) + 1, ncode = bits_get(&b, 4, &ok) + 4;
            if (!ok || nlen > 286 || ndist > 30) return "bad dynamic block header";
            uint8_t cl[19] = {0};
            for (int i = 0; i < ncode; i++) cl[clen_order[i]] = (uint8_t)bits_get(&b, 3, &ok);
            huff clh;
            if (!ok || !huff_build(&clh, cl, 19)) return "bad code-length code";
            for (int i = 0; i < nlen + ndist;) {
                int sym = huff_decode(&b, &clh, &ok);
                if (!ok) return "bad code lengths";
                if (sym < 16) {
                    lens[i++] = (uint8_t)sym;
                    continue;
                }
                int rep, val = 0;
                if (sym == 16) {
                    if (i == 0) return "repeat with no previous length";
                    val = lens[i - 1], rep = 3 + bits_get(&b, 2, &ok);
                } else if (sym == 17) rep = 3 + bits_get(&b, 3, &ok);
                else rep = 11 + bits_get(&b, 7, &ok);
                if (!ok || i + rep > nlen + ndist) return "code lengths overrun";
                while (rep--) lens[i++] = (uint8_t)val;
            }
            if (!huff_build(&lit, lens, nlen) || !huff_build(&dist, lens + nlen, ndist)) return "bad Huffman code";
        }
        for (;;) {
            int sym = huff_decode(&b, &lit, &ok);
            if (!ok) return "bad literal/length code";
            if (sym < 256) {
                if (o >= cap) return "inflated data overruns the image";
                out[o++] = (uint8_t)sym;
            } else if (sym == 256) {
                break;
            } else {
                sym -= 257;
                if (sym >= 29) return "bad length symbol";
                size_t len = (size_t)(len_base[sym] + bits_get(&b, len_extra[sym], &ok));
                int ds = huff_decode(&b, &dist, &ok);
                if (!ok || ds < 0 || ds >= 30) return "bad distance code";
                size_t d = (size_t)(dist_base[ds] + bits_get(&b, dist_extra[ds], &ok));
                if (!ok || d > o || o + len > cap) return "bad back-reference";
                for (size_t k = 0; k < len; k++, o++) out[o] = out[o - d];
            }
        }
    } while (!last);
    *out_n = o;
    return NULL;
}

static uint32_t rd_be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* 8-bit, non-interlaced PNG: grey, grey+alpha, RGB, RGBA or palette. */
static const char *decode_png(const uint8_t *b, size_t n, image *img) {
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n < 8 || memcmp(b, sig, 8)) return "not a PNG file";
    int64_t W = 0, H = 0;
    int ctype = -1;
    uint8_t pal[768];
    int npal = 0;
    size_t zcap = 0, zn = 0;
    uint8_t *z = NULL;
    const char *why = NULL;
    for (size_t at = 8; at + 12 <= n && !why;) {
        uint32_t len = rd_be32(b + at);
        const uint8_t *type = b + at + 4, *d = b + at + 8;
        if (len > n - at - 12) {
            why = "truncated PNG chunk";
            break;
        }
        if (!memcmp(type, "IHDR", 4) && len >= 13) {
            W = rd_be32(d), H = rd_be32(d + 4), ctype = d[9];
            if (d[8] != 8 || d[10] || d[11] || d[12]) why = "PNG bit depth, compression or interlacing not supported";
        } else if (!memcmp(type, "PLTE", 4) && len <= 768) {
            memcpy(pal, d, len);
            npal = (int)(len / 3);
        } else if (!memcmp(type, "IDAT", 4)) {
            if (zn + len > zcap) {
                zcap = (zn + len) * 2;
                uint8_t *nz = realloc(z, zcap);
                if (!nz) {
                    why = "out of memory";
                    break;
                }
                z = nz;
            }
            if (len) memcpy(z + zn, d, len); /* an empty IDAT before any data: z is still NULL */
            zn += len;
        } else if (!memcmp(type, "IEND", 4)) {
            break;
        }
        at += 12 + (size_t)len;
    }
    int ch = ctype == 0 ? 1 : ctype == 2 ? 3 : ctype == 3 ? 1 : ctype == 4 ? 2 : ctype == 6 ? 4 : 0;
    if (!why && (!ch || W <= 0 || H <= 0 || W > 1 << 16 || H > 1 << 16)) why = "PNG header not supported";
    if (!why && zn < 2) why = "PNG has no image data";
    size_t stride = (size_t)(W * ch), raw_n = 0, cap = (stride + 1) * (size_t)H;
    uint8_t *raw = why ? NULL : malloc(cap ? cap : 1);
    if (!why && !raw) why = "out of memory";
    /* zlib: 2-byte header, deflate data, adler-32 (not checked) */
    if (!why) why = inflate_raw(z + 2, zn - 2, raw, cap, &raw_n);
    if (!why && raw_n != cap) why = "PNG image data has the wrong size";
    if (!why) {
        img->w = W, img->h = H;
        img->rgb = malloc((size_t)(W * H * 3));
        if (!img->rgb) why = "out of memory";
    }
    for (int64_t y = 0; !why && y < H; y++) {
        uint8_t *row = raw + (size_t)y * (stride + 1), f = row[0];
        uint8_t *cur = row + 1, *prev = y ? raw + (size_t)(y - 1) * (stride + 1) + 1 : NULL;
        for (size_t i = 0; i < stride; i++) {
            int a = i >= (size_t)ch ? cur[i - ch] : 0, up = prev ? prev[i] : 0, c = prev && i >= (size_t)ch ? prev[i - ch] : 0;
            int pred;
            switch (f) {
            case 0: pred = 0; break;
            case 1: pred = a; break;
            case 2: pred = up; break;
            case 3: pred = (a + up) / 2; break;
            case 4: {
                int pp = a + up - c, pa = abs(pp - a), pb = abs(pp - up), pc = abs(pp - c);
                pred = pa <= pb && pa <= pc ? a : pb <= pc ? up : c;
                break;
            }
            default: pred = -1;
            }
            if (pred < 0) {
                why = "bad PNG filter";
                break;
            }
            cur[i] = (uint8_t)(cur[i] + pred);
        }
        for (int64_t x = 0; !why && x < W; x++) {
            const uint8_t *px = cur + x * ch;
            uint8_t *o = img->rgb + (y * W + x) * 3;
            if (ctype == 3) {
                if (px[0] >= npal) why = "PNG palette index out of range";
                else o[0] = pal[px[0] * 3], o[1] = pal[px[0] * 3 + 1], o[2] = pal[px[0] * 3 + 2];
            } else if (ch <= 2) {
                o[0] = o[1] = o[2] = px[0];
            } else {
                o[0] = px[0], o[1] = px[1], o[2] = px[2];
            }
        }
    }
    free(z);
    free(raw);
    return why;
}

/* Baseline TIFF, uncompressed, 8 bits per sample, chunky: grey or RGB(A). */
typedef struct tiff {
    const uint8_t *b;
    size_t n;
    bool be;
} tiff;

static uint32_t tiff_u(const tiff *t, size_t at, int bytes) {
    if (at + (size_t)bytes > t->n) return 0;
    uint32_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint32_t)t->b[at + (size_t)(t->be ? bytes - 1 - i : i)] << (8 * i);
    return v;
}

/* Value k of an IFD entry (SHORT or LONG, inline when it fits). */
static uint32_t tiff_value(const tiff *t, size_t entry, uint32_t k) {
    uint32_t type = tiff_u(t, entry + 2, 2), count = tiff_u(t, entry + 4, 4);
    int size = type == 3 ? 2 : type == 4 ? 4 : type == 1 ? 1 : 0;
    if (!size || k >= count) return 0;
    size_t at = (uint64_t)count * (uint64_t)size <= 4 ? entry + 8 : tiff_u(t, entry + 8, 4);
    return tiff_u(t, at + (size_t)k * (size_t)size, size);
}

static const char *decode_tiff(const uint8_t *b, size_t n, image *img) {
    tiff t = {b, n, b[0] == 'M'};
    if (n < 8 || tiff_u(&t, 2, 2) != 42) return "not a TIFF file";
    size_t ifd = tiff_u(&t, 4, 4);
    uint32_t entries = tiff_u(&t, ifd, 2);
    if (ifd + 2 + (size_t)entries * 12 > n) return "truncated TIFF directory";
    int64_t W = 0, H = 0, spp = 1, photometric = -1, compression = 1, planar = 1, rows_per_strip = 0;
    size_t offsets = 0, counts = 0;
    uint32_t n_strips = 0;
    bool bits8 = true;
    for (uint32_t i = 0; i < entries; i++) {
        size_t e = ifd + 2 + (size_t)i * 12;
        uint32_t tag = tiff_u(&t, e, 2);
        switch (tag) {
        case 256: W = tiff_value(&t, e, 0); break;
        case 257: H = tiff_value(&t, e, 0); break;
        case 258:
            for (uint32_t k = 0; k < tiff_u(&t, e + 4, 4) && k < 8; k++) bits8 = bits8 && tiff_value(&t, e, k) == 8;
            break;
        case 259: compression = tiff_value(&t, e, 0); break;
        case 262: photometric = tiff_value(&t, e, 0); break;
        case 273: offsets = e, n_strips = tiff_u(&t, e + 4, 4); break;
        case 277: spp = tiff_value(&t, e, 0); break;
        case 278: rows_per_strip = tiff_value(&t, e, 0); break;
        case 279: counts = e; break;
        case 284: planar = tiff_value(&t, e, 0); break;
        default: break;
        }
    }
    if (compression != 1 || planar != 1 || !bits8 || (photometric != 1 && photometric != 2) ||
        (photometric == 2 && spp < 3) || spp < 1 || spp > 4)
        return "TIFF variant (compression, planes, bit depth or colour model) not supported";
    if (W <= 0 || H <= 0 || W > 1 << 16 || H > 1 << 16 || !offsets || !counts) return "bad TIFF header";
    /* Uncompressed: the pixels are in the file, so a size beyond it is a lie
     * (and must not become a huge allocation). */
    if ((uint64_t)W * (uint64_t)H * (uint64_t)spp > n) return "truncated TIFF pixel data";
    if (rows_per_strip <= 0 || rows_per_strip > H) rows_per_strip = H;
    img->w = W, img->h = H;
    img->rgb = malloc((size_t)(W * H * 3));
    if (!img->rgb) return "out of memory";
    size_t row_bytes = (size_t)(W * spp);
    for (int64_t y = 0; y < H; y++) {
        uint32_t strip = (uint32_t)(y / rows_per_strip);
        if (strip >= n_strips) return "TIFF strips do not cover the image";
        size_t at = tiff_value(&t, offsets, strip) + (size_t)(y % rows_per_strip) * row_bytes;
        if (at + row_bytes > n) return "truncated TIFF pixel data";
        for (int64_t x = 0; x < W; x++) {
            const uint8_t *px = b + at + (size_t)(x * spp);
            uint8_t *o = img->rgb + (y * W + x) * 3;
            if (photometric == 2) o[0] = px[0], o[1] = px[1], o[2] = px[2];
            else o[0] = o[1] = o[2] = px[0];
        }
    }
    return NULL;
}

/* libjpeg reports errors by calling error_exit, whose default exits the
 * process: ours jumps back with the message instead. */
typedef struct jpeg_failure {
    struct jpeg_error_mgr mgr;
    jmp_buf back;
    char message[JMSG_LENGTH_MAX];
} jpeg_failure;

static void jpeg_fail(j_common_ptr cinfo) {
    jpeg_failure *f = (jpeg_failure *)cinfo->err;
    f->mgr.format_message(cinfo, f->message);
    longjmp(f->back, 1);
}

static void jpeg_quiet(j_common_ptr cinfo, int level) { (void)cinfo, (void)level; }

/* Decodes to RGB as Pillow does (libjpeg's defaults: integer IDCT, fancy
 * upsampling); a grayscale JPEG is spread over the three channels. The
 * returned message lives in static storage only for the fixed ones, so a
 * libjpeg message is copied to why_buf. */
static const char *decode_jpeg(const uint8_t *b, size_t n, image *img, char *why_buf, size_t why_size) {
    struct jpeg_decompress_struct cinfo;
    jpeg_failure fail;
    cinfo.err = jpeg_std_error(&fail.mgr);
    fail.mgr.error_exit = jpeg_fail;
    fail.mgr.emit_message = jpeg_quiet;
    uint8_t *volatile rgb = NULL, *volatile row = NULL;
    /* what the error path reads, kept out of registers longjmp may restore */
    char *volatile why_out = why_buf;
    volatile size_t why_cap = why_size;
    if (setjmp(fail.back)) {
        jpeg_destroy_decompress(&cinfo);
        free(row);
        free(rgb);
        snprintf(why_out, why_cap, "bad JPEG: %s", fail.message);
        return why_out;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, b, (unsigned long)n);
    jpeg_read_header(&cinfo, TRUE);
    bool gray = cinfo.jpeg_color_space == JCS_GRAYSCALE;
    cinfo.out_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    int64_t W = cinfo.output_width, H = cinfo.output_height, c = cinfo.output_components;
    if (W <= 0 || H <= 0 || W * H > ((int64_t)1 << 28) || (c != 1 && c != 3)) {
        jpeg_destroy_decompress(&cinfo);
        return "JPEG of unsupported size or channels";
    }
    rgb = malloc((size_t)(W * H * 3));
    row = malloc((size_t)(W * c));
    if (!rgb || !row) {
        free(row);
        free(rgb);
        jpeg_destroy_decompress(&cinfo);
        return "out of memory";
    }
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
    img->w = W, img->h = H, img->rgb = rgb;
    return NULL;
}

/* WebP to RGB with libwebp's defaults (fancy upsampling), as Pillow. */
static const char *decode_webp(const uint8_t *b, size_t n, image *img) {
    int w = 0, h = 0;
    uint8_t *px = WebPDecodeRGB(b, n, &w, &h);
    if (!px) return "bad WebP image";
    size_t bytes = (size_t)w * (size_t)h * 3;
    img->rgb = malloc(bytes ? bytes : 1);
    if (img->rgb) memcpy(img->rgb, px, bytes);
    WebPFree(px);
    if (!img->rgb) return "out of memory";
    img->w = w, img->h = h;
    return NULL;
}

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

/* A JP2 file or a raw J2K codestream of 8-bit grey or RGB components. */
static const char *decode_j2k(const uint8_t *b, size_t n, bool jp2, image *img) {
    j2k_source src = {b, n, 0};
    opj_stream_t *st = opj_stream_create(1 << 16, OPJ_TRUE);
    opj_codec_t *codec = opj_create_decompress(jp2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K);
    opj_image_t *im = NULL;
    const char *why = NULL;
    if (!st || !codec) why = "out of memory";
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
        if (!opj_setup_decoder(codec, &params) || !opj_read_header(st, codec, &im) ||
            !opj_decode(codec, st, im) || !opj_end_decompress(codec, st))
            why = "bad JPEG 2000 image";
    }
    int nc = im ? (int)im->numcomps : 0;
    if (!why && nc != 1 && nc != 3) why = "JPEG 2000 image with other than 1 or 3 components";
    for (int c = 0; !why && c < nc; c++) {
        const opj_image_comp_t *k = &im->comps[c];
        if (k->prec != 8 || k->sgnd || k->dx != 1 || k->dy != 1 || k->w != im->comps[0].w ||
            k->h != im->comps[0].h || !k->data)
            why = "JPEG 2000 image that is not 8-bit unsigned and unsubsampled";
    }
    if (!why) {
        int64_t W = im->comps[0].w, H = im->comps[0].h;
        if (W <= 0 || H <= 0 || W * H > ((int64_t)1 << 28)) why = "JPEG 2000 image of unsupported size";
        else if (!(img->rgb = malloc((size_t)(W * H * 3)))) why = "out of memory";
        for (int64_t i = 0; !why && i < W * H; i++)
            for (int c = 0; c < 3; c++) {
                OPJ_INT32 v = im->comps[nc == 3 ? c : 0].data[i];
                img->rgb[i * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        if (!why) img->w = W, img->h = H;
    }
    if (im) opj_image_destroy(im);
    if (codec) opj_destroy_codec(codec);
    if (st) opj_stream_destroy(st);
    return why;
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
    image img = {0, 0, NULL};
    const char *why;
    char jpeg_why[JMSG_LENGTH_MAX + 16];
    if (n >= 2 && b[0] == 'B' && b[1] == 'M') why = decode_bmp(b, n, &img);
    else if (n >= 2 && b[0] == 'P' && strchr("2356", b[1])) why = decode_pnm(b, n, &img);
    else if (n >= 8 && b[0] == 0x89 && b[1] == 'P') why = decode_png(b, n, &img);
    else if (n >= 8 && ((b[0] == 'I' && b[1] == 'I') || (b[0] == 'M' && b[1] == 'M'))) why = decode_tiff(b, n, &img);
    else if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) why = decode_jpeg(b, n, &img, jpeg_why, sizeof jpeg_why);
    else if (n >= 12 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBP", 4)) why = decode_webp(b, n, &img);
    else if (n >= 12 && !memcmp(b, "\0\0\0\x0cjP  \r\n\x87\n", 12)) why = decode_j2k(b, n, true, &img);
    else if (n >= 4 && b[0] == 0xff && b[1] == 0x4f && b[2] == 0xff && b[3] == 0x51) why = decode_j2k(b, n, false, &img);
    else why = "the image is none of BMP, PNM, PNG, uncompressed TIFF, JPEG, WebP or JPEG 2000 (not supported)";
    if (why) {
        free(img.rgb);
        return lo_kernel_fail(ctx, strstr(why, "not") ? LO_ERR_UNSUPPORTED : LO_ERR_INPUT, "%s", why);
    }
    int64_t dims[3] = {img.h, img.w, mode == 2 ? 1 : 3};
    lo_status st = lo_output(ctx, 0, LO_UINT8, 3, dims);
    if (st == LO_OK && has_out(ctx, 0)) {
        uint8_t *o = ctx->out[0]->data;
        for (int64_t i = 0; i < img.w * img.h; i++) {
            const uint8_t *p = img.rgb + i * 3;
            if (mode == 0) o[i * 3] = p[0], o[i * 3 + 1] = p[1], o[i * 3 + 2] = p[2];
            else if (mode == 1) o[i * 3] = p[2], o[i * 3 + 1] = p[1], o[i * 3 + 2] = p[0];
            else o[i] = (uint8_t)lrint(0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]);
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
