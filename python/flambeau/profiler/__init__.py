"""flambeau.profiler: where the time of a script goes, op by op (torch.profiler's API, CPU time).
How events are recorded: _recorder.py; the results and PyTorch's table: _events.py."""
from .profiler import (profile, record_function, schedule, tensorboard_trace_handler, ProfilerActivity,
                       ProfilerAction, supported_activities)
from ._events import EventList, FunctionEvent, FunctionEventAvg

__all__ = ["profile", "record_function", "schedule", "tensorboard_trace_handler", "ProfilerActivity",
           "ProfilerAction", "supported_activities"]
