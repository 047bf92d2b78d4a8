"""The `layerout` console command of the pip package: runs the layerout
binary built into the package (or the one _lib.find_binary finds) with the
same arguments, so `layerout generate ...` works right after
`pip install ./python`."""

import os
import sys

from . import _lib


def main() -> int:
    try:
        binary = _lib.find_binary()
    except _lib.LayerOutError as e:
        print(f"layerout: {e}", file=sys.stderr)
        return 2
    if os.path.realpath(binary) == os.path.realpath(sys.argv[0]):
        # the PATH lookup found this very script: no binary to run
        print("layerout: the layerout command is not inside the package; reinstall it with "
              "`pip install ./python`", file=sys.stderr)
        return 2
    os.execv(binary, [binary, *sys.argv[1:]])
    return 2  # not reached: execv replaces the process or raises


if __name__ == "__main__":
    sys.exit(main())
