"""torch.distributed.launch, PyTorch's deprecated launcher: flambeau.distributed.run (torchrun) that also
passes `--local-rank=<n>` to each worker's script, right after the script's name, unless --use-env is given
(then the script reads LOCAL_RANK, as with torchrun).

    python -m flambeau.distributed.launch --nproc_per_node=2 train.py [args...]
"""
import sys
import warnings

from .run import get_args_parser, run

__all__ = ["main"]


def main(args=None):
    parser = get_args_parser()
    parser.prog = "flambeau.distributed.launch"
    parser.add_argument("--use-env", "--use_env", dest="use_env", action="store_true",
                        help="do not pass --local-rank: the script reads LOCAL_RANK from the environment")
    parsed = parser.parse_args(args)
    warnings.warn("torch.distributed.launch is deprecated (as in PyTorch): use flambeau.distributed.run "
                  "(torchrun), which sets LOCAL_RANK instead of passing --local-rank", FutureWarning, stacklevel=2)
    parsed._pass_local_rank = not parsed.use_env
    try:
        return run(parsed)
    except ValueError as e:
        sys.stderr.write(f"flambeau.distributed.launch: {e}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
