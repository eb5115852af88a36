"""The ONNX file format written by hand: protobuf's wire format and the few ONNX messages an exported model
needs (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto), so that export
never needs the onnx or protobuf packages at run time.

Wire format (protobuf's encoding documentation): a message is a sequence of fields, each a key
varint(field_number << 3 | wire_type) followed by the value: wire type 0 a varint (int64 negatives as
their 64-bit two's complement, ten bytes), 1 eight little-endian bytes, 2 a varint length then that many
bytes (strings, bytes, nested messages, packed repeated scalars), 5 four little-endian bytes (float).
Field numbers are those of onnx/onnx.proto (the public spec), given next to each builder below.
"""
import struct

import numpy as np

# TensorProto.DataType
FLOAT, UINT8, INT8, INT32, INT64, BOOL, FLOAT16, DOUBLE, BFLOAT16 = 1, 2, 3, 6, 7, 9, 10, 11, 16
_NP_TO_ONNX = {np.dtype(np.float32): FLOAT, np.dtype(np.float64): DOUBLE, np.dtype(np.int64): INT64,
               np.dtype(np.int32): INT32, np.dtype(np.bool_): BOOL, np.dtype(np.float16): FLOAT16,
               np.dtype(np.uint8): UINT8, np.dtype(np.int8): INT8}

# AttributeProto.AttributeType
_A_FLOAT, _A_INT, _A_STRING, _A_TENSOR, _A_GRAPH, _A_FLOATS, _A_INTS, _A_STRINGS = 1, 2, 3, 4, 5, 6, 7, 8


def onnx_dtype(np_dtype):
    try:
        return _NP_TO_ONNX[np.dtype(np_dtype)]
    except KeyError:
        raise TypeError(f"onnx export: no ONNX element type for numpy dtype {np.dtype(np_dtype)}") from None


def varint(n):
    """Protobuf base-128 varint of an int64/uint64 (negative numbers as 64-bit two's complement)."""
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


class Message:
    """A protobuf message under construction: fields are appended in the order written."""

    __slots__ = ("buf",)

    def __init__(self):
        self.buf = bytearray()

    def _key(self, field, wire_type):
        self.buf += varint((field << 3) | wire_type)

    def int(self, field, value):
        self._key(field, 0)
        self.buf += varint(int(value))
        return self

    def float(self, field, value):
        self._key(field, 5)
        self.buf += struct.pack("<f", value)
        return self

    def bytes(self, field, data):
        self._key(field, 2)
        self.buf += varint(len(data))
        self.buf += data
        return self

    def str(self, field, text):
        return self.bytes(field, text.encode("utf-8"))

    def msg(self, field, message):
        return self.bytes(field, message.buf)

    def packed_ints(self, field, values):
        return self.bytes(field, b"".join(varint(int(v)) for v in values))

    def packed_floats(self, field, values):
        return self.bytes(field, struct.pack(f"<{len(values)}f", *values))

    def tobytes(self):
        return bytes(self.buf)


def tensor(name, array):
    """TensorProto: dims=1, data_type=2, name=8, raw_data=9 (little-endian, row-major)."""
    a = np.asarray(array)
    if not a.flags.c_contiguous:   # (not np.ascontiguousarray: it makes a 0-d array 1-d)
        a = a.copy(order="C")
    m = Message()
    if a.ndim:
        m.packed_ints(1, a.shape)
    m.int(2, onnx_dtype(a.dtype))
    if name:
        m.str(8, name)
    m.bytes(9, a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes())
    return m


def attribute(name, value):
    """AttributeProto: name=1, f=2, i=3, s=4, t=5, g=6, floats=7, ints=8, strings=9, type=20."""
    m = Message().str(1, name)
    if isinstance(value, bool) or isinstance(value, (int, np.integer)):
        m.int(3, int(value)).int(20, _A_INT)
    elif isinstance(value, (float, np.floating)):
        m.float(2, float(value)).int(20, _A_FLOAT)
    elif isinstance(value, str):
        m.bytes(4, value.encode("utf-8")).int(20, _A_STRING)
    elif isinstance(value, np.ndarray):
        m.msg(5, tensor("", value)).int(20, _A_TENSOR)
    elif isinstance(value, (list, tuple)):
        if all(isinstance(v, (int, np.integer)) for v in value):
            m.packed_ints(8, value).int(20, _A_INTS)
        elif all(isinstance(v, (int, float, np.integer, np.floating)) for v in value):
            m.packed_floats(7, [float(v) for v in value]).int(20, _A_FLOATS)
        elif all(isinstance(v, str) for v in value):
            for v in value:
                m.bytes(9, v.encode("utf-8"))
            m.int(20, _A_STRINGS)
        else:
            raise TypeError(f"onnx export: attribute {name!r}: unsupported list {value!r}")
    else:
        raise TypeError(f"onnx export: attribute {name!r}: unsupported value of type {type(value).__name__}")
    return m


def node(op_type, inputs, outputs, name="", domain="", **attrs):
    """NodeProto: input=1, output=2, name=3, op_type=4, attribute=5, domain=7. Attributes whose value is
    None are left out."""
    m = Message()
    for i in inputs:
        m.str(1, i)
    for o in outputs:
        m.str(2, o)
    if name:
        m.str(3, name)
    m.str(4, op_type)
    for k in sorted(attrs):
        if attrs[k] is not None:
            m.msg(5, attribute(k, attrs[k]))
    if domain:
        m.str(7, domain)
    return m


def value_info(name, elem_type, shape):
    """ValueInfoProto name=1, type=2 -> TypeProto tensor_type=1 -> (elem_type=1, shape=2 ->
    TensorShapeProto dim=1 -> Dimension dim_value=1 | dim_param=2). A str dim is symbolic (dim_param)."""
    shp = Message()
    for d in shape:
        dim = Message()
        if isinstance(d, str):
            dim.str(2, d)
        else:
            dim.int(1, d)
        shp.msg(1, dim)
    tt = Message().int(1, elem_type).msg(2, shp)
    tp = Message().msg(1, tt)
    return Message().str(1, name).msg(2, tp)


def graph(nodes, name, initializers, inputs, outputs):
    """GraphProto: node=1, name=2, initializer=5, input=11, output=12."""
    m = Message()
    for n in nodes:
        m.msg(1, n)
    m.str(2, name)
    for t in initializers:
        m.msg(5, t)
    for v in inputs:
        m.msg(11, v)
    for v in outputs:
        m.msg(12, v)
    return m


def model(graph_msg, opset_version, ir_version, producer_name, producer_version, doc_string=""):
    """ModelProto: ir_version=1, producer_name=2, producer_version=3, doc_string=6, graph=7,
    opset_import=8 -> OperatorSetIdProto (domain=1, version=2; the default domain is "")."""
    m = Message().int(1, ir_version).str(2, producer_name).str(3, producer_version)
    if doc_string:
        m.str(6, doc_string)
    m.msg(7, graph_msg)
    m.msg(8, Message().str(1, "").int(2, opset_version))
    return m
