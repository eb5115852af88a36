"""Build encoded `Summary` protobufs (tensorboard/compat/proto/summary.proto) from user data.

Each public function returns the bytes of one Summary message, holding what PyTorch's
torch.utils.tensorboard.summary puts in it for the same call (same tags, same plugin metadata, same
numbers), so TensorBoard shows both the same way. Field numbers are noted where they are written.
"""
import io
import json
import numbers
import warnings
import wave

import numpy as np

from . import _proto as P
from ._convert import _is_tensor_like, make_np
from ._gif import encode_gif
from .._png import encode_png

# tensorboard/compat/proto/types.proto DataType values
DT_FLOAT, DT_DOUBLE, DT_INT32, DT_UINT8, DT_INT16, DT_INT8, DT_STRING = 1, 2, 3, 4, 5, 6, 7
DT_COMPLEX64, DT_INT64, DT_BOOL, DT_BFLOAT16, DT_COMPLEX128, DT_HALF = 8, 9, 10, 14, 18, 19

# hparams plugin (tensorboard/plugins/hparams/metadata.py, api.proto)
HPARAMS_EXPERIMENT_TAG = "_hparams_/experiment"
HPARAMS_SESSION_START_INFO_TAG = "_hparams_/session_start_info"
HPARAMS_SESSION_END_INFO_TAG = "_hparams_/session_end_info"
_HP_FLOAT64, _HP_STRING = 3, 1  # DataType; bool never reaches its own type (see hparams())
_HP_STATUS_SUCCESS = 1


# ---------------------------------------------------------------- message helpers

def _metadata(plugin_name, content=b""):
    """SummaryMetadata{plugin_data(1): PluginData{plugin_name(1), content(2)}}."""
    return P.bytes_field(1, P.opt_string(1, plugin_name) + P.opt_bytes(2, content))


def _value(tag, kind=b"", metadata=None):
    """Summary.Value: tag(1), then the oneof `value` field already encoded in `kind`
    (simple_value 2, image 4, histo 5, audio 6, tensor 8), then metadata(9)."""
    return P.opt_string(1, tag) + kind + (P.bytes_field(9, metadata) if metadata is not None else b"")


def _summary(*values):
    """Summary{value(1) repeated}."""
    return b"".join(P.bytes_field(1, v) for v in values)


def _shape(dims):
    """TensorShapeProto{dim(2) repeated Dim{size(1)}}."""
    return b"".join(P.bytes_field(2, P.opt_int(1, d)) for d in dims)


def _tensor(dtype, values_field, shape=None):
    """TensorProto: dtype(1), tensor_shape(2) (written when given, even empty), then the one
    encoded *_val field (5..16, all after 2)."""
    return (P.opt_int(1, dtype) + (P.bytes_field(2, _shape(shape)) if shape is not None else b"")
            + values_field)


# ---------------------------------------------------------------- scalars

def scalar(tag, value, new_style=False, double_precision=False):
    if _is_tensor_like(value) and value.numel() == 1 and not str(value.dtype).endswith("bfloat16"):
        x = float(value.item())     # the loss of a training step: skip the host numpy copy (2x faster)
    else:
        arr = make_np(value).squeeze()
        if arr.ndim != 0:
            raise ValueError(f"add_scalar: '{tag}' needs one value, got shape {tuple(make_np(value).shape)}")
        x = float(arr)
    if not new_style:
        return _summary(_value(tag, P.float_field(2, x)))
    # the scalars plugin's tensor form: one float (or double), no shape
    vals = P.packed_doubles(6, [x]) if double_precision else P.packed_floats(5, [x])
    t = _tensor(DT_DOUBLE if double_precision else DT_FLOAT, vals)
    return _summary(_value(tag, P.bytes_field(8, t), _metadata("scalars")))


# ---------------------------------------------------------------- histograms

def _default_bins():
    # TensorFlow's histogram buckets: +-1e-12 * 1.1**k up to 1e20, and 0. Built by repeated
    # multiplication, as TensorFlow and PyTorch do, so the edges are the same doubles.
    v, pos = 1e-12, []
    while v < 1e20:
        pos.append(v)
        v *= 1.1
    return [-b for b in reversed(pos)] + [0] + pos


DEFAULT_BINS = _default_bins()


def histogram_raw(tag, min, max, num, sum, sum_squares, bucket_limits, bucket_counts):
    """HistogramProto: min(1) max(2) num(3) sum(4) sum_squares(5) doubles, bucket_limit(6) and
    bucket(7) packed doubles."""
    limits = np.asarray(make_np(bucket_limits) if not isinstance(bucket_limits, (list, tuple))
                        else bucket_limits, dtype=np.float64).reshape(-1)
    counts = np.asarray(make_np(bucket_counts) if not isinstance(bucket_counts, (list, tuple))
                        else bucket_counts, dtype=np.float64).reshape(-1)
    if limits.size != counts.size:
        raise ValueError(f"add_histogram_raw: '{tag}' has {limits.size} bucket_limits but "
                         f"{counts.size} bucket_counts; they must be the same length")
    h = (P.opt_double(1, min) + P.opt_double(2, max) + P.opt_double(3, num) + P.opt_double(4, sum)
         + P.opt_double(5, sum_squares) + P.opt_packed_doubles(6, limits)
         + P.opt_packed_doubles(7, counts))
    return _summary(_value(tag, P.bytes_field(5, h)))


def histogram(tag, values, bins, max_bins=None):
    values = make_np(values).astype(float).reshape(-1)
    if values.size == 0:
        raise ValueError(f"add_histogram: '{tag}' has no values")
    counts, limits = np.histogram(values, bins=bins)
    if max_bins is not None and len(counts) > max_bins:
        # merge groups of adjacent bins (the last group padded with empty bins)
        group = len(counts) // max_bins
        counts = np.pad(counts, (0, (-len(counts)) % group)).reshape(-1, group).sum(axis=-1)
        limits = np.append(limits[:-1:group], limits[-1])
    # Keep only the support: TensorBoard stores right edges only, so the bin left of the first
    # non-empty one is kept (or an empty bin invented) to carry the leftmost edge.
    nonzero = np.flatnonzero(counts)
    start, end = (int(nonzero[0]), int(nonzero[-1]) + 1) if nonzero.size else (len(counts), 1)
    counts = counts[start - 1:end] if start > 0 else np.concatenate([[0], counts[:end]])
    limits = limits[start:end + 1]
    if counts.size == 0 or limits.size == 0:
        raise ValueError(f"add_histogram: '{tag}' has no value inside the bins")
    return histogram_raw(tag, values.min(), values.max(), len(values), values.sum(),
                         values.dot(values), limits, counts)


# ---------------------------------------------------------------- images

def _make_grid(nchw, ncols=8):
    """(N, C, H, W) with C in {1, 3} -> one (3, H*rows, W*cols) canvas, 8 images a row."""
    if nchw.shape[1] == 1:
        nchw = np.concatenate([nchw] * 3, axis=1)
    if nchw.shape[1] != 3:
        raise ValueError(f"add_images: a batch of images needs 1 or 3 channels, got shape {nchw.shape}")
    n, _, h, w = nchw.shape
    ncols = min(n, ncols)
    nrows = -(-n // ncols) if n else 0
    canvas = np.zeros((3, h * nrows, w * ncols), dtype=nchw.dtype)
    for i in range(n):
        y, x = divmod(i, ncols)
        canvas[:, y * h:(y + 1) * h, x * w:(x + 1) * w] = nchw[i]
    return canvas


def convert_to_HWC(arr, dataformats):
    """Any of NCHW/NHWC/CHW/HWC/HW/WH... to (H, W, C); grey becomes 3 channels."""
    fmt = dataformats.upper()
    if len(set(fmt)) != len(fmt) or not set(fmt) <= set("NCHW") or not set("HW") <= set(fmt):
        raise ValueError(f"add_image: dataformats '{dataformats}' must name H and W once each, "
                         "plus optionally C and N (e.g. CHW, HWC, HW, NCHW)")
    if arr.ndim != len(fmt):
        raise ValueError(f"add_image: dataformats '{dataformats}' needs a {len(fmt)}-d input, "
                         f"got shape {tuple(arr.shape)}")
    if len(fmt) == 4:
        return _make_grid(arr.transpose([fmt.index(c) for c in "NCHW"])).transpose(1, 2, 0)
    if len(fmt) == 3:
        if "N" in fmt:
            raise ValueError(f"add_image: dataformats '{dataformats}' has N but no C")
        hwc = arr.transpose([fmt.index(c) for c in "HWC"])
        return np.concatenate([hwc] * 3, axis=2) if hwc.shape[2] == 1 else hwc
    hw = arr.transpose([fmt.index(c) for c in "HW"])
    return np.stack([hw, hw, hw], axis=2)


def _to_uint8(hwc):
    # uint8 input is taken as 0..255, anything else as 0..1; truncation toward zero after clipping,
    # computed in float32 (PyTorch's rule, so the pixels match it).
    scale = 1 if hwc.dtype == np.uint8 else 255
    return (hwc.astype(np.float32) * scale).clip(0, 255).astype(np.uint8)


def _image_proto(hwc_uint8):
    """Summary.Image: height(1) width(2) colorspace(3) int32, encoded_image_string(4)."""
    h, w, c = hwc_uint8.shape
    return (P.opt_int(1, h) + P.opt_int(2, w) + P.opt_int(3, c)
            + P.opt_bytes(4, encode_png(hwc_uint8)))


def image(tag, img, dataformats="NCHW"):
    hwc = _to_uint8(convert_to_HWC(make_np(img), dataformats))
    if hwc.size == 0:
        raise ValueError(f"add_image: '{tag}' is empty (shape {tuple(make_np(img).shape)}, dataformats "
                         f"'{dataformats}')")
    if hwc.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"add_image: '{tag}' has {hwc.shape[2]} channels; 1, 2, 3 or 4 can be shown")
    return _summary(_value(tag, P.bytes_field(4, _image_proto(hwc))))


# ---------------------------------------------------------------- video

def _video_frames(v):
    """(N, T, C, H, W) -> (T, rows*H, cols*W, C) float: the N clips side by side, N padded with
    black clips to a power of two, 2**((bit_length(N)-1)//2) rows (PyTorch's layout)."""
    if v.ndim != 5:
        raise ValueError(f"add_video: expected (N, T, C, H, W), got shape {tuple(v.shape)}")
    b, t, c, h, w = v.shape
    if v.dtype == np.uint8:
        v = np.float32(v) / 255.0
    if b & (b - 1):
        v = np.concatenate([v, np.zeros((2 ** b.bit_length() - b, t, c, h, w))], axis=0)
    rows = 2 ** ((b.bit_length() - 1) // 2)
    cols = v.shape[0] // rows
    return v.reshape(rows, cols, t, c, h, w).transpose(2, 0, 4, 1, 5, 3).reshape(t, rows * h, cols * w, c)


def video(tag, vid, fps=4):
    """An animated GIF in Summary.Image (the images plugin shows it)."""
    frames = _to_uint8(_video_frames(make_np(vid)))
    t, h, w, c = frames.shape
    if c not in (1, 3):
        raise ValueError(f"add_video: '{tag}' has {c} channels; 1 or 3 can be shown")
    rgb = np.repeat(frames, 3, axis=3) if c == 1 else frames
    im = P.opt_int(1, h) + P.opt_int(2, w) + P.opt_int(3, c) + P.opt_bytes(4, encode_gif(rgb, fps))
    return _summary(_value(tag, P.bytes_field(4, im)))


# ---------------------------------------------------------------- audio

def audio(tag, snd, sample_rate=44100):
    """16-bit mono WAV in Summary.Audio: sample_rate(1) float, num_channels(2), length_frames(3),
    encoded_audio_string(4), content_type(5)."""
    arr = make_np(snd).squeeze()
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"add_audio: '{tag}' needs a non-empty 1-d signal (or (1, L)), "
                         f"got shape {tuple(make_np(snd).shape)}")
    if np.abs(arr).max() > 1:
        warnings.warn(f"add_audio: '{tag}' has amplitudes outside [-1, 1]; they are clipped")
        arr = arr.clip(-1, 1)
    pcm = (arr * np.iinfo(np.int16).max).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())
    a = ((P.float_field(1, sample_rate) if sample_rate else b"") + P.int_field(2, 1)
         + P.opt_int(3, pcm.shape[-1]) + P.bytes_field(4, buf.getvalue())
         + P.string_field(5, "audio/wav"))
    return _summary(_value(tag, P.bytes_field(6, a)))


# ---------------------------------------------------------------- text and raw tensors

def text(tag, text_string):
    """The text plugin's form: a 1-element DT_STRING tensor under '<tag>/text_summary'.
    TextPluginData{version=0} encodes to nothing, so the plugin content is empty."""
    if not isinstance(text_string, str):
        raise TypeError(f"add_text: '{tag}' needs a str, got {type(text_string).__name__}")
    t = _tensor(DT_STRING, P.bytes_field(8, text_string.encode("utf-8")), shape=[1])
    return _summary(_value(tag + "/text_summary", P.bytes_field(8, t), _metadata("text")))


def _as_int32_bits(a):
    # PyTorch's half_to_int: the value's float32 bit pattern read as a signed int32
    return a.astype(np.float32).view(np.int32).reshape(-1)


# numpy dtype -> (DataType, TensorProto field, encoder); float16 comes from half and bfloat16
_TENSOR_FIELDS = {
    np.dtype(np.float32): (DT_FLOAT, lambda a: P.packed_floats(5, a.reshape(-1))),
    np.dtype(np.float64): (DT_DOUBLE, lambda a: P.packed_doubles(6, a.reshape(-1))),
    np.dtype(np.float16): (DT_HALF, lambda a: P.packed_varints(13, _as_int32_bits(a).tolist())),
    np.dtype(np.int8): (DT_INT8, lambda a: P.packed_varints(7, a.reshape(-1).tolist())),
    np.dtype(np.int16): (DT_INT16, lambda a: P.packed_varints(7, a.reshape(-1).tolist())),
    np.dtype(np.int32): (DT_INT32, lambda a: P.packed_varints(7, a.reshape(-1).tolist())),
    np.dtype(np.int64): (DT_INT64, lambda a: P.packed_varints(10, a.reshape(-1).tolist())),
    np.dtype(np.uint8): (DT_UINT8, lambda a: P.packed_varints(16, a.reshape(-1).tolist())),
    np.dtype(np.bool_): (DT_BOOL, lambda a: P.packed_varints(11, a.reshape(-1).tolist())),
    np.dtype(np.complex64): (DT_COMPLEX64, lambda a: P.packed_floats(9, a.reshape(-1).view(np.float32))),
    np.dtype(np.complex128): (DT_COMPLEX128, lambda a: P.packed_doubles(12, a.reshape(-1).view(np.float64))),
}


def tensor_proto(tag, value):
    is_bf16 = str(getattr(value, "dtype", "")).endswith("bfloat16")
    if is_bf16:
        arr = value.detach().cpu().float().numpy()  # exact; then the float32 bits, as for half
        dtype, enc = DT_BFLOAT16, lambda a: P.packed_varints(13, _as_int32_bits(a).tolist())
    else:
        arr = make_np(value) if not np.isscalar(value) else np.asarray(value)
        if arr.dtype not in _TENSOR_FIELDS:
            raise ValueError(f"add_tensor: '{tag}' has unsupported dtype {getattr(value, 'dtype', arr.dtype)}")
        dtype, enc = _TENSOR_FIELDS[arr.dtype]
    if arr.size * (2 if is_bf16 else arr.itemsize) >= (1 << 31):
        raise ValueError(f"add_tensor: '{tag}' is over protobuf's 2 GB limit (shape {tuple(arr.shape)})")
    vals = enc(np.ascontiguousarray(arr)) if arr.size else b""
    t = _tensor(dtype, vals, shape=list(arr.shape))
    return _summary(_value(tag, P.bytes_field(8, t), _metadata("tensor")))


# ---------------------------------------------------------------- precision-recall curves

def _pr_summary(tag, data, num_thresholds):
    content = P.opt_int(2, num_thresholds)  # PrCurvePluginData{version(1)=0, num_thresholds(2)}
    data = np.asarray(data, dtype=np.float64)
    t = _tensor(DT_FLOAT, P.packed_floats(5, data.reshape(-1)) if data.size else b"",
                shape=list(data.shape))
    return _summary(_value(tag, P.bytes_field(8, t), _metadata("pr_curves", content)))


def compute_curve(labels, predictions, num_thresholds, weights=None):
    """(6, num_thresholds): tp, fp, tn, fn, precision, recall at thresholds i/(num_thresholds-1),
    TensorBoard's pr_curve plugin definition."""
    w = 1.0 if weights is None else weights
    bucket = np.int32(np.floor(predictions * (num_thresholds - 1)))
    lab = labels.astype(np.float64)
    rng = (0, num_thresholds - 1)
    tp_b, _ = np.histogram(bucket, bins=num_thresholds, range=rng, weights=lab * w)
    fp_b, _ = np.histogram(bucket, bins=num_thresholds, range=rng, weights=(1.0 - lab) * w)
    tp = np.cumsum(tp_b[::-1])[::-1]  # counts at or above each threshold
    fp = np.cumsum(fp_b[::-1])[::-1]
    tn, fn = fp[0] - fp, tp[0] - tp
    precision = tp / np.maximum(1e-7, tp + fp)
    recall = tp / np.maximum(1e-7, tp + fn)
    return np.stack((tp, fp, tn, fn, precision, recall))


def pr_curve(tag, labels, predictions, num_thresholds=127, weights=None):
    num_thresholds = min(num_thresholds, 127)  # PyTorch's cap
    if weights is not None and not np.isscalar(weights):
        weights = make_np(weights)
    return _pr_summary(tag, compute_curve(make_np(labels), make_np(predictions), num_thresholds,
                                          weights), num_thresholds)


def pr_curve_raw(tag, tp, fp, tn, fn, precision, recall, num_thresholds=127):
    num_thresholds = min(num_thresholds, 127)
    cols = [make_np(x) if not isinstance(x, (list, tuple)) else np.asarray(x)
            for x in (tp, fp, tn, fn, precision, recall)]
    return _pr_summary(tag, np.stack(cols), num_thresholds)


# ---------------------------------------------------------------- custom scalars layout

def custom_scalars(layout):
    """Layout{category(2): Category{title(1), chart(2): Chart{title(1),
    multiline(2){tag(1)...} | margin(3){series(1){value(1), lower(2), upper(3)}}}}}, stored as a
    scalar DT_STRING tensor under 'custom_scalars__config__'."""
    cats = b""
    for cat_title, charts in layout.items():
        chart_bytes = b""
        for chart_title, (kind, tags) in charts.items():
            if kind == "Margin":
                if len(tags) != 3:
                    raise ValueError(f"add_custom_scalars: margin chart '{chart_title}' needs 3 tags "
                                     f"(value, lower, upper), got {len(tags)}")
                series = P.opt_string(1, tags[0]) + P.opt_string(2, tags[1]) + P.opt_string(3, tags[2])
                content = P.bytes_field(3, P.bytes_field(1, series))
            else:
                content = P.bytes_field(2, b"".join(P.string_field(1, t) for t in tags))
            chart_bytes += P.bytes_field(2, P.opt_string(1, chart_title) + content)
        cats += P.bytes_field(2, P.opt_string(1, cat_title) + chart_bytes)
    t = _tensor(DT_STRING, P.bytes_field(8, cats), shape=[])
    return _summary(_value("custom_scalars__config__", P.bytes_field(8, t), _metadata("custom_scalars")))


# ---------------------------------------------------------------- hparams

def _struct_value(v):
    """google.protobuf.Value: number_value(2) | string_value(3), a oneof. bool_value(4) is never
    used: PyTorch logs bools as numbers (bool is an int), and so do we."""
    return P.string_field(3, v) if isinstance(v, str) else P.double_field(2, float(v))


def _hp_plugin_data(field, message):
    """HParamsPluginData{version(1)=0, experiment(2) | session_start_info(3) | session_end_info(4)}."""
    return _metadata("hparams", P.bytes_field(field, message))


def hparams(hparam_dict, metric_dict, hparam_domain_discrete=None):
    """The three summaries of the hparams plugin: experiment, session start info, session end info.

    Like PyTorch: int, float and bool values are FLOAT64 numbers (bool is an int), str is STRING,
    a tensor contributes its first element, None is skipped."""
    if not isinstance(hparam_dict, dict) or not isinstance(metric_dict, dict):
        raise TypeError("add_hparams: hparam_dict and metric_dict must be dicts, got "
                        f"{type(hparam_dict).__name__} and {type(metric_dict).__name__}")
    domains = hparam_domain_discrete or {}
    if not isinstance(domains, dict):
        raise TypeError("add_hparams: hparam_domain_discrete must be a dict")
    for k, vals in domains.items():
        if k not in hparam_dict or not isinstance(vals, list) or \
                not all(isinstance(d, type(hparam_dict[k])) for d in vals):
            raise TypeError(f"add_hparams: hparam_domain_discrete['{k}'] must be a list of values of "
                            f"the same type as hparam_dict['{k}']")
    infos, entries = b"", b""
    for k, v in hparam_dict.items():
        if v is None:
            continue
        domain = b""
        if isinstance(v, numbers.Real):
            kind, value = _HP_FLOAT64, P.double_field(2, float(v))
        elif isinstance(v, str):
            kind, value = _HP_STRING, P.string_field(3, v)
        elif hasattr(v, "detach"):
            kind, value = _HP_FLOAT64, P.double_field(2, float(make_np(v).reshape(-1)[0]))
        else:
            raise ValueError(f"add_hparams: hparam '{k}' is a {type(v).__name__}; "
                             "use int, float, str, bool or a tensor")
        if k in domains and not hasattr(v, "detach"):
            domain = P.bytes_field(5, b"".join(P.bytes_field(1, _struct_value(d)) for d in domains[k]))
        # HParamInfo{name(1), type(4), domain_discrete(5)}; map entry {key(1), value(2)}
        infos += P.bytes_field(4, P.opt_string(1, k) + P.opt_int(4, kind) + domain)
        entries += P.bytes_field(1, P.opt_string(1, k) + P.bytes_field(2, value))
    # MetricInfo{name(1): MetricName{tag(2)}}
    metrics = b"".join(P.bytes_field(5, P.bytes_field(1, P.opt_string(2, k))) for k in metric_dict)
    exp = _summary(_value(HPARAMS_EXPERIMENT_TAG, metadata=_hp_plugin_data(2, infos + metrics)))
    ssi = _summary(_value(HPARAMS_SESSION_START_INFO_TAG, metadata=_hp_plugin_data(3, entries)))
    sei = _summary(_value(HPARAMS_SESSION_END_INFO_TAG,
                          metadata=_hp_plugin_data(4, P.opt_int(1, _HP_STATUS_SUCCESS))))
    return exp, ssi, sei


# ---------------------------------------------------------------- meshes and point clouds

_MESH_VERTEX, _MESH_FACE, _MESH_COLOR = 1, 2, 3   # MeshPluginData.ContentType
_MESH_NAMES = {_MESH_VERTEX: "VERTEX", _MESH_FACE: "FACE", _MESH_COLOR: "COLOR"}


def mesh(tag, vertices, colors, faces, config_dict):
    """One DT_FLOAT (B, N, 3) tensor per part present, tagged '<tag>_VERTEX', '_FACE', '_COLOR', each
    with MeshPluginData{version(1)=0, name(2), content_type(3), json_config(5), shape(6) packed,
    components(7): bitmask of the parts present}."""
    json_config = json.dumps(config_dict, sort_keys=True) if config_dict is not None else "{}"
    parts = [(make_np(x), kind) for x, kind in
             ((vertices, _MESH_VERTEX), (faces, _MESH_FACE), (colors, _MESH_COLOR)) if x is not None]
    components = 0
    for _, kind in parts:
        components |= 1 << kind
    values = []
    for arr, kind in parts:
        if arr.ndim != 3:
            raise ValueError(f"add_mesh: '{tag}' {_MESH_NAMES[kind].lower()} must be (B, N, 3), "
                             f"got shape {tuple(arr.shape)}")
        content = (P.opt_string(2, tag) + P.opt_int(3, kind) + P.opt_string(5, json_config)
                   + P.packed_varints(6, arr.shape) + P.opt_int(7, components))
        t = _tensor(DT_FLOAT, P.packed_floats(5, arr.reshape(-1)) if arr.size else b"",
                    shape=list(arr.shape))
        values.append(_value(f"{tag}_{_MESH_NAMES[kind]}", P.bytes_field(8, t), _metadata("mesh", content)))
    return _summary(*values)
