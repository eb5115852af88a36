"""One TensorBoard event file: TFRecord framing of encoded `Event` protobufs, buffered writes.

File name and first record follow tensorboard's EventFileWriter, so TensorBoard (and any other
reader of tfevents files) treats our files like PyTorch's:
  events.out.tfevents.<10-digit unix time>.<host>.<pid>.<process-wide counter><suffix>
Each record: u64 length, masked CRC32C of those 8 bytes, the Event bytes, masked CRC32C of them.

Buffering: events are framed when added and kept in memory until `max_queue` of them wait, until a
background thread's flush every `flush_secs`, or until flush()/close(); the file is then written and
flushed to the OS. flush_secs <= 0 writes every event at once (tensorboard's writer then flushes after
each event too). At interpreter exit every file still open is flushed, so a script that forgets
close() loses nothing.
"""
import atexit
import itertools
import os
import socket
import struct
import threading
import time
import weakref

from . import _proto as P
from ._crc32c import masked_crc32c

_file_counter = itertools.count()  # next() is atomic under the GIL
_open_files = weakref.WeakSet()


def frame_record(data):
    header = struct.pack("<Q", len(data))
    return (header + struct.pack("<I", masked_crc32c(header)) + data
            + struct.pack("<I", masked_crc32c(data)))


def encode_event(wall_time, step=None, *, file_version=None, graph_def=None, summary=None,
                 session_log_status=None, tagged_run_metadata=None, source_writer=None):
    """Event: wall_time(1) double, step(2) int64, then one of file_version(3), graph_def(4) bytes,
    summary(5), session_log(7) {status(1)}, tagged_run_metadata(8); source_metadata(10) {writer(1)}."""
    out = P.opt_double(1, wall_time) + (P.opt_int(2, int(step)) if step is not None else b"")
    if file_version is not None:
        out += P.string_field(3, file_version)
    if graph_def is not None:
        out += P.bytes_field(4, graph_def)
    if summary is not None:
        out += P.bytes_field(5, summary)
    if session_log_status is not None:
        out += P.bytes_field(7, P.opt_int(1, session_log_status))
    if tagged_run_metadata is not None:
        out += P.bytes_field(8, tagged_run_metadata)
    if source_writer is not None:
        out += P.bytes_field(10, P.opt_string(1, source_writer))
    return out


class _Sink:
    """The open file and its pending records. Owned by EventFileWriter and by the flush thread, so
    the thread never keeps the writer object alive."""

    def __init__(self, path, max_queue):
        self.file = open(path, "wb")
        self.pending = []
        self.max_queue = max_queue   # <= 0: no limit (flushes come from time or from the caller)
        self.lock = threading.Lock()
        self.closed = False
        self.stop = threading.Event()

    def write(self, record):
        with self.lock:
            if self.closed:
                raise OSError(f"tensorboard: event file {self.file.name} is closed")
            self.pending.append(record)
            if self.max_queue > 0 and len(self.pending) >= self.max_queue:
                self._flush_locked()

    def _flush_locked(self):
        if self.pending:
            self.file.write(b"".join(self.pending))
            self.pending.clear()
        self.file.flush()

    def flush(self):
        with self.lock:
            if not self.closed:
                self._flush_locked()

    def close(self):
        with self.lock:
            if self.closed:
                return
            self._flush_locked()
            self.file.close()
            self.closed = True
        self.stop.set()


def _flush_every(sink, secs):
    while not sink.stop.wait(secs):
        sink.flush()


@atexit.register
def _flush_all_at_exit():
    for sink in list(_open_files):
        sink.flush()


class EventFileWriter:
    def __init__(self, logdir, max_queue=10, flush_secs=120, filename_suffix=""):
        self._logdir = str(logdir)
        self._max_queue = max_queue
        self._flush_secs = flush_secs
        self._suffix = filename_suffix
        self._open()

    def _open(self):
        os.makedirs(self._logdir, exist_ok=True)
        name = "events.out.tfevents.%010d.%s.%s.%s%s" % (
            time.time(), socket.gethostname(), os.getpid(), next(_file_counter), self._suffix)
        self._path = os.path.join(self._logdir, name)
        flush_each = self._flush_secs is not None and self._flush_secs <= 0
        self._sink = _Sink(self._path, 1 if flush_each else self._max_queue)
        _open_files.add(self._sink)
        if self._flush_secs is not None and self._flush_secs > 0:
            threading.Thread(target=_flush_every, args=(self._sink, self._flush_secs),
                             name="tensorboard-flush", daemon=True).start()
        # The first record names the format version; readers use it to recognise the file.
        self.add_event(encode_event(time.time(), file_version="brain.Event:2",
                                    source_writer="flambeau.utils.tensorboard"))
        self.flush()

    def get_logdir(self):
        return self._logdir

    def get_filename(self):
        return self._path

    def add_event(self, event_bytes):
        self._sink.write(frame_record(event_bytes))

    def flush(self):
        self._sink.flush()

    def close(self):
        self._sink.close()

    def reopen(self):
        """After close(), continue in a new event file in the same directory."""
        if self._sink.closed:
            self._open()
