"""What the profiler records, and how: timed ranges on the calling thread.

Every op reaches the C++ kernels through a function of the `_C` module, looked up by attribute at
call time (`_C.conv2d(...)`). While a profiler records, each of those functions is replaced in the
module by a timing wrapper (`patch_C`), and put back when the last profiler stops: profiling costs
nothing when it is off, and the events are the kernel calls themselves ("flambeau::conv2d"), which
play the part of PyTorch's "aten::" events. `record_function` ranges, the autograd engine's
per-node ranges and "Optimizer.step#..." nest around them on a per-thread stack, which gives each
event its parent and hence its self time.
"""
import itertools
import os
import sys
import threading
import time
import types

from .. import _C

_now_ns = time.perf_counter_ns


class RawEvent:
    """One timed range: name, start/end in ns, thread, input shapes, parent event, kind."""

    __slots__ = ("name", "start_ns", "end_ns", "thread", "shapes", "parent", "kind", "children_ns", "mem",
                 "children_mem", "seq")

    def __init__(self, name, kind, thread, shapes, parent, seq):
        self.name = name
        self.kind = kind            # "op", "user_annotation", "autograd", "optimizer", "step"
        self.thread = thread
        self.shapes = shapes
        self.parent = parent
        self.start_ns = 0
        self.end_ns = 0
        self.children_ns = 0        # time spent in directly nested events (for self time)
        self.mem = 0                # bytes allocated minus freed while the event ran (profile_memory)
        self.children_mem = 0
        self.seq = seq


class _State(threading.local):
    """The current thread's stack of open events."""

    def __init__(self):
        self.stack = []


class Recorder:
    """The one recording session (flambeau, like PyTorch, allows one profiler at a time)."""

    def __init__(self):
        self.active = False         # a profiler is between start() and stop()
        self.recording = False      # and its schedule says to keep events now
        self.record_shapes = False
        self.profile_memory = False
        self.events = []
        self.owner = None
        self._local = _State()
        # Event numbers: next() on an itertools.count is one C call, atomic under the GIL (no lock per event).
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    # -------------------------------------------------------------- ranges
    def begin(self, name, kind, args=None):
        local = self._local
        stack = local.stack
        parent = stack[-1] if stack else None
        shapes = input_shapes(args) if (self.record_shapes and args is not None) else None
        ev = RawEvent(name, kind, threading.get_ident(), shapes, parent, next(self._seq))
        stack.append(ev)
        if self.profile_memory:
            ev.mem = -allocated_bytes()
        ev.start_ns = _now_ns()
        return ev

    def end(self, ev):
        ev.end_ns = _now_ns()
        if self.profile_memory:
            ev.mem += allocated_bytes()
        stack = self._local.stack
        # Ranges close in LIFO order on one thread; a range left open by an exception inside it is
        # closed here too rather than corrupting its parents.
        while stack:
            top = stack.pop()
            if top is ev:
                break
        parent = ev.parent
        if parent is not None:
            parent.children_ns += ev.end_ns - ev.start_ns
            parent.children_mem += ev.mem
        if self.recording:
            with self._lock:
                self.events.append(ev)


RECORDER = Recorder()


def allocated_bytes():
    """Bytes the CPU allocator has handed out and not taken back (for profile_memory)."""
    return _C.cpu_allocator_stats().get("allocated_bytes", 0)


def input_shapes(args):
    """PyTorch's "Input Shapes": a tensor's sizes, a list of tensors' sizes, [] for anything else."""
    out = []
    for a in args:
        shape = getattr(a, "shape", None)
        if shape is not None and not isinstance(a, type):
            out.append(list(shape))
        elif isinstance(a, (list, tuple)) and a and getattr(a[0], "shape", None) is not None:
            out.append([list(x.shape) for x in a])
        else:
            out.append([])
    return out


# ------------------------------------------------------------------ the _C patch
# Most calls look the kernel up on the module at call time (`_C.sum(...)`), but the hot paths bind
# it once when their module is imported: tables of kernels (conv's _KERNELS), Function classes
# holding theirs (`_cfn`), closures of generated ops (`cfn` in _make_unary), local aliases
# (`_act_relu = _C.act_relu`). patch_C therefore also rebinds those references, found by walking
# flambeau's modules: their globals, the classes and functions defined there (class attributes,
# closure cells) and the tuples/lists/dicts they hold, a few levels deep. Every change is logged and
# undone by unpatch_C, so the code runs exactly as before once profiling stops.
_ORIGINALS = {}                     # name -> original function
_UNDO = []                          # (kind, target, key, old value)
_SKIP = {"cpu_allocator_stats"}     # the profiler's own probe


def _timed(name, fn):
    label = "flambeau::" + name
    rec = RECORDER

    def timed(*args, **kwargs):
        if not rec.recording:
            return fn(*args, **kwargs)
        ev = rec.begin(label, "op", args)
        try:
            return fn(*args, **kwargs)
        finally:
            rec.end(ev)

    timed.__name__ = name
    timed.__wrapped__ = fn
    return timed


class _Rebinder:
    """Replaces references to the original kernels by their wrappers wherever flambeau keeps them."""

    def __init__(self, table):
        self.table = table          # id(original) -> wrapper
        self.seen = set()

    def value(self, v, depth):
        """v's replacement (v itself when unchanged); containers are fixed in place or rebuilt."""
        w = self.table.get(id(v))
        if w is not None:
            return w
        if depth <= 0:
            return v
        t = type(v)
        if t is tuple:
            items = [self.value(x, depth - 1) for x in v]
            if any(a is not b for a, b in zip(items, v)):
                return tuple(items)
        elif t is list:
            for i, x in enumerate(v):
                y = self.value(x, depth - 1)
                if y is not x:
                    _UNDO.append(("item", v, i, x))
                    v[i] = y
        elif t is dict:
            for k, x in list(v.items()):
                y = self.value(x, depth - 1)
                if y is not x:
                    _UNDO.append(("item", v, k, x))
                    v[k] = y
        elif isinstance(v, types.FunctionType):
            self.function(v, depth)
        elif isinstance(v, type):
            self.cls(v, depth)
        return v

    def _ours(self, obj):
        mod = getattr(obj, "__module__", None) or ""
        return mod == "flambeau" or (mod.startswith("flambeau.") and not mod.startswith("flambeau.profiler"))

    def function(self, f, depth):
        if id(f) in self.seen or not self._ours(f):
            return
        self.seen.add(id(f))
        for cell in f.__closure__ or ():
            try:
                x = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            y = self.value(x, depth - 1)
            if y is not x:
                _UNDO.append(("cell", cell, None, x))
                cell.cell_contents = y

    def cls(self, c, depth):
        if id(c) in self.seen or not self._ours(c):
            return
        self.seen.add(id(c))
        for k, x in list(vars(c).items()):
            if isinstance(x, staticmethod):
                inner = x.__func__
                y = self.value(inner, depth - 1)
                if y is not inner:
                    _UNDO.append(("attr", c, k, x))
                    setattr(c, k, staticmethod(y))
                continue
            y = self.value(x, depth - 1)
            if y is not x:
                _UNDO.append(("attr", c, k, x))
                setattr(c, k, y)

    def module(self, m):
        for k, x in list(vars(m).items()):
            y = self.value(x, 4)
            if y is not x:
                _UNDO.append(("attr", m, k, x))
                setattr(m, k, y)


def patch_C():
    """Replaces every function of `_C`, and every reference flambeau keeps to one, by its timing
    wrapper (idempotent)."""
    if _ORIGINALS:
        return
    table = {}
    for name in dir(_C):
        if name.startswith("_") or name in _SKIP:
            continue
        fn = getattr(_C, name)
        if type(fn).__name__ != "builtin_function_or_method":
            continue
        _ORIGINALS[name] = fn
        table[id(fn)] = _timed(name, fn)
    for name, fn in _ORIGINALS.items():
        setattr(_C, name, table[id(fn)])
    rebinder = _Rebinder(table)
    for mod_name, m in list(sys.modules.items()):
        if m is None or m is _C or not (mod_name == "flambeau" or mod_name.startswith("flambeau.")):
            continue
        if mod_name.startswith("flambeau.profiler"):
            continue
        rebinder.module(m)


def unpatch_C():
    while _UNDO:
        kind, target, key, old = _UNDO.pop()
        if kind == "attr":
            setattr(target, key, old)
        elif kind == "item":
            target[key] = old
        else:
            target.cell_contents = old
    for name, fn in _ORIGINALS.items():
        setattr(_C, name, fn)
    _ORIGINALS.clear()


PID = os.getpid()
