"""The transport under flambeau's CPU process groups: one TCP connection between every pair of ranks.

Built once per init_process_group from the store: every rank listens on an ephemeral port, publishes
"host:port" under "mesh/<rank>", connects to every lower rank and accepts every higher one (so each pair
has exactly one connection). A message is a key (a short string naming the collective and its sequence
number, or a point-to-point channel and tag) and a payload of bytes.

Why a receiver thread per peer: it drains its socket all the time into a mailbox, so a send never blocks
for want of a matching receive, and two ranks that send each other large tensors at the same moment cannot
deadlock. Receives take messages from the mailbox in the order they arrived for (source, key); a receive
posted earlier gets an earlier message even if it waits later (irecv's order, as PyTorch's), because each
receive draws its ticket when it is posted.

A peer whose connection closes (its process exited or crashed) is marked dead, and every receive waiting
on it raises DistBackendError naming the rank, instead of hanging until the timeout.
"""
import socket
import struct
import threading
import time

from .store import DistBackendError, DistNetworkError

_HEADER = struct.Struct("<IQ")  # key length, payload length
_HELLO = struct.Struct("<4sI")  # magic, rank of the connecting process
_MAGIC = b"FLMB"


def _recv_exact_into(sock, view):
    got, n = 0, len(view)
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise ConnectionError("connection closed")
        got += k


def _recv_exact(sock, n):
    buf = bytearray(n)
    _recv_exact_into(sock, memoryview(buf))
    return buf


def _local_host(store):
    """An address of this host the other ranks can reach: the one that reaches the TCPStore server, or
    the host name's address (FileStore, HashStore), or the loopback."""
    addr = getattr(store, "_local_address", lambda: None)()
    if addr:
        return addr
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


class Mesh:
    """Connections from this rank to all the others, and the mailbox of what they sent."""

    def __init__(self, store, rank, world_size, timeout):
        self.rank = rank
        self.world_size = world_size
        self.timeout = timeout
        self._socks = {}
        self._send_locks = {r: threading.Lock() for r in range(world_size)}
        self._cond = threading.Condition()
        self._arrived = {}   # (src, key) -> {index: payload}
        self._n_arrived = {}  # (src, key) -> number of messages arrived
        self._n_posted = {}   # (src, key) -> number of receives posted (tickets drawn)
        self._dead = {}       # src -> why its connection ended
        self._closing = False
        self._threads = []
        if world_size > 1:
            self._connect(store)

    # --------------------------------------------------------------------------------- set-up
    def _connect(self, store):
        host = _local_host(store)
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("", 0))
        listener.listen(self.world_size)
        port = listener.getsockname()[1]
        store.set(f"mesh/{self.rank}", f"{host}:{port}")
        n_accept = self.world_size - 1 - self.rank
        accepted, errors = {}, []

        def accept_all():
            try:
                listener.settimeout(self.timeout)
                while len(accepted) < n_accept:
                    sock, _ = listener.accept()
                    sock.settimeout(min(self.timeout, 30.0))  # a stray connection must not hold up the others
                    try:
                        magic, peer = _HELLO.unpack(_recv_exact(sock, _HELLO.size))
                    except (OSError, ConnectionError):
                        sock.close()
                        continue
                    if magic != _MAGIC or not (self.rank < peer < self.world_size) or peer in accepted:
                        sock.close()  # not one of ours
                        continue
                    accepted[peer] = sock
            except Exception as e:  # noqa: BLE001 - reported by the caller
                errors.append(e)

        acceptor = threading.Thread(target=accept_all, name="flambeau-dist-accept", daemon=True)
        acceptor.start()
        try:
            for peer in range(self.rank):
                addr = store.get(f"mesh/{peer}").decode()
                phost, pport = addr.rsplit(":", 1)
                self._socks[peer] = self._dial(phost, int(pport), peer)
        finally:
            acceptor.join()
            listener.close()
        if errors:
            raise DistNetworkError(f"init_process_group: rank {self.rank} did not get connections from ranks "
                                   f"{sorted(set(range(self.rank + 1, self.world_size)) - set(accepted))} "
                                   f"({errors[0]})")
        self._socks.update(accepted)
        for peer, sock in self._socks.items():
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            t = threading.Thread(target=self._receive_loop, args=(peer, sock), name=f"flambeau-dist-recv{peer}",
                                 daemon=True)
            t.start()
            self._threads.append(t)

    def _dial(self, host, port, peer):
        deadline = time.monotonic() + self.timeout
        delay = 0.01
        while True:
            try:
                sock = socket.create_connection((host, port), timeout=self.timeout)
                sock.sendall(_HELLO.pack(_MAGIC, self.rank))
                return sock
            except OSError as e:
                if time.monotonic() + delay > deadline:
                    raise DistNetworkError(f"init_process_group: rank {self.rank} cannot connect to rank {peer} at "
                                           f"{host}:{port} ({e})") from None
                time.sleep(delay)
                delay = min(2 * delay, 0.5)

    # --------------------------------------------------------------------------------- traffic
    def _receive_loop(self, peer, sock):
        why = "closed the connection (its process exited)"
        try:
            while True:
                klen, plen = _HEADER.unpack(_recv_exact(sock, _HEADER.size))
                key = bytes(_recv_exact(sock, klen)).decode()
                payload = _recv_exact(sock, plen)
                with self._cond:
                    slot = (peer, key)
                    i = self._n_arrived.get(slot, 0)
                    self._n_arrived[slot] = i + 1
                    self._arrived.setdefault(slot, {})[i] = payload
                    self._cond.notify_all()
        except (ConnectionError, OSError, struct.error) as e:
            if not isinstance(e, ConnectionError):
                why = f"connection failed ({e})"
        try:
            sock.close()
        except OSError:
            pass
        with self._cond:
            self._dead[peer] = why
            self._cond.notify_all()

    def send(self, dst, key, payload):
        """Sends payload (bytes-like) to rank dst under key. Returns when the bytes are handed to the socket."""
        if dst == self.rank:
            raise DistBackendError(f"rank {self.rank} cannot send to itself")
        sock = self._socks.get(dst)
        if sock is None:
            raise DistBackendError(f"rank {self.rank}: no connection to rank {dst} (world size {self.world_size})")
        k = key.encode()
        view = memoryview(payload).cast("B")
        with self._send_locks[dst]:
            try:
                sock.sendall(_HEADER.pack(len(k), view.nbytes) + k)
                if view.nbytes:
                    sock.sendall(view)
            except OSError as e:
                raise DistBackendError(f"rank {self.rank}: sending to rank {dst} failed ({e}); did rank {dst} "
                                       "exit?") from None

    def post(self, src, key):
        """A ticket for the next message from src under key (taken in posting order)."""
        with self._cond:
            slot = (src, key)
            i = self._n_posted.get(slot, 0)
            self._n_posted[slot] = i + 1
            return (slot, i)

    def take(self, ticket, what="receive"):
        """The payload of a ticket from post(), waiting up to the timeout."""
        (src, key), i = ticket
        deadline = time.monotonic() + self.timeout
        with self._cond:
            while True:
                box = self._arrived.get((src, key))
                if box is not None and i in box:
                    payload = box.pop(i)
                    if not box:
                        del self._arrived[(src, key)]
                    return payload
                self._check_alive(src, what)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DistBackendError(f"{what}: rank {self.rank} timed out after {self.timeout:g}s waiting for "
                                           f"rank {src}")
                self._cond.wait(min(left, 1.0))

    def ready(self, ticket):
        (src, key), i = ticket
        with self._cond:
            box = self._arrived.get((src, key))
            return box is not None and i in box

    def recv(self, src, key, what="receive"):
        return self.take(self.post(src, key), what)

    def recv_any(self, srcs, key, what="recv"):
        """(src, payload) of the first message under key from any of srcs not claimed by a posted receive."""
        deadline = time.monotonic() + self.timeout
        with self._cond:
            while True:
                for src in srcs:
                    slot = (src, key)
                    i = self._n_posted.get(slot, 0)
                    box = self._arrived.get(slot)
                    if box is not None and i in box:
                        self._n_posted[slot] = i + 1
                        payload = box.pop(i)
                        if not box:
                            del self._arrived[slot]
                        return src, payload
                dead = [s for s in srcs if s in self._dead]
                if dead and len(dead) == len(srcs):
                    self._check_alive(dead[0], what)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DistBackendError(f"{what}: rank {self.rank} timed out after {self.timeout:g}s waiting for a "
                                           "message from any rank")
                self._cond.wait(min(left, 1.0))

    def _check_alive(self, src, what):
        why = self._dead.get(src)
        if why is not None:
            if self._closing:
                raise DistBackendError(f"{what}: the process group was destroyed")
            raise DistBackendError(f"{what}: rank {src} {why}; rank {self.rank} cannot complete the operation")

    def close(self):
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        # A half-close (FIN after everything sent), not a reset: a peer still reading gets every byte
        # sent before it, then end-of-stream. The receive loop closes each socket when the peer half-closes too.
        for sock in self._socks.values():
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        self._socks.clear()
