"""The embedding projector's files: <logdir>/<step:05d>/<tag>/{tensors,metadata}.tsv and sprite.png,
listed in <logdir>/projector_config.pbtxt (a ProjectorConfig in protobuf text format).

Written as PyTorch writes them (same paths, same number formatting, same sprite layout), so the
projector opens either run the same way.
"""
import math
import os
import warnings

import numpy as np

from .._png import encode_png
from ._summary import _make_grid


def encode_tag(tag):
    # '%', '/' and '\\' would split or escape the directory name: percent-encode them (PyTorch's rule)
    return tag.replace("%", "%25").replace("/", "%2f").replace("\\", "%5c")


def write_tsv(path, text):
    with open(path, "wb") as f:
        f.write(text.encode("utf-8"))


def tensors_tsv(mat):
    # str() of each element as a Python number (what numpy's item() gives), one row per line
    return "".join("\t".join(str(x) for x in row) + "\n" for row in mat.tolist())


def metadata_tsv(metadata, header=None):
    if not header:
        lines = [str(x) for x in metadata]
    else:
        if len(header) != len(metadata[0]):
            raise ValueError(f"add_embedding: metadata_header has {len(header)} columns, the metadata "
                             f"rows {len(metadata[0])}")
        lines = ["\t".join(str(e) for e in row) for row in [header] + list(metadata)]
    return "\n".join(lines) + "\n"


def sprite_png(label_img):
    """The N label images as one square sprite, ceil(sqrt(N)) a row, black below the last row.

    As in PyTorch, the images are scaled by 255 whatever their dtype (so pass floats in [0, 1])."""
    n = label_img.shape[0]
    grid = _make_grid(label_img, ncols=math.ceil(n ** 0.5))  # (3, H*rows, W*cols)
    # PyTorch sizes the square by the grid's width (right for square images, the usual case, and a
    # crash for tall ones); the larger side gives the same sprite where it works and one where not.
    side = max(grid.shape[1], grid.shape[2])
    square = np.zeros((side, side, 3))
    square[:grid.shape[1], :grid.shape[2]] = grid.transpose(1, 2, 0)
    return encode_png(np.uint8((square * 255).clip(0, 255)))


def _text_string(s):
    """A protobuf text-format string literal as protobuf prints it (as_utf8=True): C escapes for
    quotes, backslash and \\t \\n \\r, octal for other ASCII control characters, the rest as is."""
    special = {9: "\\t", 10: "\\n", 13: "\\r", 34: '\\"', 39: "\\'", 92: "\\\\"}
    return '"' + "".join(special.get(ord(c)) or (c if 32 <= ord(c) != 127 else "\\%03o" % ord(c))
                         for c in s) + '"'


def embedding_info_pbtxt(info):
    """One `embeddings { ... }` block of ProjectorConfig; fields in field-number order:
    tensor_name(1), metadata_path(2), sprite(5){image_path(1), single_image_dim(2)}, tensor_path(6)."""
    lines = ["embeddings {", f"  tensor_name: {_text_string(info['tensor_name'])}"]
    if "metadata_path" in info:
        lines.append(f"  metadata_path: {_text_string(info['metadata_path'])}")
    if "sprite_path" in info:
        lines += ["  sprite {", f"    image_path: {_text_string(info['sprite_path'])}"]
        lines += [f"    single_image_dim: {d}" for d in info["sprite_dim"]]
        lines.append("  }")
    lines += [f"  tensor_path: {_text_string(info['tensor_path'])}", "}"]
    return "\n".join(lines) + "\n"


def write_embedding(logdir, mat, metadata, label_img, global_step, tag, metadata_header):
    """Write one embedding's files; return its ProjectorConfig entry (text format)."""
    if mat.ndim != 2:
        raise ValueError(f"add_embedding: mat must be 2-d (points x features), got shape {tuple(mat.shape)}")
    step = 0 if global_step is None else global_step
    subdir = f"{str(step).zfill(5)}/{encode_tag(tag)}"
    save_path = os.path.join(logdir, subdir)
    if os.path.exists(save_path) and not os.path.isdir(save_path):
        raise NotADirectoryError(f"add_embedding: {save_path} exists and is not a directory")
    if os.path.isdir(save_path):
        warnings.warn(f"add_embedding: {save_path} exists and is overwritten; "
                      "did you set global_step for add_embedding()?")
    info = {"tensor_name": f"{tag}:{str(step).zfill(5)}", "tensor_path": subdir + "/tensors.tsv"}
    if metadata is not None:
        if len(metadata) != mat.shape[0]:
            raise ValueError(f"add_embedding: {len(metadata)} metadata rows for {mat.shape[0]} points")
        info["metadata_path"] = subdir + "/metadata.tsv"
    if label_img is not None:
        if label_img.ndim != 4 or label_img.shape[0] != mat.shape[0]:
            raise ValueError(f"add_embedding: label_img must be (N, C, H, W) with N = {mat.shape[0]} "
                             f"points, got shape {tuple(label_img.shape)}")
        info["sprite_path"] = subdir + "/sprite.png"
        info["sprite_dim"] = [label_img.shape[3], label_img.shape[2]]
    os.makedirs(save_path, exist_ok=True)
    if metadata is not None:
        write_tsv(os.path.join(save_path, "metadata.tsv"), metadata_tsv(metadata, metadata_header))
    if label_img is not None:
        with open(os.path.join(save_path, "sprite.png"), "wb") as f:
            f.write(sprite_png(label_img))
    write_tsv(os.path.join(save_path, "tensors.tsv"), tensors_tsv(mat))
    return embedding_info_pbtxt(info)
