"""ImageDecoder against Pillow, ONNX's reference for the operator.

Images of every format and variant ImageDecoder reads are written here
(by Pillow, or byte by byte where Pillow cannot write the variant: 16-bit
and interlaced PNG, ASCII and odd-maxval PNM), and the expected pixels are
Pillow's own decoding of those bytes: convert("RGB") (reversed for BGR)
and convert("L") for Grayscale. Each becomes an ONNX backend case run by
lo_run_case (the conformance runner), which must PASS with equal bytes.

Then files whose header declares more than the bytes can hold, or more
than the size cap, and truncated files: each must be refused with the
decoder's message (a FAIL naming it), never decoded or crashed on.

Usage: test_pillow.py BUILD_DIR   (run with the venv's Python)
Prints one line per failed check and "image: N passed, M failed".
"""
import io
import os
import struct
import subprocess
import sys
import tempfile
import zlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

build = os.path.abspath(sys.argv[1])
runner = os.path.join(build, "lo_run_case")
rng = np.random.default_rng(18)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import Tally  # noqa: E402

tally = Tally()
check = tally.check


def pil_bytes(img, fmt, **kw):
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()


def picture(h, w, mode):
    """A smooth gradient plus noise, so neighbouring pixels differ and
    compression, filters and palettes all have work to do."""
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + y) * 127 // max(h + w - 2, 1)], -1)
    a = (base + rng.integers(0, 40, base.shape)).clip(0, 255).astype(np.uint8)
    img = Image.fromarray(a, "RGB")
    if mode == "RGBA":
        img.putalpha(Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8)))
    elif mode in ("L", "1", "LA"):
        img = img.convert(mode)
    elif mode == "P":
        img = img.quantize(50)
    return img


# ---- PNG written byte by byte (16-bit, interlaced, low bit depths) ---------------------

def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_raw(samples, ctype, depth, interlace=False, palette=None):
    """samples: h x w x channels integers; rows packed MSB first, filter 0."""
    h, w = samples.shape[:2]

    def rows(s):
        out = b""
        for r in s:
            flat = r.reshape(-1)
            if depth == 16:
                body = flat.astype(">u2").tobytes()
            elif depth == 8:
                body = flat.astype(np.uint8).tobytes()
            else:
                bits = "".join(format(int(v), "0%db" % depth) for v in flat)
                bits += "0" * (-len(bits) % 8)
                body = bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))
            out += b"\0" + body
        return out

    if interlace:
        data = b""
        for x0, y0, dx, dy in [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]:
            sub = samples[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:
                data += rows(sub)
    else:
        data = rows(samples)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 1 if interlace else 0)
    out = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
    if palette is not None:
        out += png_chunk(b"PLTE", bytes(palette))
    return out + png_chunk(b"IDAT", zlib.compress(data, 9)) + png_chunk(b"IEND", b"")


def pnm_ascii(kind, samples, maxval):
    h, w = samples.shape[:2]
    head = "%s\n# written by hand\n%d %d\n" % (kind, w, h)
    if kind != "P1":
        head += "%d\n" % maxval
    body = "\n".join(" ".join(str(int(v)) for v in row.reshape(-1)) for row in samples)
    return (head + body + "\n").encode()


def pnm_binary(kind, samples, maxval):
    h, w = samples.shape[:2]
    dt = ">u2" if maxval > 255 else np.uint8
    return b"%s %d %d %d\n" % (kind.encode(), w, h, maxval) + samples.astype(dt).tobytes()


def images():
    """(name, bytes) of every variant."""
    out = []
    for mode in ("L", "RGB", "RGBA", "P", "LA", "1"):
        out.append(("png_%s" % mode, pil_bytes(picture(13, 17, mode), "PNG")))
    out.append(("png_P_4bit", pil_bytes(picture(9, 11, "P").quantize(12), "PNG", bits=4)))
    g16 = rng.integers(0, 700, (10, 9, 1))
    out.append(("png_grey16", png_raw(g16, 0, 16)))
    out.append(("png_rgb16", png_raw(rng.integers(0, 65536, (10, 9, 3)), 2, 16)))
    out.append(("png_rgba16", png_raw(rng.integers(0, 65536, (7, 5, 4)), 6, 16)))
    out.append(("png_grey2", png_raw(rng.integers(0, 4, (6, 13, 1)), 0, 2)))
    out.append(("png_grey4", png_raw(rng.integers(0, 16, (6, 13, 1)), 0, 4)))
    out.append(("png_rgb_interlaced", png_raw(rng.integers(0, 256, (19, 23, 3)), 2, 8, interlace=True)))
    out.append(("png_grey16_interlaced", png_raw(g16, 0, 16, interlace=True)))
    pal = rng.integers(0, 256, 16 * 3)
    out.append(("png_palette4_interlaced", png_raw(rng.integers(0, 16, (11, 10, 1)), 3, 4, True, pal)))
    for comp in ("raw", "tiff_lzw", "tiff_deflate", "tiff_adobe_deflate", "packbits"):
        for mode in ("L", "RGB", "RGBA", "P", "1"):
            out.append(("tiff_%s_%s" % (comp, mode), pil_bytes(picture(12, 15, mode), "TIFF", compression=comp)))
    out.append(("tiff_lzw_grey16", pil_bytes(Image.fromarray(rng.integers(0, 600, (8, 7)).astype(np.uint16)), "TIFF", compression="tiff_lzw")))
    out.append(("tiff_jpeg_RGB", pil_bytes(picture(16, 24, "RGB"), "TIFF", compression="jpeg")))
    for mode in ("RGB", "RGBA", "P", "L", "1"):
        out.append(("bmp_%s" % mode, pil_bytes(picture(11, 13, mode), "BMP")))
    # top-down: negative height in the header, rows reversed
    bmp = bytearray(pil_bytes(picture(5, 6, "RGB"), "BMP"))
    off, = struct.unpack_from("<I", bmp, 10)
    stride = (6 * 3 + 3) // 4 * 4
    rows = [bytes(bmp[off + i * stride: off + (i + 1) * stride]) for i in range(5)]
    bmp[off:] = b"".join(reversed(rows))
    struct.pack_into("<i", bmp, 22, -5)
    out.append(("bmp_topdown", bytes(bmp)))
    for mode in ("L", "RGB", "1"):
        out.append(("pnm_%s" % mode, pil_bytes(picture(9, 10, mode), "PPM")))
    out.append(("pnm_P5_16bit", pil_bytes(Image.fromarray(rng.integers(0, 400, (6, 5)).astype(np.uint16)), "PPM")))
    out.append(("pnm_P2", pnm_ascii("P2", rng.integers(0, 256, (7, 9, 1)), 255)))
    out.append(("pnm_P2_maxval100", pnm_ascii("P2", rng.integers(0, 101, (7, 9, 1)), 100)))
    out.append(("pnm_P3", pnm_ascii("P3", rng.integers(0, 256, (6, 5, 3)), 255)))
    out.append(("pnm_P3_maxval7", pnm_ascii("P3", rng.integers(0, 8, (6, 5, 3)), 7)))
    out.append(("pnm_P3_maxval1000", pnm_ascii("P3", rng.integers(0, 1001, (6, 5, 3)), 1000)))
    out.append(("pnm_P1", pnm_ascii("P1", rng.integers(0, 2, (5, 11, 1)), 1)))
    out.append(("pnm_P5_maxval100", pnm_binary("P5", rng.integers(0, 101, (7, 9, 1)), 100)))
    out.append(("pnm_P6_maxval1000", pnm_binary("P6", rng.integers(0, 1001, (4, 5, 3)), 1000)))
    for mode in ("L", "RGB"):
        out.append(("jpeg_%s" % mode, pil_bytes(picture(21, 34, mode), "JPEG", quality=85)))
    out.append(("jpeg_progressive", pil_bytes(picture(21, 34, "RGB"), "JPEG", progressive=True)))
    out.append(("jpeg_444", pil_bytes(picture(21, 34, "RGB"), "JPEG", subsampling=0)))
    out.append(("webp_lossy", pil_bytes(picture(21, 34, "RGB"), "WEBP", quality=80)))
    out.append(("webp_lossless", pil_bytes(picture(21, 34, "RGBA"), "WEBP", lossless=True)))
    out.append(("jp2", pil_bytes(picture(17, 19, "RGB"), "JPEG2000")))
    out.append(("j2k_L", pil_bytes(picture(17, 19, "L"), "JPEG2000", no_jp2=True)))
    return out


def write_case(root, name, data, fmt, expected=None):
    d = os.path.join(root, name + "_" + fmt)
    os.makedirs(os.path.join(d, "test_data_set_0"))
    node = helper.make_node("ImageDecoder", ["x"], ["y"], pixel_format=fmt)
    out_shape = list(expected.shape) if expected is not None else [None, None, 1 if fmt == "Grayscale" else 3]
    graph = helper.make_graph([node], name, [helper.make_tensor_value_info("x", TensorProto.UINT8, [len(data)])],
                              [helper.make_tensor_value_info("y", TensorProto.UINT8, out_shape)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]), os.path.join(d, "model.onnx"))
    x = numpy_helper.from_array(np.frombuffer(data, np.uint8).copy(), "x")
    open(os.path.join(d, "test_data_set_0", "input_0.pb"), "wb").write(x.SerializeToString())
    if expected is None:  # a refusal is expected: any output compares unequal
        expected = np.zeros((1, 1, out_shape[2]), np.uint8)
    y = numpy_helper.from_array(expected, "y")
    open(os.path.join(d, "test_data_set_0", "output_0.pb"), "wb").write(y.SerializeToString())
    return d


def run(dirs):
    r = subprocess.run([runner] + dirs, capture_output=True, text=True)
    lines = {}
    for line in r.stdout.splitlines():
        parts = line.split(" ", 2)
        if parts[0] in ("PASS", "FAIL", "UNSUPPORTED") and len(parts) > 1:
            lines[parts[1].rstrip(":")] = line
    return r, lines


def lying():
    """(name, bytes, words one of which the refusal must contain)."""
    out = []
    small = png_raw(rng.integers(0, 256, (4, 4, 3)), 2, 8)
    big = bytearray(small)
    struct.pack_into(">II", big, 16, 10000, 10000)
    struct.pack_into(">I", big, 29, zlib.crc32(bytes(big[12:29])) & 0xFFFFFFFF)
    out.append(("png_lying_dims", bytes(big), "cannot inflate"))
    struct.pack_into(">II", big, 16, 20000, 20000)
    struct.pack_into(">I", big, 29, zlib.crc32(bytes(big[12:29])) & 0xFFFFFFFF)
    out.append(("png_over_cap", bytes(big), "larger than the 178956970"))
    t = bytearray(pil_bytes(picture(8, 8, "RGB"), "TIFF", compression="tiff_lzw"))
    # ImageWidth / ImageLength entries rewritten to 10000 x 10000
    ifd, = struct.unpack_from("<I", t, 4)
    k, = struct.unpack_from("<H", t, ifd)
    for i in range(k):
        e = ifd + 2 + 12 * i
        tag, typ = struct.unpack_from("<HH", t, e)
        if tag in (256, 257):
            struct.pack_into("<H" if typ == 3 else "<I", t, e + 8, 10000)
    out.append(("tiff_lzw_lying_dims", bytes(t), "cannot be held"))
    bmp = bytearray(pil_bytes(picture(4, 4, "RGB"), "BMP"))
    struct.pack_into("<ii", bmp, 18, 9000, 9000)
    out.append(("bmp_lying_dims", bytes(bmp), "truncated"))
    out.append(("pnm_lying_dims", b"P6 9000 9000 255\n" + bytes(300), "truncated"))
    out.append(("pnm_over_cap", b"P5 60000 60000 255\n" + bytes(300), "larger than the"))
    j = bytearray(pil_bytes(picture(16, 16, "RGB"), "JPEG"))
    sof = j.find(b"\xff\xc0")
    struct.pack_into(">HH", j, sof + 5, 10000, 10000)
    out.append(("jpeg_lying_dims", bytes(j), "cannot be held"))
    struct.pack_into(">HH", j, sof + 5, 65000, 65000)
    out.append(("jpeg_over_cap", bytes(j), "larger than the"))
    k = bytearray(pil_bytes(picture(17, 19, "RGB"), "JPEG2000", no_jp2=True, tile_size=(16, 16)))
    struct.pack_into(">II", k, 8, 10000, 10000)  # Xsiz, Ysiz in SIZ (after FF4F FF51 Lsiz Rsiz)
    out.append(("j2k_lying_tiles", bytes(k), "tiles cannot be held"))
    w = bytearray(pil_bytes(picture(8, 8, "RGB"), "WEBP", lossless=True))
    v, = struct.unpack_from("<I", w, 21)  # VP8L: 14-bit width-1 and height-1
    struct.pack_into("<I", w, 21, (v & ~0xFFFFFFF) | 16383 | 16383 << 14)
    out.append(("webp_over_cap", bytes(w), "larger than the"))
    return out


def main():
    with tempfile.TemporaryDirectory(prefix="layerout-image-") as root:
        good, dirs = [], []
        for name, data in images():
            src = Image.open(io.BytesIO(data))
            rgb = np.asarray(src.convert("RGB"))
            grey = np.asarray(Image.open(io.BytesIO(data)).convert("L"))[:, :, None]
            for fmt, exp in (("RGB", rgb), ("BGR", rgb[:, :, ::-1].copy()), ("Grayscale", grey)):
                dirs.append(write_case(root, name, data, fmt, np.ascontiguousarray(exp)))
                good.append(os.path.basename(dirs[-1]))
        bad = []
        for name, data, words in lying():
            dirs.append(write_case(root, name, data, "RGB"))
            bad.append((os.path.basename(dirs[-1]), words))
        # every truncation of a few files (header included) is refused
        cuts = []
        for name, data in images():
            if name in ("png_RGB", "png_rgb_interlaced", "tiff_tiff_lzw_RGB", "tiff_raw_L", "bmp_P", "pnm_P3", "pnm_RGB",
                        "jpeg_RGB", "webp_lossy", "jp2"):
                for cut in sorted(set([1, 5, 9, 20, 40] + [len(data) * k // 8 for k in range(1, 8)])):
                    if name.startswith("png") and cut > len(data) - 12:
                        continue  # IEND: not needed to decode
                    dirs.append(write_case(root, "%s_cut%d" % (name, cut), data[:cut], "RGB"))
                    cuts.append(os.path.basename(dirs[-1]))
        r, lines = run(dirs)
        if r.returncode not in (0, 1) or "passed" not in r.stdout:
            check(False, "lo_run_case exited %d: %s" % (r.returncode, r.stderr[-2000:]))
        for case in good:
            check(lines.get(case, "").startswith("PASS"), "%s: %s" % (case, lines.get(case, "no result")))
        for case, words in bad:
            line = lines.get(case, "")
            check(line.startswith("FAIL") and "ImageDecoder" in line and words in line, "%s refused with '%s': %s" % (case, words, line or "no result"))
        for case in cuts:
            line = lines.get(case, "")
            check((line.startswith("FAIL") or line.startswith("UNSUPPORTED")) and "ImageDecoder" in line,
                  "%s refused: %s" % (case, line or "no result"))
    print(tally.line("image"), flush=True)
    return 1 if tally.failed else 0


sys.exit(main())
