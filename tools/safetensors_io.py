"""Minimal, dependency-free safetensors writer/reader (numpy only).

File layout (https://github.com/huggingface/safetensors format):
  * 8 bytes: little-endian u64 N = length of the JSON header in bytes
  * N bytes: UTF-8 JSON header
        {"__metadata__": {str: str, ...},
         "<name>": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...}
    padded with trailing spaces so that N is a multiple of 8
  * raw little-endian tensor bytes; data_offsets are relative to the start of
    this byte buffer.

The writer is deterministic: tensors are laid out in sorted name order, the JSON
header is written with sorted keys and no whitespace, so the same inputs always
give byte-identical files.
"""

import json
import struct

import numpy as np

_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_NP_TO_ST = {
    np.dtype("float64"): "F64",
    np.dtype("float32"): "F32",
    np.dtype("float16"): "F16",
    np.dtype("int64"): "I64",
    np.dtype("int32"): "I32",
    np.dtype("int16"): "I16",
    np.dtype("int8"): "I8",
    np.dtype("uint8"): "U8",
    np.dtype("bool"): "BOOL",
}


def _to_numpy(t):
    if hasattr(t, "detach"):  # torch tensor, without importing torch here
        t = t.detach().cpu().numpy()
    return np.asarray(t)


def save_file(tensors, path, metadata=None):
    """Write a dict name -> array-like (numpy or torch) to `path`.

    metadata: optional dict of str -> str stored under "__metadata__".
    """
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        arr = _to_numpy(tensors[name])
        st_dtype = _NP_TO_ST.get(arr.dtype)
        if st_dtype is None:
            raise TypeError(f"unsupported dtype {arr.dtype} for tensor {name}")
        data = np.ascontiguousarray(arr, dtype=_DTYPES[st_dtype]).tobytes()
        header[name] = {
            "dtype": st_dtype,
            "shape": [int(s) for s in arr.shape],
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    hjson = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)


def load_file(path, with_metadata=False):
    """Read a safetensors file into a dict name -> numpy array (copies).

    If with_metadata, returns (tensors, metadata_dict).
    """
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    base = 8 + n
    meta = header.pop("__metadata__", {}) or {}
    out = {}
    for name, info in header.items():
        dt = _DTYPES[info["dtype"]]
        b, e = info["data_offsets"]
        shape = tuple(info["shape"])
        count = int(np.prod(shape)) if shape else 1
        if e - b != count * dt.itemsize:
            raise ValueError(f"{name}: byte range {b}..{e} does not match shape {shape} {info['dtype']}")
        out[name] = np.frombuffer(raw, dtype=dt, count=count, offset=base + b).reshape(shape).copy()
    if with_metadata:
        return out, meta
    return out
