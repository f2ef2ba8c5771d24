"""Load user-supplied pickles (label files, pyskl annotations) without running their code.

A pickle can name any importable callable and have it called on load. This unpickler
resolves only plain containers and scalars from builtins and what numpy needs to rebuild
arrays and scalars of non-object dtype; any other name, and object arrays, are refused
with DataError, so a crafted file cannot execute anything.
"""
import codecs
import importlib
import io
import pickle

import numpy as np

from ..errors import DataError

_BUILTINS = frozenset(("list", "dict", "tuple", "set", "frozenset", "int", "float", "complex",
                       "str", "bytes", "bool", "slice", "range"))


def _numpy_attr(module, name):
    for prefix in ("numpy._core", "numpy.core"):                 # numpy >= 2, numpy 1.x
        try:
            return getattr(importlib.import_module(f"{prefix}.{module}"), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"numpy has no {module}.{name}")


def _dtype(*args, **kwargs):
    dtype = np.dtype(*args, **kwargs)
    if dtype.hasobject:
        raise pickle.UnpicklingError("object arrays are not allowed")
    return dtype


def _latin1(text, encoding="latin1"):
    # numpy arrays pickled with protocol 2 store their bytes as latin-1 text
    if codecs.lookup(encoding).name != "iso8859-1":
        raise pickle.UnpicklingError(f"codec {encoding!r} is not allowed")
    return codecs.encode(text, "latin1")


def _allowed():
    table = {(module, n): getattr(__import__("builtins"), n)
             for n in _BUILTINS for module in ("builtins", "__builtin__")}   # __builtin__: protocols 0-2
    table.update({("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): _dtype, ("_codecs", "encode"): _latin1})
    for prefix in ("numpy._core", "numpy.core"):
        table[(f"{prefix}.multiarray", "_reconstruct")] = _numpy_attr("multiarray", "_reconstruct")
        table[(f"{prefix}.multiarray", "scalar")] = _numpy_attr("multiarray", "scalar")
        table[(f"{prefix}.numeric", "_frombuffer")] = _numpy_attr("numeric", "_frombuffer")
    return table


class _RestrictedUnpickler(pickle.Unpickler):
    _table = None

    def find_class(self, module, name):
        if _RestrictedUnpickler._table is None:
            _RestrictedUnpickler._table = _allowed()
        try:
            return self._table[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only builtins containers and "
                                         f"numpy arrays are allowed") from None


def safe_load(path):
    """Unpickle the file at `path`, admitting only builtins containers and numpy arrays."""
    try:
        with open(path, "rb") as f:
            return _RestrictedUnpickler(f).load()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as e:
        raise DataError(f"{path}: not a readable data pickle: {e}") from None


def safe_loads(data: bytes):
    """Like safe_load, for bytes already in memory."""
    try:
        return _RestrictedUnpickler(io.BytesIO(data)).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as e:
        raise DataError(f"not a readable data pickle: {e}") from None
