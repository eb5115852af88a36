"""torch.distributed.algorithms.join on flambeau's CPU backend: PyTorch's documented example (a Joinable
counter whose main hook shadows the all_reduce of ranks with more inputs), run on 3 ranks with uneven inputs;
early termination; the refusal for a non-Joinable."""
import flambeau
import flambeau.distributed as dist
import pytest
from flambeau.distributed.algorithms.join import Join, Joinable, JoinHook

from _dist_util import run_world


class CounterJoinHook(JoinHook):
    def __init__(self, counter, sync_max_count):
        self.counter, self.sync_max_count = counter, sync_max_count

    def main_hook(self):
        t = flambeau.zeros(1)
        dist.all_reduce(t)  # the joined rank's share of the others' iteration: 0

    def post_hook(self, is_last_joiner):
        self.counter.last_joiner = is_last_joiner
        if self.sync_max_count:
            m = flambeau.tensor([self.counter.max_count])
            dist.all_reduce(m, op=dist.ReduceOp.MAX)
            self.counter.max_count = int(m.item())


class Counter(Joinable):
    def __init__(self, rank):
        super().__init__()
        self.count, self.max_count, self.last_joiner = 0, 0, None

    def __call__(self):
        Join.notify_join_context(self)
        t = flambeau.ones(1)
        dist.all_reduce(t)
        self.count += int(t.item())
        self.max_count = self.count

    def join_hook(self, **kwargs):
        return CounterJoinHook(self, kwargs.get("sync_max_count", False))

    @property
    def join_device(self):
        return flambeau.device("cpu")

    @property
    def join_process_group(self):
        return dist.group.WORLD


def _uneven(rank, world):
    counter = Counter(rank)
    n = 5 + rank  # rank r has 5 + r inputs
    with Join([counter], sync_max_count=True):
        for _ in range(n):
            counter()
    # each iteration counts the ranks still iterating: sum over iterations i of #ranks with n_r > i
    expected = sum(sum(1 for r in range(world) if 5 + r > i) for i in range(n))
    assert counter.count == expected, (rank, counter.count, expected)
    assert counter.max_count == sum(sum(1 for r in range(world) if 5 + r > i) for i in range(5 + world - 1))
    assert counter.last_joiner == (rank == world - 1), (rank, counter.last_joiner)


def _early_termination(rank, world):
    counter = Counter(rank)
    with pytest.raises(RuntimeError, match="exhausted"):
        with Join([counter], throw_on_early_termination=True):
            for _ in range(3 + rank):
                counter()


def test_uneven_inputs_are_shadowed_on_three_ranks():
    run_world(_uneven, 3)


def test_throw_on_early_termination():
    run_world(_early_termination, 2)


def test_refuses_non_joinables_and_empty():
    with pytest.raises(ValueError, match="at least one joinable"):
        Join([])
    with pytest.raises(TypeError, match="not a Joinable"):
        Join([flambeau.nn.Linear(2, 2)])
