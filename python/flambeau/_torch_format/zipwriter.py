"""A zip writer that lays records out exactly as PyTorch's writer (miniz, caffe2/serialize) does.

Python's zipfile writes valid archives, but not miniz's layout, and torch.load depends on that layout
when it computes record offsets itself instead of reading the headers (mmap=True with
torch.utils.serialization.config.load.calculate_storage_offsets, checked by TORCH_SERIALIZATION_DEBUG).
Per record:

    local header   signature, version 0, flags 0x0808 (data descriptor, UTF-8 names), method 0
                   (stored), time and date 0, CRC and sizes 0 (they follow the data), the name, and
                   an extra field: zip64 sizes / offset when they pass 0xFFFFFFFF, then "FB" + length
                   + "Z" padding so that the data starts on a multiple of `alignment` bytes
    data           as given, uncompressed
    descriptor     (non-empty records only) signature, CRC-32, sizes: 32-bit, or 64-bit when the
                   record's offset or size passes 0xFFFFFFFF

then the central directory, a zip64 end record and locator, and the end record, as miniz writes them.
"""
import struct
import zlib

_ZIP64_AT = 0xFFFFFFFF    # sizes and offsets from here on need zip64 fields (lowered by a test)
_U32_MAX = 0xFFFFFFFF     # what the 32-bit field then holds, telling readers to look there
_CHUNK = 1 << 24


class ZipWriter:
    """with ZipWriter(fh, alignment=64) as zw: zw.write(name, data) ... (fh: a binary writable)."""

    def __init__(self, fh, alignment=64):
        self.fh = fh
        self.alignment = alignment
        self.pos = 0
        self.entries = []   # (name bytes, offset of the local header, size, crc)

    def _out(self, data):
        self.fh.write(data)
        self.pos += len(data)

    def _padding(self, name_size, size, cursor):
        start = cursor + 30 + name_size + 4   # header, name, "FB" id and length
        zip64_fields = 0
        if size >= _ZIP64_AT or cursor >= _ZIP64_AT:
            start += 4
            zip64_fields = (2 if size >= _ZIP64_AT else 0) + (1 if cursor >= _ZIP64_AT else 0)
            start += 8 * zip64_fields
        pad = (-start) % self.alignment
        return pad

    def write(self, name, data):
        data = memoryview(data).cast("B")
        name_bytes = name.encode("utf-8")
        size = len(data)
        offset = self.pos
        extra = b""
        if size >= _ZIP64_AT or offset >= _ZIP64_AT:
            fields = ([size, size] if size >= _ZIP64_AT else []) + \
                ([offset] if offset >= _ZIP64_AT else [])
            extra += struct.pack("<HH", 1, 8 * len(fields)) + struct.pack(f"<{len(fields)}Q", *fields)
        pad = self._padding(len(name_bytes), size, offset)
        extra += b"FB" + struct.pack("<H", pad) + b"Z" * pad
        self._out(struct.pack("<IHHHHHIIIHH", 0x04034B50, 0, 0x0808, 0, 0, 0, 0, 0, 0,
                              len(name_bytes), len(extra)))
        self._out(name_bytes)
        self._out(extra)
        crc = 0
        for start in range(0, size, _CHUNK):
            chunk = data[start:start + _CHUNK]
            crc = zlib.crc32(chunk, crc)
            self._out(chunk)
        if size:
            if size >= _ZIP64_AT or offset >= _ZIP64_AT:
                self._out(struct.pack("<IIQQ", 0x08074B50, crc, size, size))
            else:
                self._out(struct.pack("<IIII", 0x08074B50, crc, size, size))
        self.entries.append((name_bytes, offset, size, crc))

    def close(self):
        directory_offset = self.pos
        for name_bytes, offset, size, crc in self.entries:
            fields = ([size, size] if size >= _ZIP64_AT else []) + \
                ([offset] if offset >= _ZIP64_AT else [])
            extra = (struct.pack("<HH", 1, 8 * len(fields)) + struct.pack(f"<{len(fields)}Q", *fields)
                     if fields else b"")
            size32 = size if size < _ZIP64_AT else _U32_MAX
            self._out(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0, 0, 0x0808, 0, 0, 0, crc,
                                  size32, size32, len(name_bytes), len(extra), 0, 0, 0, 0,
                                  offset if offset < _ZIP64_AT else _U32_MAX))
            self._out(name_bytes)
            self._out(extra)
        directory_size = self.pos - directory_offset
        zip64_end = self.pos
        count = len(self.entries)
        self._out(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 0x031E, 45, 0, 0, count, count,
                              directory_size, directory_offset))
        self._out(struct.pack("<IIQI", 0x07064B50, 0, zip64_end, 1))
        small = count < 0xFFFF and directory_size < _ZIP64_AT and directory_offset < _ZIP64_AT
        self._out(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count if small else 0xFFFF,
                              count if small else 0xFFFF, directory_size if small else _U32_MAX,
                              directory_offset if small else _U32_MAX, 0))

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
