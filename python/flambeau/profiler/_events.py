"""The profiler's results: FunctionEvent, their averages by name (key_averages) and PyTorch's table.

Times are in microseconds as in PyTorch (`cpu_time_total`, `self_cpu_time_total`, `cpu_time` the
average); memory in bytes. flambeau records CPU time only, so every device/CUDA time is 0 (the
attributes exist because scripts sort or print by them).
"""
import json
import os

from ._recorder import PID


class FunctionEvent:
    """One recorded range (an op, a record_function block, an autograd node, an optimizer step)."""

    def __init__(self, raw, origin_ns):
        self.id = raw.seq
        self.name = raw.name
        self.key = raw.name
        self.kind = raw.kind
        self.thread = raw.thread
        self.input_shapes = raw.shapes if raw.shapes is not None else []
        self.time_range_start = (raw.start_ns - origin_ns) / 1000.0
        self.cpu_time_total = (raw.end_ns - raw.start_ns) / 1000.0
        self.self_cpu_time_total = max(self.cpu_time_total - raw.children_ns / 1000.0, 0.0)
        self.cpu_memory_usage = raw.mem
        self.self_cpu_memory_usage = raw.mem - raw.children_mem
        self.count = 1
        self.cpu_parent = None
        self.cpu_children = []
        self.is_user_annotation = raw.kind in ("user_annotation", "step")
        self.device_type = "cpu"

    @property
    def cpu_time(self):
        return self.cpu_time_total

    @property
    def time_range_end(self):
        return self.time_range_start + self.cpu_time_total

    # No device activity is recorded.
    device_time = device_time_total = self_device_time_total = 0.0
    cuda_time = cuda_time_total = self_cuda_time_total = 0.0
    device_memory_usage = self_device_memory_usage = 0
    cuda_memory_usage = self_cuda_memory_usage = 0
    flops = 0

    def __repr__(self):
        return (f"<FunctionEvent id={self.id} name={self.name} cpu_time={_format_time(self.cpu_time_total)} "
                f"self_cpu_time={_format_time(self.self_cpu_time_total)} input_shapes={self.input_shapes}>")


class FunctionEventAvg:
    """The events of one key (name, and input shapes when grouped by them) added together."""

    def __init__(self, key, input_shapes=None):
        self.key = key
        self.input_shapes = input_shapes if input_shapes is not None else []
        self.count = 0
        self.cpu_time_total = 0.0
        self.self_cpu_time_total = 0.0
        self.cpu_memory_usage = 0
        self.self_cpu_memory_usage = 0
        self.is_user_annotation = False
        self.node_id = 0

    def add(self, ev):
        self.count += ev.count
        self.cpu_time_total += ev.cpu_time_total
        self.self_cpu_time_total += ev.self_cpu_time_total
        self.cpu_memory_usage += ev.cpu_memory_usage
        self.self_cpu_memory_usage += ev.self_cpu_memory_usage
        self.is_user_annotation = ev.is_user_annotation
        return self

    @property
    def cpu_time(self):
        return self.cpu_time_total / self.count if self.count else 0.0

    device_time = device_time_total = self_device_time_total = 0.0
    cuda_time = cuda_time_total = self_cuda_time_total = 0.0
    device_memory_usage = self_device_memory_usage = 0
    cuda_memory_usage = self_cuda_memory_usage = 0
    flops = 0

    def __repr__(self):
        return (f"<FunctionEventAvg key={self.key} self_cpu_time={_format_time(self.self_cpu_time_total)} "
                f"cpu_time={_format_time(self.cpu_time)} input_shapes={self.input_shapes}>")


class EventList(list):
    """A list of events with PyTorch's summaries: key_averages(), table(), total_average(),
    export_chrome_trace()."""

    def __init__(self, events=(), profile_memory=False, with_shapes=False):
        super().__init__(events)
        self._profile_memory = profile_memory
        self._with_shapes = with_shapes

    @property
    def self_cpu_time_total(self):
        return sum(e.self_cpu_time_total for e in self)

    def key_averages(self, group_by_input_shape=False, group_by_stack_n=0, group_by_overload_name=False):
        groups = {}
        for ev in self:
            shapes = str(ev.input_shapes) if group_by_input_shape else None
            k = (ev.key, shapes)
            avg = groups.get(k)
            if avg is None:
                avg = groups[k] = FunctionEventAvg(ev.key, ev.input_shapes if group_by_input_shape else None)
            avg.add(ev)
        return EventList(groups.values(), self._profile_memory, with_shapes=group_by_input_shape)

    def total_average(self):
        total = FunctionEventAvg("Total")
        for ev in self:
            total.add(ev)
        total.key = "Total"
        return total

    def table(self, sort_by=None, row_limit=100, max_src_column_width=75, max_name_column_width=55,
              max_shapes_column_width=80, header=None, top_level_events_only=False, time_unit=None):
        return _build_table(self, sort_by, row_limit, max_name_column_width, max_shapes_column_width, header,
                            top_level_events_only, time_unit)

    def export_chrome_trace(self, path):
        """Writes the events in the Chrome trace-event format (chrome://tracing, Perfetto, TensorBoard)."""
        trace = []
        for ev in self:
            if not isinstance(ev, FunctionEvent):
                raise RuntimeError("export_chrome_trace: needs the raw events, not key_averages()")
            args = {}
            if ev.input_shapes:
                args["Input Dims"] = ev.input_shapes
            if ev.cpu_memory_usage:
                args["CPU Mem"] = ev.cpu_memory_usage
            trace.append({"ph": "X", "cat": "user_annotation" if ev.is_user_annotation else "cpu_op",
                          "name": ev.name, "pid": PID, "tid": ev.thread, "ts": ev.time_range_start,
                          "dur": ev.cpu_time_total, "args": args})
        dirname = os.path.dirname(os.fspath(path))
        if dirname:
            os.makedirs(dirname, exist_ok=True)
        with open(path, "w") as f:
            json.dump({"schemaVersion": 1, "displayTimeUnit": "ms", "traceEvents": trace}, f)
        return path


def _format_time(us, unit=None):
    if unit == "s" or (unit is None and us >= 1e6):
        return f"{us / 1e6:.3f}s"
    if unit == "ms" or (unit is None and us >= 1e3):
        return f"{us / 1e3:.3f}ms"
    return f"{us:.3f}us"


def _format_memory(nbytes):
    kb, mb, gb = 1024, 1024 ** 2, 1024 ** 3
    if abs(nbytes) >= gb:
        return f"{nbytes / gb:.2f} Gb"
    if abs(nbytes) >= mb:
        return f"{nbytes / mb:.2f} Mb"
    if abs(nbytes) >= kb:
        return f"{nbytes / kb:.2f} Kb"
    return f"{int(nbytes)} b"


_SORT_KEYS = {"cpu_time", "cuda_time", "device_time", "cpu_time_total", "cuda_time_total", "device_time_total",
              "self_cpu_time_total", "self_cuda_time_total", "self_device_time_total", "count",
              "cpu_memory_usage", "cuda_memory_usage", "device_memory_usage", "self_cpu_memory_usage",
              "self_cuda_memory_usage", "self_device_memory_usage", "flops"}


def _build_table(events, sort_by, row_limit, name_width, shapes_width, header, top_level_only, time_unit):
    """PyTorch's profiler table: Name, Self CPU %, Self CPU, CPU total %, CPU total, CPU time avg,
    [CPU Mem, Self CPU Mem,] # of Calls [, Input Shapes], then "Self CPU time total"."""
    if not events:
        return ""
    rows = list(events)
    if top_level_only:
        rows = [e for e in rows if getattr(e, "cpu_parent", None) is None]
    if sort_by is not None:
        if sort_by not in _SORT_KEYS:
            raise AttributeError(f"table: unknown sort key {sort_by!r} (one of {sorted(_SORT_KEYS)})")
        rows.sort(key=lambda e: getattr(e, sort_by), reverse=True)
    if row_limit is not None and row_limit > 0:
        rows = rows[:row_limit]
    # Percentages are of the whole recording's self time, as PyTorch's.
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    name_w = min(max([len(e.key) for e in events] + [4]) + 4, name_width)
    headers = ["Name", "Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg"]
    if events._profile_memory:
        headers += ["CPU Mem", "Self CPU Mem"]
    headers.append("# of Calls")
    shapes_w = 0
    if events._with_shapes:
        shapes_w = min(max([len(str(e.input_shapes)) for e in events] + [12]) + 2, shapes_width)
        headers.append("Input Shapes")
    widths = [name_w] + [12] * (len(headers) - 1 - (1 if shapes_w else 0)) + ([shapes_w] if shapes_w else [])

    def line(cells):
        out = []
        for c, w in zip(cells, widths):
            c = str(c)
            if len(c) > w:
                c = c[:w - 3] + "..."
            out.append(c.rjust(w))
        return "  ".join(out) + "  "

    sep = "  ".join("-" * w for w in widths) + "  "
    lines = []
    if header is not None:
        lines += ["=" * len(sep), header]
    lines += [sep, line(headers), sep]
    for e in rows:
        cells = [e.key, f"{100.0 * e.self_cpu_time_total / total:.2f}%", _format_time(e.self_cpu_time_total, time_unit),
                 f"{100.0 * e.cpu_time_total / total:.2f}%", _format_time(e.cpu_time_total, time_unit),
                 _format_time(e.cpu_time, time_unit)]
        if events._profile_memory:
            cells += [_format_memory(e.cpu_memory_usage), _format_memory(e.self_cpu_memory_usage)]
        cells.append(e.count)
        if shapes_w:
            cells.append(str(e.input_shapes))
        lines.append(line(cells))
    lines.append(sep)
    lines.append(f"Self CPU time total: {_format_time(total, time_unit)}")
    return "\n".join(lines) + "\n"
