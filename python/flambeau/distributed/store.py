"""Key-value stores for rendezvous, as torch.distributed's: TCPStore, FileStore, HashStore, PrefixStore.

A store maps string keys to byte values. Processes meet through one: each publishes what the others need
(here: the address its collectives listen on) and waits for the keys of the others. The API is PyTorch's:
set/get/add/wait/check/delete_key/num_keys/compare_set/append/multi_get/multi_set, values given as str or
bytes and returned as bytes, counters stored as their decimal text (so `add` and `get` see the same value),
`get`/`wait` blocking up to the store's timeout and then raising DistStoreError ("wait timeout after
...ms, keys: ...", PyTorch's text).

- HashStore: one process (threads share it).
- TCPStore: a server thread in the process constructed with is_master=True, clients over TCP. The protocol
  is flambeau's own (length-prefixed fields, no pickle); a flambeau client cannot talk to a PyTorch server.
  With world_size given, every client adds 1 to an internal key at construction and the master waits until
  world_size have arrived (PyTorch's wait_for_workers), which is why num_keys() counts one key more.
- FileStore: processes sharing a file system; every operation takes an exclusive flock on the file and
  replays its append-only log of (key, value) records, as PyTorch's FileStore does.
"""
import datetime
import fcntl
import os
import socket
import socketserver
import struct
import threading
import time

__all__ = ["Store", "TCPStore", "FileStore", "HashStore", "PrefixStore", "DistError", "DistStoreError",
           "DistNetworkError", "DistBackendError"]

_DEFAULT_TIMEOUT = datetime.timedelta(seconds=300)


class DistError(RuntimeError):
    """Base of the errors raised by flambeau.distributed (torch.distributed.DistError)."""


class DistBackendError(DistError):
    """A collective or point-to-point operation failed (a peer died, a timeout, mismatched sizes)."""


class DistStoreError(DistError):
    """A store operation failed or timed out."""


class DistNetworkError(DistError):
    """A connection could not be made or was lost."""


for _cls in (DistError, DistBackendError, DistStoreError, DistNetworkError):
    _cls.__module__ = "flambeau.distributed"  # where users import them from
del _cls


def _to_bytes(value, what="value"):
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (list, tuple)) and all(isinstance(v, int) for v in value):
        return bytes(value)  # PyTorch's bindings accept a list of byte values too
    raise TypeError(f"Store: {what} must be str or bytes, got {type(value).__name__}")


def _seconds(timeout):
    if timeout is None:
        return None
    if isinstance(timeout, datetime.timedelta):
        return timeout.total_seconds()
    return float(timeout)


def _timeout_error(keys, seconds):
    return DistStoreError(f"wait timeout after {int(round(seconds * 1000))}ms, keys: "
                          + ", ".join("/" + k for k in keys))


def _parse_int(key, raw):
    try:
        return int(raw)
    except ValueError:
        raise DistStoreError(f"Store.add: the value of key {key!r} is not an integer ({raw[:40]!r})") from None


class Store:
    """The interface of every store; subclasses implement the _do_* primitives."""

    def __init__(self, timeout=_DEFAULT_TIMEOUT):
        self._timeout = _seconds(timeout)

    @property
    def timeout(self):
        return datetime.timedelta(seconds=self._timeout)

    def set_timeout(self, timeout):
        self._timeout = _seconds(timeout)

    def get(self, key):
        """The value of key, waiting for it up to the store's timeout."""
        self.wait([key])
        value = self._do_get(key)
        if value is None:  # deleted between the wait and the read
            raise _timeout_error([key], self._timeout)
        return value

    def wait(self, keys, timeout=None):
        keys = [keys] if isinstance(keys, str) else list(keys)
        self._do_wait(keys, self._timeout if timeout is None else _seconds(timeout))

    def check(self, keys):
        """True when every key is set (does not wait)."""
        return all(self._do_get(k) is not None for k in keys)

    def multi_get(self, keys):
        return [self.get(k) for k in keys]

    def multi_set(self, keys, values):
        if len(keys) != len(values):
            raise ValueError(f"Store.multi_set: {len(keys)} keys but {len(values)} values")
        for k, v in zip(keys, values):
            self.set(k, v)

    def __reduce__(self):
        raise TypeError(f"{type(self).__name__} cannot be pickled")


# ------------------------------------------------------------------------------------------------ HashStore
class _Table:
    """A dict of bytes with a condition variable: the state of HashStore and of the TCPStore server."""

    def __init__(self):
        self.data = {}
        self.cond = threading.Condition()

    def set(self, key, value):
        with self.cond:
            self.data[key] = value
            self.cond.notify_all()

    def get(self, key):
        with self.cond:
            return self.data.get(key)

    def add(self, key, amount):
        with self.cond:
            cur = self.data.get(key)
            n = (0 if cur is None else _parse_int(key, cur)) + int(amount)
            self.data[key] = str(n).encode()
            self.cond.notify_all()
            return n

    def append(self, key, value):
        with self.cond:
            self.data[key] = self.data.get(key, b"") + value
            self.cond.notify_all()

    def compare_set(self, key, expected, desired):
        with self.cond:
            cur = self.data.get(key)
            if (cur is None and expected == b"") or cur == expected:
                self.data[key] = desired
                self.cond.notify_all()
                return desired
            return expected if cur is None else cur

    def delete(self, key):
        with self.cond:
            return self.data.pop(key, None) is not None

    def num_keys(self):
        with self.cond:
            return len(self.data)

    def wait(self, keys, seconds):
        """True when every key is set, False after `seconds` (None: forever)."""
        deadline = None if seconds is None else time.monotonic() + seconds
        with self.cond:
            while not all(k in self.data for k in keys):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self.cond.wait(left)
            return True


class HashStore(Store):
    """A store inside one process (threads share it)."""

    def __init__(self):
        super().__init__()
        self._table = _Table()

    def set(self, key, value):
        self._table.set(key, _to_bytes(value))

    def _do_get(self, key):
        return self._table.get(key)

    def _do_wait(self, keys, seconds):
        if not self._table.wait(keys, seconds):
            raise _timeout_error(keys, seconds)

    def add(self, key, amount):
        return self._table.add(key, amount)

    def append(self, key, value):
        self._table.append(key, _to_bytes(value))

    def compare_set(self, key, expected_value, desired_value):
        return self._table.compare_set(key, _to_bytes(expected_value), _to_bytes(desired_value))

    def delete_key(self, key):
        return self._table.delete(key)

    def num_keys(self):
        return self._table.num_keys()


# ------------------------------------------------------------------------------------------------ TCPStore
# Wire format: a request is one command byte, a u32 field count and the fields (u32 length + bytes each);
# the reply is a status byte (0 ok, 1 timeout, 2 error) and fields in the same form.
_SET, _GET, _ADD, _WAIT, _DELETE, _NUM_KEYS, _APPEND, _COMPARE_SET, _PING = range(9)
_OK, _TIMEOUT, _ERROR = 0, 1, 2
_INIT_KEY = "init/"  # the counter of arrived clients (PyTorch's TCPStore keeps one too)


def _recv_exact(sock, n):
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise ConnectionError("connection closed")
        got += k
    return bytes(buf)


def _send_msg(sock, head, fields):
    parts = [struct.pack("<BI", head, len(fields))]
    for f in fields:
        parts.append(struct.pack("<I", len(f)))
        parts.append(f)
    sock.sendall(b"".join(parts))


def _recv_msg(sock):
    head, n = struct.unpack("<BI", _recv_exact(sock, 5))
    fields = []
    for _ in range(n):
        (ln,) = struct.unpack("<I", _recv_exact(sock, 4))
        fields.append(_recv_exact(sock, ln))
    return head, fields


class _StoreHandler(socketserver.BaseRequestHandler):
    def handle(self):
        table = self.server.table
        sock = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            try:
                cmd, f = _recv_msg(sock)
            except (ConnectionError, OSError, struct.error):
                return
            status, out = _OK, []
            try:
                if cmd == _SET:
                    table.set(f[0].decode(), f[1])
                elif cmd == _GET:
                    v = table.get(f[0].decode())
                    out = [] if v is None else [v]
                elif cmd == _ADD:
                    out = [str(table.add(f[0].decode(), int(f[1]))).encode()]
                elif cmd == _WAIT:
                    ms = int(f[0])
                    if not table.wait([k.decode() for k in f[1:]], None if ms < 0 else ms / 1000):
                        status = _TIMEOUT
                elif cmd == _DELETE:
                    out = [b"1" if table.delete(f[0].decode()) else b"0"]
                elif cmd == _NUM_KEYS:
                    out = [str(table.num_keys()).encode()]
                elif cmd == _APPEND:
                    table.append(f[0].decode(), f[1])
                elif cmd == _COMPARE_SET:
                    out = [table.compare_set(f[0].decode(), f[1], f[2])]
                elif cmd == _PING:
                    out = [b"pong"]
                else:
                    status, out = _ERROR, [f"unknown command {cmd}".encode()]
            except Exception as e:  # noqa: BLE001 - report it to the client, keep serving
                status, out = _ERROR, [str(e).encode()]
            try:
                _send_msg(sock, status, out)
            except OSError:
                return


class _StoreServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port):
        self.table = _Table()
        super().__init__(("", port), _StoreHandler)


class TCPStore(Store):
    """TCPStore(host_name, port, world_size=None, is_master=False, timeout=timedelta(seconds=300),
    wait_for_workers=True, ...): the master (is_master=True) serves the store from a thread of its
    process (port 0 picks a free port: read it back from .port); every instance, the master's included,
    is a client of that server."""

    def __init__(self, host_name, port, world_size=None, is_master=False, timeout=_DEFAULT_TIMEOUT,
                 wait_for_workers=True, multi_tenant=False, master_listen_fd=None, use_libuv=True):
        super().__init__(timeout)
        self.host = host_name
        self.world_size = world_size
        self._server = None
        self._thread = None
        if is_master:
            try:
                self._server = _StoreServer(int(port))
            except OSError as e:
                raise DistNetworkError(f"TCPStore: the server cannot listen on port {port}: {e}") from None
            port = self._server.server_address[1]
            self._thread = threading.Thread(target=self._server.serve_forever, name="flambeau-TCPStore",
                                            daemon=True)
            self._thread.start()
        self.port = int(port)
        self.libuvBackend = False
        # one connection per thread: a get() blocked in one thread must not hold up another thread's set()
        self._local = threading.local()
        self._socks = []
        self._socks_lock = threading.Lock()
        self._sock = self._thread_sock()
        if world_size is not None and world_size > 0 and wait_for_workers:
            self.add(_INIT_KEY, 1)
            if is_master:
                deadline = time.monotonic() + self._timeout
                while int(self._do_get(_INIT_KEY)) < world_size:
                    if time.monotonic() > deadline:
                        raise DistStoreError(f"TCPStore: timed out after {self._timeout:g}s waiting for "
                                             f"{world_size} clients ({int(self._do_get(_INIT_KEY))} arrived)")
                    time.sleep(0.01)

    def _connect(self, host, port):
        deadline = time.monotonic() + self._timeout
        delay = 0.01
        while True:
            try:
                sock = socket.create_connection((host, port), timeout=max(1.0, min(30.0, self._timeout)))
                sock.settimeout(None)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return sock
            except OSError as e:
                if time.monotonic() + delay > deadline:
                    raise DistNetworkError(f"TCPStore: cannot connect to {host}:{port} within "
                                           f"{self._timeout:g}s ({e})") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    def _thread_sock(self):
        sock = getattr(self._local, "sock", None)
        if sock is None:
            sock = self._local.sock = self._connect(self.host, self.port)
            with self._socks_lock:
                self._socks.append(sock)
        return sock

    def _call(self, cmd, fields):
        sock = self._thread_sock()
        try:
            _send_msg(sock, cmd, fields)
            status, out = _recv_msg(sock)
        except (ConnectionError, OSError, struct.error) as e:
            raise DistNetworkError(f"TCPStore: lost the connection to {self.host}:{self.port} ({e}); did the "
                                   "server (the process with is_master=True) exit?") from None
        if status == _ERROR:
            raise DistStoreError(f"TCPStore: {out[0].decode() if out else 'error'}")
        return status, out

    def set(self, key, value):
        self._call(_SET, [key.encode(), _to_bytes(value)])

    def _do_get(self, key):
        _, out = self._call(_GET, [key.encode()])
        return out[0] if out else None

    def _do_wait(self, keys, seconds):
        ms = -1 if seconds is None else int(seconds * 1000)
        status, _ = self._call(_WAIT, [str(ms).encode()] + [k.encode() for k in keys])
        if status == _TIMEOUT:
            raise _timeout_error(keys, seconds)

    def add(self, key, amount):
        return int(self._call(_ADD, [key.encode(), str(int(amount)).encode()])[1][0])

    def append(self, key, value):
        self._call(_APPEND, [key.encode(), _to_bytes(value)])

    def compare_set(self, key, expected_value, desired_value):
        return self._call(_COMPARE_SET, [key.encode(), _to_bytes(expected_value), _to_bytes(desired_value)])[1][0]

    def delete_key(self, key):
        return self._call(_DELETE, [key.encode()])[1][0] == b"1"

    def num_keys(self):
        return int(self._call(_NUM_KEYS, [])[1][0])

    def _local_address(self):
        """The address of this host on the interface that reaches the server (others can reach it there)."""
        return self._sock.getsockname()[0]

    def close(self):
        with self._socks_lock:
            socks, self._socks = self._socks, []
        for sock in socks:
            try:
                sock.close()
            except OSError:
                pass
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


# ------------------------------------------------------------------------------------------------ FileStore
class FileStore(Store):
    """A store in a file shared by the processes (an append-only log of records, each `u32 key length,
    key, u32 value length, value`; a deleted key is a record with length 0xFFFFFFFF). Every operation
    holds an exclusive flock while it replays the log, so concurrent processes see one order."""

    _DELETED = 0xFFFFFFFF

    def __init__(self, file_name, world_size=-1):
        super().__init__()
        self.path = os.fspath(file_name)
        self.world_size = world_size
        # created here so that every process opens the same inode
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)

    def _locked(self, fn):
        with open(self.path, "r+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                return fn(fh)
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @classmethod
    def _replay(cls, fh):
        fh.seek(0)
        raw = fh.read()
        data, pos = {}, 0
        while pos + 8 <= len(raw):
            (kl,) = struct.unpack_from("<I", raw, pos)
            key = raw[pos + 4:pos + 4 + kl].decode()
            pos += 4 + kl
            (vl,) = struct.unpack_from("<I", raw, pos)
            pos += 4
            if vl == cls._DELETED:
                data.pop(key, None)
            else:
                data[key] = raw[pos:pos + vl]
                pos += vl
        return data

    @classmethod
    def _write(cls, fh, key, value):
        fh.seek(0, os.SEEK_END)
        k = key.encode()
        rec = struct.pack("<I", len(k)) + k
        rec += struct.pack("<I", cls._DELETED) if value is None else struct.pack("<I", len(value)) + value
        fh.write(rec)
        fh.flush()

    def set(self, key, value):
        value = _to_bytes(value)
        self._locked(lambda fh: self._write(fh, key, value))

    def _do_get(self, key):
        return self._locked(lambda fh: self._replay(fh).get(key))

    def _do_wait(self, keys, seconds):
        deadline = None if seconds is None else time.monotonic() + seconds
        delay = 0.001
        while True:
            data = self._locked(self._replay)
            if all(k in data for k in keys):
                return
            if deadline is not None and time.monotonic() > deadline:
                raise _timeout_error(keys, seconds)
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def add(self, key, amount):
        def op(fh):
            cur = self._replay(fh).get(key)
            n = (0 if cur is None else _parse_int(key, cur)) + int(amount)
            self._write(fh, key, str(n).encode())
            return n
        return self._locked(op)

    def append(self, key, value):
        value = _to_bytes(value)
        self._locked(lambda fh: self._write(fh, key, self._replay(fh).get(key, b"") + value))

    def compare_set(self, key, expected_value, desired_value):
        expected, desired = _to_bytes(expected_value), _to_bytes(desired_value)

        def op(fh):
            cur = self._replay(fh).get(key)
            if (cur is None and expected == b"") or cur == expected:
                self._write(fh, key, desired)
                return desired
            return expected if cur is None else cur
        return self._locked(op)

    def delete_key(self, key):
        def op(fh):
            if key not in self._replay(fh):
                return False
            self._write(fh, key, None)
            return True
        return self._locked(op)

    def num_keys(self):
        return self._locked(lambda fh: len(self._replay(fh)))


# ------------------------------------------------------------------------------------------------ PrefixStore
class PrefixStore(Store):
    """PrefixStore(prefix, store): every key becomes "prefix/key" in the underlying store."""

    def __init__(self, prefix, store):
        super().__init__(store.timeout)
        self.underlying_store = store
        self._prefix = prefix

    def _k(self, key):
        return f"{self._prefix}/{key}"

    @property
    def timeout(self):
        return self.underlying_store.timeout

    def set_timeout(self, timeout):
        self.underlying_store.set_timeout(timeout)

    def set(self, key, value):
        self.underlying_store.set(self._k(key), value)

    def get(self, key):
        return self.underlying_store.get(self._k(key))

    def _do_get(self, key):
        return self.underlying_store._do_get(self._k(key))

    def wait(self, keys, timeout=None):
        keys = [keys] if isinstance(keys, str) else list(keys)
        self.underlying_store.wait([self._k(k) for k in keys], timeout)

    def check(self, keys):
        return self.underlying_store.check([self._k(k) for k in keys])

    def add(self, key, amount):
        return self.underlying_store.add(self._k(key), amount)

    def append(self, key, value):
        self.underlying_store.append(self._k(key), value)

    def compare_set(self, key, expected_value, desired_value):
        return self.underlying_store.compare_set(self._k(key), expected_value, desired_value)

    def delete_key(self, key):
        return self.underlying_store.delete_key(self._k(key))

    def num_keys(self):
        return self.underlying_store.num_keys()

    def _local_address(self):
        inner = getattr(self.underlying_store, "_local_address", None)
        return inner() if inner is not None else None
