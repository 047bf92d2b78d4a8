"""The package's ctypes mirrors of the C options structs against the library
it loads: the sizes the *_init functions write must be the mirrors', and a
mirror that drifted from include/layerout.h must be refused, not used."""

import ctypes

import pytest

from layerout import _lib


def test_mirrors_match_the_library():
    lib = _lib.load()  # load() itself runs check_layouts; again here so a failure names this test
    _lib.check_layouts(lib)
    # the generator's options embed the model's and the session's at the mirror's offsets
    o = _lib.LoGeneratorOptions()
    lib.lo_generator_options_init(ctypes.byref(o))
    assert o.struct_size == ctypes.sizeof(_lib.LoGeneratorOptions)
    assert o.model.struct_size == ctypes.sizeof(_lib.LoModelOptions)
    assert o.session.struct_size == ctypes.sizeof(_lib.LoSessionOptions)


class _ThreadsBeforeModel(ctypes.Structure):
    # the generator options as they were before they embedded the session's:
    # the same size give or take, but the model options 8 bytes off
    _fields_ = [("struct_size", ctypes.c_size_t), ("format", ctypes.c_int), ("mode", ctypes.c_int),
                ("threads", ctypes.c_int), ("model", _lib.LoModelOptions)] + \
        [f for f in _lib.LoGeneratorOptions._fields_ if f[0] not in ("struct_size", "format", "mode", "model")]


class _MaxMemoryDropped(ctypes.Structure):
    # (a dropped trailing int would hide in the struct's padding: sizes
    # catch what moves a size_t or a pointer, or the struct's end)
    _fields_ = [f for f in _lib.LoSessionOptions._fields_ if f[0] != "max_memory"]


@pytest.mark.parametrize("init, mirror", [("lo_generator_options_init", _ThreadsBeforeModel),
                                          ("lo_session_options_init", _MaxMemoryDropped)])
def test_a_drifted_mirror_is_refused(init, mirror):
    with pytest.raises(_lib.LayerOutError, match="disagree on include/layerout.h"):
        _lib.check_layouts(_lib.load(), ((init, mirror),))
