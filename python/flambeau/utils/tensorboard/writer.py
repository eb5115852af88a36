"""SummaryWriter and FileWriter: PyTorch's torch.utils.tensorboard API, writing TensorBoard event
files with no dependency beyond numpy (no tensorboard, protobuf or PIL package needed to write).

Same directory layout, file names, tags and plugin metadata as PyTorch, so TensorBoard shows a
flambeau run and a PyTorch run the same way.
"""
import os
import socket
import time
from datetime import datetime

import numpy as np

from . import _summary as S
from ._convert import make_np
from ._embedding import write_embedding
from . import _proto as P
from ._event_file import EventFileWriter, encode_event
from ._graph import graph_def

__all__ = ["FileWriter", "SummaryWriter"]

_SESSION_LOG_START = 1


class FileWriter:
    """Writes `Summary` messages (encoded bytes, as built by this package) into one event file."""

    def __init__(self, log_dir, max_queue=10, flush_secs=120, filename_suffix=""):
        self.event_writer = EventFileWriter(str(log_dir), max_queue, flush_secs, filename_suffix)

    def get_logdir(self):
        return self.event_writer.get_logdir()

    def add_event(self, event, step=None, walltime=None):
        """Append an `Event`: encoded bytes are written as they are; a protobuf message (from the
        tensorboard package, if the caller has it) gets PyTorch's treatment: wall_time set to
        `walltime` or now, step to `step` when given, then serialized."""
        if hasattr(event, "SerializeToString"):
            event.wall_time = time.time() if walltime is None else walltime
            if step is not None:
                event.step = int(step)
            event = event.SerializeToString()
        self.event_writer.add_event(event)

    def add_summary(self, summary, global_step=None, walltime=None):
        """Wrap a `Summary` (encoded bytes, or a protobuf message) in an `Event` stamped with
        `walltime` (default now) and `global_step`."""
        if hasattr(summary, "SerializeToString"):
            summary = summary.SerializeToString()
        self.add_event(encode_event(time.time() if walltime is None else walltime, global_step,
                                    summary=summary))

    def flush(self):
        self.event_writer.flush()

    def close(self):
        self.event_writer.close()

    def reopen(self):
        self.event_writer.reopen()


class SummaryWriter:
    """Writes entries to event files in `log_dir` for TensorBoard (see torch.utils.tensorboard.SummaryWriter).

    log_dir defaults to runs/<Mon DD_HH-MM-SS>_<hostname><comment>. `purge_step`: after a crash at
    step T+X and a restart at T, events with step >= T are hidden by TensorBoard. Pending events are
    written when `max_queue` of them wait, every `flush_secs` seconds, and on flush()/close().
    """

    def __init__(self, log_dir=None, comment="", purge_step=None, max_queue=10, flush_secs=120,
                 filename_suffix=""):
        if not log_dir:
            stamp = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", stamp + "_" + socket.gethostname() + comment)
        self.log_dir = log_dir
        self.purge_step = purge_step
        self.max_queue = max_queue
        self.flush_secs = flush_secs
        self.filename_suffix = filename_suffix
        self.file_writer = self.all_writers = None
        self._get_file_writer()
        self.default_bins = S.DEFAULT_BINS

    def _get_file_writer(self):
        """The writer of log_dir itself, created again if close() was called."""
        if self.all_writers is None or self.file_writer is None:
            self.file_writer = FileWriter(self.log_dir, self.max_queue, self.flush_secs,
                                          self.filename_suffix)
            self.all_writers = {self.file_writer.get_logdir(): self.file_writer}
            if self.purge_step is not None:
                # A version record at the purge step, then SessionLog START: TensorBoard drops the
                # earlier events whose step is >= this one.
                step, self.purge_step = self.purge_step, None
                now = time.time()
                self.file_writer.add_event(encode_event(now, step, file_version="brain.Event:2"))
                self.file_writer.add_event(encode_event(now, step, session_log_status=_SESSION_LOG_START))
        return self.file_writer

    def get_logdir(self):
        return self.log_dir

    # ---------------------------------------------------------------- scalars

    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None, new_style=False,
                   double_precision=False):
        summary = S.scalar(tag, scalar_value, new_style=new_style, double_precision=double_precision)
        self._get_file_writer().add_summary(summary, global_step, walltime)

    def add_scalars(self, main_tag, tag_scalar_dict, global_step=None, walltime=None):
        """One scalar per key, each in its own run directory <log_dir>/<main_tag>_<key> (slashes of
        main_tag replaced by '_'), all under the tag `main_tag`, so TensorBoard draws them on one chart."""
        walltime = time.time() if walltime is None else walltime
        base = self._get_file_writer().get_logdir()
        for tag, value in tag_scalar_dict.items():
            path = base + "/" + main_tag.replace("/", "_") + "_" + tag
            fw = self.all_writers.get(path)
            if fw is None:
                fw = self.all_writers[path] = FileWriter(path, self.max_queue, self.flush_secs,
                                                         self.filename_suffix)
            fw.add_summary(S.scalar(main_tag, value), global_step, walltime)

    def add_tensor(self, tag, tensor, global_step=None, walltime=None):
        self._get_file_writer().add_summary(S.tensor_proto(tag, tensor), global_step, walltime)

    # ---------------------------------------------------------------- histograms

    def add_histogram(self, tag, values, global_step=None, bins="tensorflow", walltime=None,
                      max_bins=None):
        """`bins`: 'tensorflow' (TensorBoard's exponential buckets) or anything numpy.histogram takes."""
        if isinstance(bins, str) and bins == "tensorflow":
            bins = self.default_bins
        self._get_file_writer().add_summary(S.histogram(tag, values, bins, max_bins=max_bins),
                                            global_step, walltime)

    def add_histogram_raw(self, tag, min, max, num, sum, sum_squares, bucket_limits, bucket_counts,
                          global_step=None, walltime=None):
        if len(bucket_limits) != len(bucket_counts):
            raise ValueError(f"add_histogram_raw: '{tag}' has {len(bucket_limits)} bucket_limits but "
                             f"{len(bucket_counts)} bucket_counts; they must be the same length")
        self._get_file_writer().add_summary(
            S.histogram_raw(tag, min, max, num, sum, sum_squares, bucket_limits, bucket_counts),
            global_step, walltime)

    # ---------------------------------------------------------------- images, figures, audio

    def add_image(self, tag, img_tensor, global_step=None, walltime=None, dataformats="CHW"):
        """Float images are taken in [0, 1], uint8 images in [0, 255]; CHW, HWC, HW, ... layouts."""
        self._get_file_writer().add_summary(S.image(tag, img_tensor, dataformats=dataformats),
                                            global_step, walltime)

    def add_images(self, tag, img_tensor, global_step=None, walltime=None, dataformats="NCHW"):
        """A batch shown as one grid image, 8 images a row."""
        self._get_file_writer().add_summary(S.image(tag, img_tensor, dataformats=dataformats),
                                            global_step, walltime)

    def add_figure(self, tag, figure, global_step=None, close=True, walltime=None):
        """Render a matplotlib figure (or a list of them) with the Agg canvas and log it as an image."""
        try:
            import matplotlib.pyplot as plt
            from matplotlib.backends.backend_agg import FigureCanvasAgg
        except ImportError as e:
            raise ImportError("add_figure: needs matplotlib, which is not installed") from e

        def render(fig):
            canvas = FigureCanvasAgg(fig)
            canvas.draw()
            w, h = fig.canvas.get_width_height()
            rgba = np.frombuffer(canvas.buffer_rgba(), dtype=np.uint8).reshape(h, w, 4)
            if close:
                plt.close(fig)
            return np.moveaxis(rgba[:, :, :3], 2, 0)

        if isinstance(figure, list):
            self.add_image(tag, np.stack([render(f) for f in figure]), global_step, walltime,
                           dataformats="NCHW")
        else:
            self.add_image(tag, render(figure), global_step, walltime, dataformats="CHW")

    def add_video(self, tag, vid_tensor, global_step=None, fps=4, walltime=None):
        """(N, T, C, H, W) clips, floats in [0, 1] or uint8, shown as one looping GIF (the N clips
        on a grid); at most 256 colours are kept exactly, more are mapped to a 6x7x6 colour cube."""
        self._get_file_writer().add_summary(S.video(tag, vid_tensor, fps), global_step, walltime)

    def add_audio(self, tag, snd_tensor, global_step=None, sample_rate=44100, walltime=None):
        """Mono signal in [-1, 1], shape (L,) or (1, L); stored as a 16-bit WAV."""
        self._get_file_writer().add_summary(S.audio(tag, snd_tensor, sample_rate=sample_rate),
                                            global_step, walltime)

    # ---------------------------------------------------------------- text, hparams

    def add_text(self, tag, text_string, global_step=None, walltime=None):
        self._get_file_writer().add_summary(S.text(tag, text_string), global_step, walltime)

    def add_hparams(self, hparam_dict, metric_dict, hparam_domain_discrete=None, run_name=None,
                    global_step=None):
        """Log one hyperparameter set and its metrics for the HParams dashboard, in the sub-run
        <log_dir>/<run_name> (default: the current unix time)."""
        if type(hparam_dict) is not dict or type(metric_dict) is not dict:
            raise TypeError("add_hparams: hparam_dict and metric_dict should be dictionaries, got "
                            f"{type(hparam_dict).__name__} and {type(metric_dict).__name__}")
        exp, ssi, sei = S.hparams(hparam_dict, metric_dict, hparam_domain_discrete)
        if not run_name:
            run_name = str(time.time())
        logdir = os.path.join(self._get_file_writer().get_logdir(), run_name)
        with SummaryWriter(log_dir=logdir) as w:
            for summary in (exp, ssi, sei):
                w.file_writer.add_summary(summary, global_step)
            for k, v in metric_dict.items():
                w.add_scalar(k, v, global_step)

    # ---------------------------------------------------------------- precision-recall curves

    def add_pr_curve(self, tag, labels, predictions, global_step=None, num_thresholds=127,
                     weights=None, walltime=None):
        """Binary `labels` and `predictions` in [0, 1]; thresholds capped at 127 (as PyTorch does)."""
        self._get_file_writer().add_summary(
            S.pr_curve(tag, labels, predictions, num_thresholds, weights), global_step, walltime)

    def add_pr_curve_raw(self, tag, true_positive_counts, false_positive_counts,
                         true_negative_counts, false_negative_counts, precision, recall,
                         global_step=None, num_thresholds=127, weights=None, walltime=None):
        self._get_file_writer().add_summary(
            S.pr_curve_raw(tag, true_positive_counts, false_positive_counts, true_negative_counts,
                           false_negative_counts, precision, recall, num_thresholds),
            global_step, walltime)

    def add_mesh(self, tag, vertices, colors=None, faces=None, config_dict=None, global_step=None,
                 walltime=None):
        """A mesh or point cloud for the mesh plugin: vertices (B, N, 3), optional colors (B, N, 3)
        in 0..255 and faces (B, F, 3) of vertex indices; config_dict: three.js settings."""
        self._get_file_writer().add_summary(S.mesh(tag, vertices, colors, faces, config_dict),
                                            global_step, walltime)

    # ---------------------------------------------------------------- embedding projector

    def add_embedding(self, mat, metadata=None, label_img=None, global_step=None, tag="default",
                      metadata_header=None):
        """Points (N, D) for the projector, with optional labels (N rows, or rows of columns named by
        metadata_header) and label images (N, C, H, W) in [0, 1] shown as a sprite."""
        mat = make_np(mat)
        if label_img is not None:
            label_img = make_np(label_img)
        entry = write_embedding(self._get_file_writer().get_logdir(), mat, metadata, label_img,
                                global_step, tag, metadata_header)
        # projector_config.pbtxt lists every embedding of this writer: rewritten whole each time,
        # since a file system need not support appending
        self._projector_entries = getattr(self, "_projector_entries", []) + [entry]
        with open(os.path.join(self._get_file_writer().get_logdir(), "projector_config.pbtxt"), "wb") as f:
            f.write("".join(self._projector_entries).encode("utf-8"))

    # ---------------------------------------------------------------- custom scalar charts

    def add_custom_scalars(self, layout):
        """layout: {category: {chart title: ['Multiline', [tags]] or ['Margin', [value, lower, upper]]}}."""
        self._get_file_writer().add_summary(S.custom_scalars(layout))

    def add_custom_scalars_multilinechart(self, tags, category="default", title="untitled"):
        self.add_custom_scalars({category: {title: ["Multiline", tags]}})

    def add_custom_scalars_marginchart(self, tags, category="default", title="untitled"):
        if len(tags) != 3:
            raise ValueError(f"add_custom_scalars_marginchart: needs 3 tags, got {len(tags)}")
        self.add_custom_scalars({category: {title: ["Margin", tags]}})

    # ---------------------------------------------------------------- not available

    def _unsupported(self, method, why):
        raise NotImplementedError(f"SummaryWriter.{method} is not implemented in flambeau: {why}")

    def add_graph(self, model, input_to_model=None, verbose=False, use_strict_trace=True):
        """The model's graph for the Graphs dashboard, traced with flambeau.fx on `input_to_model`
        (a tensor or a tuple of them); module calls appear as boxes named Class[attribute].
        `use_strict_trace` has no meaning for fx tracing and is ignored."""
        if input_to_model is None:
            raise ValueError("add_graph: needs input_to_model (a tensor or a tuple of tensors) to trace the model")
        args = tuple(input_to_model) if isinstance(input_to_model, (list, tuple)) else (input_to_model,)
        graph, run_metadata = graph_def(model, args)
        if verbose:
            print(graph)
        fw = self._get_file_writer()
        now = time.time()
        fw.add_event(encode_event(now, graph_def=graph))
        fw.add_event(encode_event(now, tagged_run_metadata=(P.string_field(1, "step1")
                                                            + P.bytes_field(2, run_metadata))))

    def add_onnx_graph(self, prototxt):
        self._unsupported("add_onnx_graph", "it needs the onnx package and GraphDef conversion")




    def add_image_with_boxes(self, tag, img_tensor, box_tensor, global_step=None, walltime=None,
                             rescale=1, dataformats="CHW", labels=None):
        self._unsupported("add_image_with_boxes", "drawing boxes and labels needs a rasterizer "
                          "(PIL in PyTorch); draw them into the image and use add_image")

    # ---------------------------------------------------------------- lifetime

    def flush(self):
        if self.all_writers is None:
            return
        for w in self.all_writers.values():
            w.flush()

    def close(self):
        if self.all_writers is None:
            return  # a second close does nothing
        for w in self.all_writers.values():
            w.flush()
            w.close()
        self.file_writer = self.all_writers = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.close()
