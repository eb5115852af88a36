"""Autograd anomaly mode: detect_anomaly, set_detect_anomaly (PyTorch's torch.autograd.anomaly_mode).

While it is on:
- every graph node recorded keeps the stack of the forward call that created it, and an error
  raised in that node's backward is preceded by a warning showing it ("Error detected in
  SqrtBackward0. Traceback of forward call that caused the error: ...");
- with check_nan, a backward that returns a gradient holding NaN raises
  RuntimeError("Function 'SqrtBackward0' returned nan values in its 0th output.").

The state is process-wide, as in PyTorch. Off, it costs one flag test per recorded node and one
per backward pass: the flag lives in autograd.function (read where nodes are created) and the
engine reads it once per pass.
"""
import os
import traceback
import warnings

from . import function as _function

__all__ = ["detect_anomaly", "set_detect_anomaly"]

_check_nan = True


def is_anomaly_enabled():
    return _function._anomaly_enabled


def is_anomaly_check_nan_enabled():
    return _check_nan


def set_anomaly_enabled(enabled, check_nan=True):
    """Switches anomaly mode (torch.set_anomaly_enabled)."""
    global _check_nan
    _function._anomaly_enabled = bool(enabled)
    _check_nan = bool(check_nan)


class detect_anomaly:
    """Context manager (and decorator) turning anomaly detection on for its block; warns, as
    PyTorch does, that it slows the program down."""

    def __init__(self, check_nan=True):
        self.prev = is_anomaly_enabled()
        self.check_nan = check_nan
        self.prev_check_nan = is_anomaly_check_nan_enabled()
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the runtime and should only be "
                      "enabled for debugging.", stacklevel=2)

    def __enter__(self):
        set_anomaly_enabled(True, self.check_nan)

    def __exit__(self, *args):
        set_anomaly_enabled(self.prev, self.prev_check_nan)

    def __call__(self, func):
        import functools

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with self.__class__(self.check_nan):
                return func(*args, **kwargs)
        return wrapper


class set_detect_anomaly:
    """set_detect_anomaly(mode, check_nan=True): takes effect immediately; used as a context
    manager, restores the previous state on exit."""

    def __init__(self, mode, check_nan=True):
        self.prev = is_anomaly_enabled()
        self.prev_check_nan = is_anomaly_check_nan_enabled()
        set_anomaly_enabled(mode, check_nan)

    def __enter__(self):
        pass

    def __exit__(self, *args):
        set_anomaly_enabled(self.prev, self.prev_check_nan)


_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _warn_forward_trace(node):
    """The warning PyTorch's engine gives before re-raising an error from `node`'s backward."""
    name = node.name()
    trace = node.__dict__.get("_fwd_trace")
    if trace is None:
        msg = (f"Error detected in {name}. No forward pass information available. Enable detect anomaly during "
               "forward pass for more information.")
    else:
        # flambeau's own frames are left out: the user's code is what created the node.
        frames = [f for f in trace if not os.path.abspath(f.filename).startswith(_PKG_DIR + os.sep)]
        msg = (f"Error detected in {name}. Traceback of forward call that caused the error:\n"
               + "".join(traceback.format_list(frames or trace)).rstrip("\n"))
    warnings.warn(msg, UserWarning, stacklevel=4)
