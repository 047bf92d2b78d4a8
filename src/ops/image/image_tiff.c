/* TIFF through libtiff (every compression the Debian build has: LZW,
 * Deflate, PackBits, JPEG, CCITT, LZMA, ZSTD, WebP, ...), the first image
 * of the file, as Pillow.
 *
 * Strip images of grey, palette and RGB samples (the kinds Pillow's own
 * unpackers read) are read as samples and converted as Pillow converts
 * them: 1/2/4-bit grey widened (x255/x85/x17, inverted for min-is-white),
 * palettes through the high byte of the 16-bit colour map, 16-bit RGB
 * through the high byte, 16-bit grey (Pillow's "I;16") clipped to 255,
 * alpha dropped. Everything else (tiles, YCbCr, CMYK, Lab, planes...) goes
 * through libtiff's TIFFReadRGBAImage, whose pixels may differ from
 * Pillow's in ways Pillow itself documents loosely (associated alpha,
 * orientation). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tiffio.h>

#include "image.h"

typedef struct tiff_source {
    const uint8_t *b;
    size_t n, at;
    char message[200];
} tiff_source;

static tmsize_t t_read(thandle_t h, void *buf, tmsize_t size) {
    tiff_source *s = h;
    if (size < 0) return -1;
    size_t k = s->n - s->at < (size_t)size ? s->n - s->at : (size_t)size;
    memcpy(buf, s->b + s->at, k);
    s->at += k;
    return (tmsize_t)k;
}

static tmsize_t t_write(thandle_t h, void *buf, tmsize_t size) { (void)h, (void)buf, (void)size; return -1; }

static toff_t t_seek(thandle_t h, toff_t off, int whence) {
    tiff_source *s = h;
    uint64_t base = whence == SEEK_CUR ? s->at : whence == SEEK_END ? s->n : 0;
    if (off > UINT64_MAX - base || base + off > s->n) return (toff_t)-1;
    s->at = (size_t)(base + off);
    return s->at;
}

static int t_close(thandle_t h) { (void)h; return 0; }
static toff_t t_size(thandle_t h) { return ((tiff_source *)h)->n; }
static int t_map(thandle_t h, void **base, toff_t *size) { (void)h, (void)base, (void)size; return 0; }
static void t_unmap(thandle_t h, void *base, toff_t size) { (void)h, (void)base, (void)size; }

/* libtiff reports some errors it then recovers from: the last one is the
 * one that stopped it. Warnings are ignored, as Pillow does. */
static int t_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    (void)tif, (void)module;
    tiff_source *s = user;
    vsnprintf(s->message, sizeof s->message, fmt, ap);
    return 1;
}

static int t_warning(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    (void)tif, (void)user, (void)module, (void)fmt, (void)ap;
    return 1;
}

/* How many decoded bytes one stored byte can become at most, by
 * compression; 0 where the codec has no useful bound (CCITT, LZMA, ZSTD...:
 * the size cap is all). PackBits: 2 bytes repeat one 128 times; LZW: a
 * 9-bit code emits at most a 4096-byte string; Deflate: 1032 (a 258-byte
 * match in 2 bits); JPEG: Huffman spends a bit at least on each 8x8 block. */
static uint64_t tiff_ratio(unsigned compression, unsigned spp, unsigned bps) {
    switch (compression) {
    case COMPRESSION_NONE: return 1;
    case COMPRESSION_PACKBITS: return 64;
    case COMPRESSION_LZW: return 4096 * 8 / 9 + 1;
    case COMPRESSION_ADOBE_DEFLATE:
    case COMPRESSION_DEFLATE: return 1032;
    case COMPRESSION_JPEG: return 64 * 8 * (uint64_t)spp * ((bps + 7) / 8);
    default: return 0;
    }
}

static const char *tiff_plausible(TIFF *tif, tiff_source *src, lo_image *img, uint32_t w, uint32_t h, unsigned spp,
                                  unsigned bps, unsigned compression) {
    uint64_t ratio = tiff_ratio(compression, spp, bps);
    if (!ratio) return NULL;
    bool tiled = TIFFIsTiled(tif);
    uint32_t k = tiled ? TIFFNumberOfTiles(tif) : TIFFNumberOfStrips(tif);
    uint64_t *counts = NULL;
    if (!TIFFGetField(tif, tiled ? TIFFTAG_TILEBYTECOUNTS : TIFFTAG_STRIPBYTECOUNTS, &counts) || !counts)
        return lo_image_fail(img, "TIFF without %s byte counts", tiled ? "tile" : "strip");
    /* strips that overlap could count the same bytes many times: a real
     * file holds no more than its own size */
    uint64_t stored = 0;
    for (uint32_t i = 0; i < k && stored < src->n; i++) stored += counts[i];
    if (stored > src->n) stored = src->n;
    uint64_t raw = ((uint64_t)w * spp * bps + 7) / 8 * h;
    if (raw > (stored + 1) * ratio)
        return lo_image_fail(img,
                             "TIFF of %" PRIu32 " x %" PRIu32 " pixels cannot be held in its %" PRIu64
                             " bytes of image data (compression %u; truncated or damaged)",
                             w, h, stored, compression);
    return NULL;
}

/* Sample x of a row of bps-bit samples, MSB first (bps 1, 2, 4, 8 or 16,
 * 16-bit in host order as libtiff returns them). */
static unsigned tiff_sample(const uint8_t *row, uint64_t x, unsigned bps) {
    if (bps == 8) return row[x];
    if (bps == 16) {
        uint16_t v;
        memcpy(&v, row + x * 2, 2);
        return v;
    }
    uint64_t bit = x * bps;
    return (row[bit / 8] >> (8 - bps - bit % 8)) & ((1u << bps) - 1);
}

/* Pillow's unpackers for a strip image of grey, palette or RGB samples. */
static const char *tiff_samples(TIFF *tif, tiff_source *src, lo_image *img, unsigned photometric, unsigned spp,
                                unsigned bps) {
    uint16_t *cmap[3] = {NULL, NULL, NULL};
    if (photometric == PHOTOMETRIC_PALETTE && !TIFFGetField(tif, TIFFTAG_COLORMAP, &cmap[0], &cmap[1], &cmap[2]))
        return "TIFF palette image without a colour map";
    tmsize_t line = TIFFScanlineSize(tif);
    if (line <= 0 || (uint64_t)line < ((uint64_t)img->w * spp * bps + 7) / 8)
        return lo_image_fail(img, "bad TIFF: %s", src->message[0] ? src->message : "scanline size");
    uint8_t *row = malloc((size_t)line);
    if (!row) return "out of memory";
    unsigned top = (1u << (bps < 16 ? bps : 8)) - 1;
    for (int64_t y = 0; y < img->h; y++) {
        if (TIFFReadScanline(tif, row, (uint32_t)y, 0) < 0) {
            free(row);
            return lo_image_fail(img, "bad TIFF: %s", src->message[0] ? src->message : "cannot read a row");
        }
        for (int64_t x = 0; x < img->w; x++) {
            uint8_t *o = img->rgb + (y * img->w + x) * 3;
            if (photometric == PHOTOMETRIC_RGB) {
                for (int c = 0; c < 3; c++) {
                    unsigned v = tiff_sample(row, (uint64_t)x * spp + (unsigned)c, bps);
                    o[c] = (uint8_t)(bps == 16 ? v >> 8 : v);
                }
            } else if (photometric == PHOTOMETRIC_PALETTE) {
                unsigned i = tiff_sample(row, (uint64_t)x * spp, bps);
                for (int c = 0; c < 3; c++) o[c] = (uint8_t)(cmap[c][i] >> 8);
            } else {
                unsigned v = tiff_sample(row, (uint64_t)x * spp, bps);
                if (bps == 16) v = v > 255 ? 255 : v; /* "I;16" clipped */
                else v = v * 255 / top;
                if (photometric == PHOTOMETRIC_MINISWHITE) v = 255 - v;
                o[0] = o[1] = o[2] = (uint8_t)v;
            }
        }
    }
    free(row);
    return NULL;
}

/* libtiff's own conversion to RGBA, top row first. */
static const char *tiff_rgba(TIFF *tif, tiff_source *src, lo_image *img) {
    char emsg[1024] = "";
    if (!TIFFRGBAImageOK(tif, emsg)) return lo_image_unsupported(img, "TIFF variant not supported: %s", emsg);
    uint32_t *raster = malloc((size_t)(img->w * img->h) * 4);
    if (!raster) return "out of memory";
    if (!TIFFReadRGBAImageOriented(tif, (uint32_t)img->w, (uint32_t)img->h, raster, ORIENTATION_TOPLEFT, 0)) {
        free(raster);
        return lo_image_fail(img, "bad TIFF: %s", src->message[0] ? src->message : "cannot read the image");
    }
    for (int64_t i = 0; i < img->w * img->h; i++) {
        img->rgb[i * 3] = (uint8_t)TIFFGetR(raster[i]);
        img->rgb[i * 3 + 1] = (uint8_t)TIFFGetG(raster[i]);
        img->rgb[i * 3 + 2] = (uint8_t)TIFFGetB(raster[i]);
    }
    free(raster);
    return NULL;
}

/* libtiff's largest single allocation is set when the file is opened. The
 * first opening, to read the header, allows what the directory of a file
 * this size can need (arrays of strip offsets, tags: a few times its size);
 * one whose header declares a million strips in a few bytes is refused
 * there. The image is then decoded from a second opening whose limit fits
 * the declared (and by then checked) size: a whole-image strip of 16-bit
 * RGBA at most, 64 MB at least. */
static TIFF *tiff_open(tiff_source *src, int64_t most) {
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
    if (!opts) return NULL;
    TIFFOpenOptionsSetMaxSingleMemAlloc(opts, (tmsize_t)most);
    TIFFOpenOptionsSetErrorHandlerExtR(opts, t_error, src);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, t_warning, src);
    src->at = 0;
    /* "m": no memory mapping, libtiff reads through t_read */
    TIFF *tif = TIFFClientOpenExt("image", "rm", src, t_read, t_write, t_seek, t_close, t_size, t_map, t_unmap, opts);
    TIFFOpenOptionsFree(opts);
    return tif;
}

const char *lo_decode_tiff(const uint8_t *b, size_t n, lo_image *img) {
    tiff_source src = {b, n, 0, ""};
    TIFF *tif = tiff_open(&src, ((int64_t)1 << 20) + (int64_t)n * 16);
    if (!tif) return lo_image_fail(img, "bad TIFF: %s", src.message[0] ? src.message : "cannot open");
    uint32_t w = 0, h = 0;
    uint16_t bps = 1, spp = 1, photometric = 0xffff, planar = PLANARCONFIG_CONTIG, compression = COMPRESSION_NONE,
             format = SAMPLEFORMAT_UINT;
    const char *why = NULL;
    if (!TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w) || !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h))
        why = "TIFF without image width or length";
    TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &planar);
    TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &compression);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &format);
    TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photometric);
    if (!why) why = lo_image_size_ok(img, "TIFF", w, h);
    if (!why) why = tiff_plausible(tif, &src, img, w, h, spp, bps, compression);
    if (!why && !TIFFIsCODECConfigured(compression))
        why = lo_image_unsupported(img, "TIFF compression %u (not supported by this libtiff)", compression);
    /* a tile may overhang the image, but not by orders of magnitude */
    uint64_t raw = ((uint64_t)w * spp * bps + 7) / 8 * h;
    if (!why && TIFFIsTiled(tif) && TIFFTileSize64(tif) > (raw * 4 > (16u << 20) ? raw * 4 : (16u << 20)))
        why = lo_image_fail(img, "TIFF tiles of %" PRIu64 " bytes for an image of %" PRIu32 " x %" PRIu32 " pixels (damaged)",
                            (uint64_t)TIFFTileSize64(tif), w, h);
    if (!why) { /* w x h is within the cap by now */
        int64_t most = (int64_t)w * h * 8 > ((int64_t)64 << 20) ? (int64_t)w * h * 8 : (int64_t)64 << 20;
        TIFFClose(tif);
        if (!(tif = tiff_open(&src, most))) return lo_image_fail(img, "bad TIFF: %s", src.message[0] ? src.message : "cannot open");
    }
    if (!why) why = lo_image_alloc(img, "TIFF", w, h);
    if (!why) {
        bool grey = photometric == PHOTOMETRIC_MINISBLACK || photometric == PHOTOMETRIC_MINISWHITE;
        bool samples = !TIFFIsTiled(tif) && (planar == PLANARCONFIG_CONTIG || spp == 1) && format == SAMPLEFORMAT_UINT &&
                       ((grey && (bps == 1 || bps == 2 || bps == 4 || bps == 8 ||
                                  (bps == 16 && spp == 1 && photometric == PHOTOMETRIC_MINISBLACK))) ||
                        (photometric == PHOTOMETRIC_PALETTE && (bps == 1 || bps == 2 || bps == 4 || bps == 8)) ||
                        (photometric == PHOTOMETRIC_RGB && spp >= 3 && (bps == 8 || bps == 16)));
        why = samples ? tiff_samples(tif, &src, img, photometric, spp, bps) : tiff_rgba(tif, &src, img);
    }
    TIFFClose(tif);
    if (why) {
        free(img->rgb);
        img->rgb = NULL;
    }
    return why;
}
