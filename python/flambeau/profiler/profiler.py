"""flambeau.profiler.profile (torch.profiler's API) and record_function.

    with flambeau.profiler.profile(record_shapes=True) as prof:
        with flambeau.profiler.record_function("model_inference"):
            model(x)
    print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=10))

Recorded on the CPU: every kernel call ("flambeau::<op>"), record_function ranges, the autograd
engine's nodes ("autograd::engine::evaluate_function: <Node>"), optimizer steps
("Optimizer.step#<Class>.step") and, under a schedule, "ProfilerStep#<n>". Device (CUDA) kernel
times are not recorded: asking for ProfilerActivity.CUDA warns and records the CPU side.
"""
import enum
import functools
import os
import socket
import time
import warnings

from ._events import EventList, FunctionEvent
from ._recorder import RECORDER, patch_C, unpatch_C


class ProfilerActivity(enum.Enum):
    CPU = 0
    CUDA = 2
    XPU = 3
    MTIA = 4
    PrivateUse1 = 5

    @property
    def name(self):  # torch prints ProfilerActivity.CPU
        return self._name_


def supported_activities():
    return {ProfilerActivity.CPU}


class ProfilerAction(enum.Enum):
    NONE = 0
    WARMUP = 1
    RECORD = 2
    RECORD_AND_SAVE = 3


def schedule(*, wait, warmup, active, repeat=0, skip_first=0, skip_first_wait=0):
    """PyTorch's schedule: skip `skip_first` steps, then cycles of `wait` idle, `warmup` traced but
    discarded, `active` recorded steps (the last one RECORD_AND_SAVE, which calls on_trace_ready);
    `repeat` cycles (0: until the end)."""
    if wait < 0 or warmup < 0 or active <= 0 or repeat < 0 or skip_first < 0:
        raise AssertionError("Invalid profiler schedule arguments")
    if warmup == 0:
        warnings.warn("Profiler won't be using warmup, this can skew profiler results")

    def schedule_fn(step):
        if step < skip_first:
            return ProfilerAction.NONE
        step -= skip_first
        if skip_first_wait:  # the first cycle starts without its wait
            step += wait
        cycle = wait + warmup + active
        if repeat > 0 and step / cycle >= repeat:
            return ProfilerAction.NONE
        mod = step % cycle
        if mod < wait:
            return ProfilerAction.NONE
        if mod < wait + warmup:
            return ProfilerAction.WARMUP
        return ProfilerAction.RECORD if mod < cycle - 1 else ProfilerAction.RECORD_AND_SAVE

    return schedule_fn


def _default_schedule(_step):
    return ProfilerAction.RECORD


def tensorboard_trace_handler(dir_name, worker_name=None, use_gzip=False):
    """An on_trace_ready handler writing `<worker>.<ms>.pt.trace.json[.gz]` into dir_name, the files
    TensorBoard's profiler plugin reads."""
    def handler(prof):
        os.makedirs(dir_name, exist_ok=True)
        worker = worker_name or f"{socket.gethostname()}_{os.getpid()}"
        name = f"{worker}.{int(time.time() * 1000)}.pt.trace.json"
        path = os.path.join(dir_name, name)
        prof.export_chrome_trace(path)
        if use_gzip:
            import gzip
            import shutil
            with open(path, "rb") as src, gzip.open(path + ".gz", "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.remove(path)
    return handler


class record_function:
    """A named range in the profile (a context manager and a decorator); free when nothing records."""

    def __init__(self, name, args=None):
        self.name = name
        self.args = args
        self._ev = None

    def __enter__(self):
        if RECORDER.recording:
            self._ev = RECORDER.begin(self.name, "user_annotation")
        return self

    def __exit__(self, *exc):
        if self._ev is not None:
            RECORDER.end(self._ev)
            self._ev = None
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with record_function(self.name, self.args):
                return fn(*args, **kwargs)
        return wrapper


class _ProfileBase:
    """What both profile classes share: start/stop, the recorded events and their summaries."""

    def _start_recording(self, record_shapes, profile_memory):
        if RECORDER.active:
            raise RuntimeError("Profiler is already enabled on this thread (flambeau runs one profiler at a time)")
        RECORDER.active = True
        RECORDER.record_shapes = record_shapes
        RECORDER.profile_memory = profile_memory
        RECORDER.events = []
        RECORDER.owner = self
        self._origin_ns = time.perf_counter_ns()
        patch_C()

    def _stop_recording(self):
        RECORDER.recording = False
        RECORDER.active = False
        RECORDER.owner = None
        unpatch_C()

    def _take_events(self):
        """The events recorded so far, as FunctionEvents linked to their parents (the buffer is emptied)."""
        raw = sorted(RECORDER.events, key=lambda r: r.start_ns)
        RECORDER.events = []
        by_raw = {}
        out = []
        for r in raw:
            ev = FunctionEvent(r, self._origin_ns)
            by_raw[id(r)] = ev
            out.append(ev)
        for r, ev in zip(raw, out):
            parent = by_raw.get(id(r.parent)) if r.parent is not None else None
            if parent is not None:
                ev.cpu_parent = parent
                parent.cpu_children.append(ev)
        return out


class profile(_ProfileBase):
    """torch.profiler.profile: records while active (as a context manager or between start() and
    stop()); with a schedule, prof.step() marks each iteration."""

    def __init__(self, *, activities=None, schedule=None, on_trace_ready=None, record_shapes=False,
                 profile_memory=False, with_stack=False, with_flops=False, with_modules=False,
                 experimental_config=None, execution_trace_observer=None, acc_events=False, use_cuda=None,
                 custom_trace_id_callback=None):
        acts = set(activities) if activities is not None else supported_activities()
        if use_cuda:
            acts.add(ProfilerActivity.CUDA)
        if acts - {ProfilerActivity.CPU}:
            warnings.warn("flambeau's profiler records CPU time only: device (CUDA) kernel times are not recorded")
        if with_flops:
            warnings.warn("flambeau's profiler does not count FLOPs (with_flops is ignored)")
        self.activities = acts
        self.schedule = schedule or _default_schedule
        self.on_trace_ready = on_trace_ready
        self.record_shapes = record_shapes
        self.profile_memory = profile_memory
        self.with_stack = with_stack
        self.step_num = 0
        self._events = []          # the events of the last saved cycle
        self._cycle = []           # events of the current active cycle
        self._step_ev = None
        self._running = False
        self._action = ProfilerAction.NONE

    # ------------------------------------------------------------- lifetime
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        self._start_recording(self.record_shapes, self.profile_memory)
        self._running = True
        self._cycle = []
        self._enter_action(self.schedule(self.step_num))
        self._open_step()

    def stop(self):
        if not self._running:
            return
        self._close_step()
        if self._action in (ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE):
            self._save_cycle()
        self._stop_recording()
        self._running = False

    def step(self):
        """Marks the end of one iteration; moves the schedule on."""
        if not self._running:
            return
        self._close_step()
        prev = self._action
        self.step_num += 1
        nxt = self.schedule(self.step_num)
        if prev == ProfilerAction.RECORD_AND_SAVE or (
                prev == ProfilerAction.RECORD and nxt not in (ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE)):
            self._save_cycle()
        self._enter_action(nxt)
        self._open_step()

    # ------------------------------------------------------------- internals
    def _enter_action(self, action):
        self._action = action
        recording = action in (ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE)
        if not recording:
            RECORDER.events = []  # warm-up events are traced and discarded
        RECORDER.recording = action != ProfilerAction.NONE

    def _open_step(self):
        if self.schedule is not _default_schedule and RECORDER.recording:
            self._step_ev = RECORDER.begin(f"ProfilerStep#{self.step_num}", "step")

    def _close_step(self):
        if self._step_ev is not None:
            RECORDER.end(self._step_ev)
            self._step_ev = None
        if self._action not in (ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE):
            RECORDER.events = []
        else:
            self._cycle.extend(self._take_events())

    def _save_cycle(self):
        self._events = self._cycle
        self._cycle = []
        if self.on_trace_ready is not None:
            self.on_trace_ready(self)

    # ------------------------------------------------------------- results
    def events(self):
        return EventList(self._events, self.profile_memory, with_shapes=False)

    def key_averages(self, group_by_input_shape=False, group_by_stack_n=0, group_by_overload_name=False):
        if group_by_input_shape and not self.record_shapes:
            raise AssertionError("record_shapes=True must be set to group by input shape")
        return self.events().key_averages(group_by_input_shape, group_by_stack_n, group_by_overload_name)

    def export_chrome_trace(self, path):
        return self.events().export_chrome_trace(path)

    def export_stacks(self, path, metric="self_cpu_time_total"):
        raise NotImplementedError("flambeau's profiler does not record Python stacks (export_stacks)")

    @property
    def self_cpu_time_total(self):
        return self.events().self_cpu_time_total
