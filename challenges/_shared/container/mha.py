"""A minimal MetaImage (.mha) reader and writer with numpy alone: the base image has no SimpleITK.

Reads what grand-challenge and SimpleITK write (one channel, data in the same file, raw or zlib-compressed,
either byte order) and writes a compressed little-endian image that carries the geometry (origin, spacing,
direction) of another image's header, so that a mask lies on the grid of the image it was computed from.
"""

import zlib
from pathlib import Path

import numpy as np

ELEMENT_TYPES = {"MET_UCHAR": "u1", "MET_CHAR": "i1", "MET_USHORT": "u2", "MET_SHORT": "i2", "MET_UINT": "u4",
                 "MET_INT": "i4", "MET_ULONG_LONG": "u8", "MET_LONG_LONG": "i8", "MET_FLOAT": "f4",
                 "MET_DOUBLE": "f8"}
GEOMETRY = ("TransformMatrix", "Offset", "CenterOfRotation", "AnatomicalOrientation", "ElementSpacing")


def read_mha(path):
    """The voxels (numpy axis order: z, y, x) and the header (key -> text) of a .mha file."""
    data = Path(path).read_bytes()
    header, start = {}, 0
    while "ElementDataFile" not in header:
        end = data.index(b"\n", start)
        key, _, value = data[start:end].decode("ascii").partition("=")
        header[key.strip()] = value.strip()
        start = end + 1
    if header["ElementDataFile"] != "LOCAL" or int(header.get("ElementNumberOfChannels", "1")) != 1:
        raise ValueError(f"{path}: only single-channel images with their data in the same file are read")
    msb = header.get("BinaryDataByteOrderMSB", header.get("ElementByteOrderMSB", "False")) == "True"
    dtype = np.dtype(ELEMENT_TYPES[header["ElementType"]]).newbyteorder(">" if msb else "<")
    raw = zlib.decompress(data[start:]) if header.get("CompressedData", "False") == "True" else data[start:]
    shape = tuple(int(v) for v in reversed(header["DimSize"].split()))
    voxels = np.frombuffer(raw, dtype=dtype, count=int(np.prod(shape))).reshape(shape)
    return voxels.astype(dtype.newbyteorder("="), copy=False), header


def write_mha(path, voxels, like):
    """Write `voxels` (z, y, x) to `path` with the geometry of the header `like` (from read_mha)."""
    voxels = np.ascontiguousarray(voxels, dtype=voxels.dtype.newbyteorder("<"))
    element_type = {np.dtype(code).newbyteorder("<"): name for name, code in ELEMENT_TYPES.items()}[voxels.dtype]
    body = zlib.compress(voxels.tobytes(), 6)
    header = {"ObjectType": "Image", "NDims": str(voxels.ndim), "BinaryData": "True",
              "BinaryDataByteOrderMSB": "False", "CompressedData": "True", "CompressedDataSize": str(len(body))}
    header.update({key: like[key] for key in GEOMETRY if key in like})
    header.update({"DimSize": " ".join(str(n) for n in reversed(voxels.shape)), "ElementType": element_type,
                   "ElementDataFile": "LOCAL"})
    text = "".join(f"{key} = {value}\n" for key, value in header.items())
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(text.encode("ascii") + body)
