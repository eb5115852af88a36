"""torch.autograd.profiler: the older profiler API, on flambeau.profiler's recorder.

    with flambeau.autograd.profiler.profile(record_shapes=True) as prof:
        model(x)
    print(prof.key_averages().table(sort_by="self_cpu_time_total"))
"""
import warnings

from ..profiler.profiler import _ProfileBase, record_function  # noqa: F401
from ..profiler._events import EventList, FunctionEvent, FunctionEventAvg  # noqa: F401
from ..profiler._recorder import RECORDER


class profile(_ProfileBase):
    """Records CPU time of every op between __enter__ and __exit__ (use_cuda / use_device: device
    times are not recorded, a warning says so)."""

    def __init__(self, enabled=True, *, use_cuda=False, use_device=None, record_shapes=False, with_flops=False,
                 profile_memory=False, with_stack=False, with_modules=False, use_kineto=False, use_cpu=True,
                 experimental_config=None, acc_events=False, custom_trace_id_callback=None):
        self.enabled = enabled
        self.record_shapes = record_shapes
        self.profile_memory = profile_memory
        if enabled and (use_cuda or use_device not in (None, "cpu")):
            warnings.warn("flambeau's profiler records CPU time only: device (CUDA) kernel times are not recorded")
        if enabled and with_flops:
            warnings.warn("flambeau's profiler does not count FLOPs (with_flops is ignored)")
        self.function_events = None
        self._entered = False

    def __enter__(self):
        if not self.enabled:
            return self
        if self._entered:
            raise RuntimeError("Profiler context manager is not reentrant")
        self._entered = True
        self._start_recording(self.record_shapes, self.profile_memory)
        RECORDER.recording = True
        return self

    def __exit__(self, *exc):
        if not self.enabled:
            return False
        RECORDER.recording = False
        events = self._take_events()
        self._stop_recording()
        self.function_events = EventList(events, self.profile_memory, with_shapes=False)
        return False

    def _check_finished(self):
        if self.function_events is None:
            raise RuntimeError("Profiler didn't finish running")

    def events(self):
        self._check_finished()
        return self.function_events

    def key_averages(self, group_by_input_shape=False, group_by_stack_n=0, group_by_overload_name=False):
        self._check_finished()
        if group_by_input_shape and not self.record_shapes:
            raise AssertionError("record_shapes=True must be set to group by input shape")
        return self.function_events.key_averages(group_by_input_shape, group_by_stack_n, group_by_overload_name)

    def table(self, sort_by=None, row_limit=100, max_src_column_width=75, max_name_column_width=55,
              max_shapes_column_width=80, header=None, top_level_events_only=False):
        self._check_finished()
        return self.function_events.table(sort_by=sort_by, row_limit=row_limit, header=header,
                                          max_name_column_width=max_name_column_width,
                                          top_level_events_only=top_level_events_only)

    def export_chrome_trace(self, path):
        self._check_finished()
        return self.function_events.export_chrome_trace(path)

    def total_average(self):
        self._check_finished()
        return self.function_events.total_average()

    @property
    def self_cpu_time_total(self):
        self._check_finished()
        return self.function_events.self_cpu_time_total

    def __str__(self):
        return self.table() if self.function_events is not None else "<unfinished profiler>"
