#!/usr/bin/env bash
# Installs the Debian packages that building and running layerout needs.
# Run as root (or through sudo) on Debian 12. Safe to run again.
set -euo pipefail
packages=(
  build-essential cmake pkg-config
  protobuf-c-compiler libprotobuf-c-dev   # decoder for ONNX's wire format
  libonnx-dev                              # ONNX's own onnx.proto
  libjansson-dev                           # JSON (encodings, manifests)
  libdnnl-dev                              # oneDNN: convolution and GEMM
  libjpeg62-turbo-dev                      # ImageDecoder's JPEG (libjpeg-turbo, as Pillow)
  libpcre2-dev                             # RegexFullMatch (RE2's syntax is Perl's)
  libwebp-dev                              # ImageDecoder's WebP (libwebp, as Pillow)
  libopenjp2-7-dev                         # ImageDecoder's JPEG 2000 (OpenJPEG, as Pillow)
  libpng-dev libtiff-dev                   # ImageDecoder's PNG and TIFF (libpng, libtiff)
  libstb-dev                               # ImageDecoder's BMP (stb_image)
  libfftw3-dev                             # DFT and STFT in O(n log n)
  libssl-dev                               # SHA-256 of the model for the manifest
)
if [ "${1:-}" = "--test" ]; then
  packages+=(
    libonnx-testdata                       # ONNX conformance cases
    python3 python3-venv python3-pip python3-numpy
    python3-torch python3-torchvision python3-onnx  # PyTorch 1.13 and its TorchScript exporter
    clang libclang-rt-14-dev libomp-dev valgrind  # sanitizers, fuzzing (OpenMP for clang), leak checks
    chromium                               # opens the HTML report in tests
    python3-pytest python3-setuptools      # the Python package's tests and offline install
  )
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} Debian packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
