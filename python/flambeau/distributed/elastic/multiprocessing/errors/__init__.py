"""@record, as torchrun scripts write it: an exception leaving the decorated function is written (message,
traceback, time) as JSON to the file named by TORCHELASTIC_ERROR_FILE, which the launcher sets for each
worker and prints in its failure report, then raised again. Without the variable it only re-raises."""
import functools
import json
import os
import time
import traceback

__all__ = ["record", "ChildFailedError", "ErrorHandler"]


class ChildFailedError(Exception):
    """A worker of the launcher failed: name is the script, failures maps global rank to its description."""

    def __init__(self, name, failures):
        self.name = name
        self.failures = failures
        super().__init__(f"{name} FAILED: {failures}")


class ErrorHandler:
    def initialize(self):
        pass

    def record_exception(self, e):
        path = os.environ.get("TORCHELASTIC_ERROR_FILE")
        if not path:
            return
        tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))
        data = {"message": {"message": f"{type(e).__name__}: {e}",
                            "extraInfo": {"py_callstack": tb, "timestamp": str(int(time.time()))}}}
        try:
            with open(path, "w") as fh:
                json.dump(data, fh)
        except OSError:
            pass


def record(fn=None, error_handler=None):
    """Decorator: records an exception leaving fn for the launcher (see the module docstring)."""
    handler = error_handler or ErrorHandler()

    def wrap(f):
        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            handler.initialize()
            try:
                return f(*args, **kwargs)
            except SystemExit as e:
                if e.code not in (None, 0):
                    handler.record_exception(e)
                raise
            except Exception as e:
                handler.record_exception(e)
                raise
        return wrapper

    return wrap(fn) if fn is not None else wrap
