"""Worker functions for tests/test_shared_memory.py: importable by name, so spawned processes can run them.
Each works with whichever library it is given the module name of ("flambeau" or "torch"), so one scenario
runs under both."""
import importlib


def add_in_place(t, value):
    t.add_(value)


def fill_from_queue(q, done):
    t = q.get()
    t.fill_(7)
    done.put(tuple(t.shape))


def describe(t, out):
    out.put((type(t).__name__, tuple(t.shape), tuple(t.stride()), t.storage_offset(), bool(t.requires_grad),
             t.is_shared(), t.float().sum().item()))


def sgd_steps(lib_name, model, steps, seed):
    """`steps` SGD steps of the shared model on a fixed batch (Hogwild, run one process after another)."""
    lib = importlib.import_module(lib_name)
    x = lib.linspace(-1, 1, 64).reshape(16, 4) * (seed + 1)  # the same data under both libraries
    y = x.sum(1, keepdim=True).sin()
    opt = lib.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
