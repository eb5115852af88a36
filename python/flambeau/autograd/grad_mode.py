"""Whether operations record an autograd graph: no_grad, enable_grad, set_grad_enabled.

The flag is thread-local, as in PyTorch, so a DataLoader thread running under no_grad does not
switch recording off for the training loop. Every op reads it, so it is one attribute on a
threading.local subclass whose class attribute gives new threads the default (enabled).
"""
import functools
import inspect
import threading

from .. import _C, _tensor


class _GradState(threading.local):
    enabled = True
    inference = False  # inside an enabled inference_mode block (is_inference_mode_enabled)
    # (pack, unpack) of the innermost autograd.graph.saved_tensors_hooks block, or None; read by
    # Function's save path only when a node saves tensors.
    saved_hooks = None
    saved_hooks_disabled = None  # error message while disable_saved_tensors_hooks is active
    # no_grad inside a forward-AD level: `enabled` stays True so that ops carrying tangents still
    # reach the Function machinery, which records no reverse graph while this is set.
    fw_gate = False


_state = _GradState()
_fw_open = [False]  # a forward-AD level is open (forward_ad.py): turning grad off only sets fw_gate


def is_grad_enabled():
    return _state.enabled and not _state.fw_gate


def _set_mode(enabled, counted=True):
    """Grad mode on or off; off inside a forward-AD level keeps the ops' gate open (see fw_gate).
    counted=False: a switch of the library's own (backward), not counted by _switch."""
    switch = _switch if counted else _set_state
    if enabled or not _fw_open[0]:
        switch(enabled, False)
    else:
        switch(True, True)


def _set_state(enabled, fw_gate):
    _state.enabled = enabled
    _state.fw_gate = fw_gate


def _switch(enabled, fw_gate):
    """Sets this thread's mode, counting in _tensor._grad_off the switches from on to off (+1) and back
    (-1) that the user-facing modes make, so that views ask the thread-local mode only while some thread
    may be in one (_tensor._wrap_view: views made under no_grad are PyTorch's no_grad views). The
    library's own switches (backward, a custom Function's forward) set `_state` directly and are not
    counted: views made there are ordinary views."""
    was_off = not _state.enabled or _state.fw_gate
    _state.enabled = enabled
    _state.fw_gate = fw_gate
    off = not enabled or fw_gate
    if off is not was_off:
        _tensor._grad_off += 1 if off else -1


def _grad_off_here():
    return not _state.enabled or _state.fw_gate


def _inference_here():
    return _state.inference


_tensor._grad_off_here = _grad_off_here
_tensor._inference_here = _inference_here


def is_inference_mode_enabled():
    return _state.inference


class _DecoratorContextManager:
    """A context manager that also works as a decorator (and as @no_grad without parentheses)."""

    def __call__(self, func):
        if inspect.isclass(func):
            raise TypeError(f"{type(self).__name__} cannot decorate a class")
        if inspect.isgeneratorfunction(func):
            @functools.wraps(func)
            def gen_wrapper(*args, **kwargs):
                gen = func(*args, **kwargs)
                # Re-enter the mode around each step, so the generator's body always runs in it
                # and the caller's code between steps never does.
                with self.clone():
                    response = gen.send(None)
                while True:
                    try:
                        request = yield response
                    except GeneratorExit:
                        with self.clone():
                            gen.close()
                        raise
                    except BaseException as e:
                        with self.clone():
                            response = gen.throw(e)
                    else:
                        with self.clone():
                            try:
                                response = gen.send(request)
                            except StopIteration as stop:
                                return stop.value
            return gen_wrapper

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with self.clone():
                return func(*args, **kwargs)
        return wrapper

    def clone(self):
        return self.__class__()


class no_grad(_DecoratorContextManager):
    """Disables graph recording inside the block (results have requires_grad=False)."""

    def __new__(cls, orig_func=None):
        # `@no_grad` without parentheses passes the function straight to the constructor.
        if orig_func is not None and callable(orig_func):
            return cls()(orig_func)
        return super().__new__(cls)

    def __init__(self, orig_func=None):
        self.prev = False

    def __enter__(self):
        self.prev = (_state.enabled, _state.fw_gate)
        _set_mode(False)

    def __exit__(self, *exc):
        _switch(*self.prev)


class enable_grad(_DecoratorContextManager):
    """Enables graph recording inside the block, even within no_grad."""

    def __new__(cls, orig_func=None):
        if orig_func is not None and callable(orig_func):
            return cls()(orig_func)
        return super().__new__(cls)

    def __init__(self, orig_func=None):
        self.prev = False

    def __enter__(self):
        self.prev = (_state.enabled, _state.fw_gate)
        _set_mode(True)

    def __exit__(self, *exc):
        _switch(*self.prev)


class set_grad_enabled(_DecoratorContextManager):
    """set_grad_enabled(mode): takes effect immediately (like PyTorch), and restores on exit when
    used as a context manager."""

    def __init__(self, mode):
        if not isinstance(mode, bool):
            raise TypeError(f"set_grad_enabled(): mode must be a bool, got {type(mode).__name__}")
        self.prev = (_state.enabled, _state.fw_gate)
        self.mode = mode
        _set_mode(mode)

    def __call__(self, func):
        # Used as a decorator: undo the immediate switch made by __init__.
        _switch(*self.prev)
        return super().__call__(func)

    def __enter__(self):
        _set_mode(self.mode)

    def __exit__(self, *exc):
        _switch(*self.prev)

    def clone(self):
        return self.__class__(self.mode)


class inference_mode(no_grad):
    """no_grad, and tensors allocated inside are inference tensors (Tensor.is_inference(); views of them
    too), as in PyTorch: outside inference_mode they may not be written in place, saved for backward or
    made to require grad (clone() one to get a normal tensor). The flag lives in `_C` (per thread, like
    this module's state) because storages are allocated there; `inference_mode(False)` turns it off inside."""

    def __new__(cls, mode=True):
        if callable(mode) and not isinstance(mode, bool):
            return cls()(mode)
        return object.__new__(cls)

    def __init__(self, mode=True):
        self.prev = False
        self.prev_inference = False
        self.mode = bool(mode) if isinstance(mode, bool) else True

    def __enter__(self):
        self.prev = (_state.enabled, _state.fw_gate)
        self.prev_inference = _state.inference
        _state.inference = self.mode
        _C._set_inference_mode(self.mode)
        if self.mode:  # (forward AD too is off in inference mode, as in PyTorch)
            _switch(False, False)

    def __exit__(self, *exc):
        _switch(*self.prev)
        _state.inference = self.prev_inference
        _C._set_inference_mode(self.prev_inference)

    def clone(self):
        return self.__class__(self.mode)
