"""Writes the small Fashion-MNIST subset that ships inside the package (so the main job runs with no
download): the first N_TRAIN training and N_TEST test images of the full set, in the standard
gzipped IDX format, from the Debian package dataset-fashion-mnist.

    apt-get install dataset-fashion-mnist && python tools/make_fashion_subset.py
"""
import gzip
import os
import struct

SRC = "/usr/share/datasets/fashion-mnist"
DST = os.path.join(os.path.dirname(__file__), "..", "python", "flambeau", "datasets", "data", "fashion-mnist-subset")
N_TRAIN, N_TEST = 6000, 1000


def subset(name, n):
    with gzip.open(os.path.join(SRC, name), "rb") as f:
        data = f.read()
    magic, count = struct.unpack(">II", data[:8])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    item = 1
    for d in dims[1:]:
        item *= d
    header = struct.pack(">I", magic) + struct.pack(">" + "I" * ndim, n, *dims[1:])
    body = data[4 + 4 * ndim: 4 + 4 * ndim + n * item]
    os.makedirs(DST, exist_ok=True)
    with gzip.GzipFile(os.path.join(DST, name), "wb", mtime=0) as f:
        f.write(header + body)


for prefix, n in (("train", N_TRAIN), ("t10k", N_TEST)):
    subset(f"{prefix}-images-idx3-ubyte.gz", n)
    subset(f"{prefix}-labels-idx1-ubyte.gz", n)
print("wrote", os.path.abspath(DST))
