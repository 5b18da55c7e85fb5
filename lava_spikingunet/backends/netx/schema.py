"""Names, constants and integrity helpers of the project's netx HDF5 format.

The format is lava-dl netx's protocol (``layer/0 .. layer/n-1``, ``simulation/``)
extended for the fixed-point Spiking-UNet; ``docs/netx_schema.md`` is the spec. Only
plain numeric and fixed-length byte-string data is ever written or accepted: no
variable-length strings, object dtypes, links or external storage (an HDF5 file never
runs code, and h5py never unpickles).
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterator
from typing import Any

import h5py
import numpy as np

from lava_spikingunet.graph.ir import NEURON_FORMS  # noqa: F401  (the stored form's values)
from lava_spikingunet.limits import MAX_DELAY

#: Value of the ``spikingunet`` group's ``format`` attribute.
FORMAT = "lava-spikingunet/netx"
#: Bumped on any change a version-1 loader could misread.
VERSION = 1

# -- groups
LAYER = "layer"
SIMULATION = "simulation"
META = "spikingunet"
NEURON = "neuron"
FLOAT = "float"

# -- layer types (netx's own names where netx has one)
INPUT = "input"
CONV = "conv"
POOL = "pool"
CONVT = "convT"
CONCAT = "concat"
LAYER_TYPES = (INPUT, CONV, POOL, CONVT, CONCAT)
#: Layer types that hold a graph node (all but ``concat``).
NODE_LAYER_TYPES = (INPUT, CONV, POOL, CONVT)

# -- neuron types (``layer/i/neuron/type``)
MT = "MT"  # multi-threshold neuron, docs/semantics.md section 1
READOUT = "READOUT"  # non-spiking, saturating output accumulator
NEURON_TYPES = (MT, READOUT)

RESETS = ("subtract", "zero")
#: ``zero``: every delay 0; ``native``: Lava's (1 per synapse, 0 static); ``balanced``:
#: every node's inputs arrive together; ``custom``: anything else.
DELAY_MODES = ("zero", "native", "balanced", "custom")

#: Attribute of the ``spikingunet`` group holding the SHA-256 hex digest.
CHECKSUM_ATTR = "checksum"
#: netx/slayer write ``type`` as a one-element ``S10`` array; so do we.
TYPE_DTYPE = "S10"
#: Datasets with at least this many elements are gzip-compressed.
COMPRESS_MIN_SIZE = 1024
GZIP_LEVEL = 4

_ARRAY_TAG = "__ndarray__"


class SchemaError(ValueError):
    """A file that does not follow the schema; the loader turns it into a InputError."""


def signed_range(bits: int) -> tuple[int, int]:
    """Two's-complement range of a signed ``bits``-wide integer."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def int_dtype(lo: int, hi: int) -> np.dtype:
    """Smallest signed integer dtype holding ``[lo, hi]``."""
    for dt in (np.int8, np.int16, np.int32, np.int64):
        info = np.iinfo(dt)
        if info.min <= lo and hi <= info.max:
            return np.dtype(dt)
    raise ValueError(f"range [{lo}, {hi}] does not fit in int64")


def ladder(theta_unit: int, n_thresholds: int) -> np.ndarray:
    """Integer thresholds ``theta_i = theta_unit * 2^(N-i)``, ``i = 1..N`` (largest first)."""
    return np.array(
        [theta_unit << (n_thresholds - i) for i in range(1, n_thresholds + 1)], dtype=np.int64
    )


# --------------------------------------------------------------------------- strings


def bytes_array(text: str) -> np.ndarray:
    """A one-element fixed-length byte-string array (netx's layout for strings)."""
    raw = text.encode("utf-8")
    return np.array([raw], dtype=f"S{max(1, len(raw))}")


def bytes_scalar(text: str) -> np.ndarray:
    """A fixed-length byte-string scalar, for attributes."""
    raw = text.encode("utf-8")
    return np.array(raw, dtype=f"S{max(1, len(raw))}")


def decode_str(value: Any) -> str:
    """Decode a fixed-length byte string read back from a dataset or attribute."""
    arr = np.asarray(value)
    if arr.dtype.kind != "S" or arr.size != 1:
        raise SchemaError(f"expected one byte string, got dtype {arr.dtype} shape {arr.shape}")
    try:
        return arr.reshape(-1)[0].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SchemaError(f"byte string is not UTF-8 text ({exc})") from exc


# --------------------------------------------------------------------------- JSON


def _plain(value: Any, where: str) -> Any:
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise SchemaError(f"{where}: cannot store an array of dtype {value.dtype}")
        return {
            _ARRAY_TAG: {
                "dtype": value.dtype.str,
                "shape": list(value.shape),
                "data": value.reshape(-1).tolist(),
            }
        }
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise SchemaError(f"{where}: key {k!r} is not a string")
            out[k] = _plain(v, f"{where}[{k!r}]")
        return out
    if isinstance(value, list | tuple):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise SchemaError(f"{where}: cannot store a {type(value).__name__} (JSON data only)")


def _unplain(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {_ARRAY_TAG}:
            spec = value[_ARRAY_TAG]
            dtype = np.dtype(spec["dtype"])
            if dtype.kind not in "biuf":
                raise SchemaError(f"array of dtype {dtype} refused")
            return np.array(spec["data"], dtype=dtype).reshape(spec["shape"])
        return {k: _unplain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unplain(v) for v in value]
    return value


def to_json(value: Any, where: str) -> str:
    """JSON text of ``value`` (numpy arrays tagged so they come back as arrays)."""
    try:
        return json.dumps(_plain(value, where), separators=(",", ":"), allow_nan=False)
    except ValueError as exc:
        if isinstance(exc, SchemaError):
            raise
        raise SchemaError(f"{where}: {exc}") from exc


def from_json(text: str, where: str) -> Any:
    try:
        return _unplain(json.loads(text))
    except (ValueError, KeyError, TypeError) as exc:
        raise SchemaError(f"{where}: bad JSON ({exc})") from exc


# --------------------------------------------------------------------------- integrity


def check_dtype(dtype: np.dtype, where: str) -> None:
    """Accept plain numbers and fixed-length byte strings only."""
    if dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in "biufS":
        raise SchemaError(
            f"{where}: dtype {dtype} refused (only numbers and fixed-length byte strings; "
            "no variable-length, object or compound data)"
        )


def sorted_names(names: Any, where: str) -> list[str]:
    """Object or attribute names, sorted; names that are not UTF-8 text are refused."""
    names = list(names)
    if not all(isinstance(n, str) for n in names):
        raise SchemaError(f"{where or '/'}: object names must be UTF-8 text")
    return sorted(names)


def iter_objects(group: h5py.Group, prefix: str = "") -> Iterator[tuple[str, h5py.HLObject]]:
    """``(path, object)`` for ``group`` and everything below it, sorted by name.

    Refuses soft/external links, external dataset storage and unsafe dtypes, so that a
    walk never leaves the file and never reads anything but numbers and byte strings.
    """
    yield prefix, group
    for key in sorted_names(group.keys(), prefix):
        path = f"{prefix}/{key}" if prefix else key
        link = group.get(key, getlink=True)
        if not isinstance(link, h5py.HardLink):
            raise SchemaError(f"{path}: links are refused ({type(link).__name__})")
        obj = group[key]
        if isinstance(obj, h5py.Group):
            yield from iter_objects(obj, path)
        elif isinstance(obj, h5py.Dataset):
            if obj.external:
                raise SchemaError(f"{path}: external dataset storage is refused")
            check_dtype(obj.dtype, path)
            yield path, obj
        else:  # pragma: no cover - named datatypes
            raise SchemaError(f"{path}: unsupported HDF5 object {type(obj).__name__}")


def _feed(h: Any, *parts: bytes) -> None:
    for part in parts:
        h.update(struct.pack("<Q", len(part)))
        h.update(part)


def _canonical(arr: np.ndarray) -> tuple[bytes, bytes, bytes]:
    arr = np.ascontiguousarray(arr)
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    shape = ",".join(str(s) for s in arr.shape).encode()
    return arr.dtype.str.encode(), shape, arr.tobytes()


def checksum(f: h5py.File) -> str:
    """SHA-256 over every dataset and attribute of the file but the checksum itself.

    Canonical: objects in sorted path order; each record is its kind, path, dtype,
    shape and little-endian C-order bytes, each length-prefixed.
    """
    h = hashlib.sha256()
    _feed(h, FORMAT.encode(), str(VERSION).encode())
    for path, obj in iter_objects(f):
        if isinstance(obj, h5py.Dataset):
            _feed(h, b"D", path.encode(), *_canonical(np.asarray(obj[()])))
        for name in sorted_names(obj.attrs.keys(), f"{path or '/'}@"):
            if path == META and name == CHECKSUM_ATTR:
                continue
            check_dtype(obj.attrs.get_id(name).dtype, f"{path or '/'}@{name}")
            _feed(h, b"A", path.encode(), name.encode(), *_canonical(np.asarray(obj.attrs[name])))
    return h.hexdigest()


# --------------------------------------------------------------------------- size limits

#: Largest dataset a file may declare, and all of them together: checked on the
#: declared shapes before anything is read (a small file can declare terabytes).
MAX_DATASET_BYTES = 256 * 2**20
MAX_TOTAL_BYTES = 1024 * 2**20
#: Largest frame length (tSample, pipeline depth): T plus the delays along a path.
MAX_FRAME_STEPS = 8192
#: Delay bound when a file names no hardware profile limit.
DEFAULT_MAX_DELAY = MAX_DELAY


def check_declared_sizes(f: h5py.File) -> None:
    """Refuse a file whose datasets declare more than the limits (before any read)."""
    total = 0
    for path, obj in iter_objects(f):
        if not isinstance(obj, h5py.Dataset):
            continue
        nbytes = int(np.prod(obj.shape, dtype=object)) * int(obj.dtype.itemsize)
        if nbytes > MAX_DATASET_BYTES:
            raise SchemaError(
                f"{path}: declares a {tuple(obj.shape)} {obj.dtype} dataset "
                f"({nbytes / 2**20:.0f} MiB), more than the {MAX_DATASET_BYTES >> 20} MiB a "
                "Spiking-UNet layer may hold"
            )
        total += nbytes
        if total > MAX_TOTAL_BYTES:
            raise SchemaError(
                f"the datasets declare more than {MAX_TOTAL_BYTES >> 20} MiB in all (at {path})"
            )


def max_delay(profile: dict | None) -> int:
    """The largest synaptic delay a file may hold: its hardware profile's, if it has one."""
    try:
        value = int((profile or {}).get("spikes", {}).get("max_delay", 0))
    except (TypeError, ValueError, AttributeError):
        value = 0
    return value if value > 0 else DEFAULT_MAX_DELAY
