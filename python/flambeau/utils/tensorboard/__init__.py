"""flambeau.utils.tensorboard: torch.utils.tensorboard's SummaryWriter, writing TensorBoard event
files itself (TFRecord framing, hand-encoded protobufs, PNG via zlib), so it needs only numpy.
Viewing the logs still needs TensorBoard: `tensorboard --logdir runs`."""
from .writer import FileWriter, SummaryWriter

__all__ = ["FileWriter", "SummaryWriter"]
