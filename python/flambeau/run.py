"""Runs a PyTorch script on flambeau, unchanged: `python -m flambeau.run script.py [args...]`.

The script runs as __main__ with sys.argv = [script.py, args...], and every `import torch...` in it (and in the
modules it imports) gives flambeau's module of the same path (flambeau/_torch_alias.py).
`python -m flambeau.run -m package.module [args...]` runs a module instead, as `python -m` does; a torch.* module
runs as its flambeau module (`-m torch.distributed.run` is torchrun: flambeau.distributed.run, whose workers
run under the alias too).
"""
import os
import runpy
import sys

from ._torch_alias import install_torch_alias, _real_name


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    install_torch_alias()
    if argv[0] == "-m":
        if len(argv) < 2:
            print("flambeau.run: -m needs a module name", file=sys.stderr)
            return 2
        sys.argv = argv[1:]
        # a torch.* module (torch.distributed.run: torchrun) runs as the flambeau module answering it: runpy
        # needs the module's code, which the alias's loader does not keep
        runpy.run_module(_real_name(argv[1]) or argv[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = argv
        sys.path.insert(0, os.path.dirname(os.path.abspath(argv[0])))  # as `python script.py` does
        runpy.run_path(argv[0], run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
