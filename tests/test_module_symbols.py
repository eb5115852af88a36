"""The compiled module keeps any statically linked runtime to itself.

GCC links libstdc++.a into the module where its toolchain offers no shared libstdc++ to link (seen on
the GPU machine's image, GCC 13), and cudart_static always goes in with CUDA. Exported, those symbols
were interposed by the libstdc++.so.6 that numpy or torch had loaded first: half the locale machinery
bound to each copy, and every C++ exception whose message formats a number segfaulted the interpreter.
CMakeLists.txt links with --exclude-libs,ALL; this checks the dynamic symbol table and the behaviour.
"""
import shutil
import subprocess
import sys

import pytest

import flambeau
from flambeau import _C

# Definitions that only a statically linked C++ or CUDA runtime would bring.
_RUNTIME_PREFIXES = ("__cxa_", "__gxx_personality", "_ZNSt6locale", "_ZSt4cout", "_ZNSo", "cudaMalloc",
                     "cudaLaunch", "cudaGetDevice", "__cudart")


@pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("nm") is None, reason="needs nm (ELF)")
def test_module_exports_no_runtime_symbols():
    out = subprocess.run(["nm", "-D", "--defined-only", _C.__file__], capture_output=True, text=True, check=True)
    names = [line.split()[-1] for line in out.stdout.splitlines() if line.strip()]
    assert "PyInit__C" in names
    leaked = sorted(n for n in names if n.startswith(_RUNTIME_PREFIXES))
    assert not leaked, f"runtime symbols exported by {_C.__file__}: {leaked[:10]}"


def test_cpp_exception_formatting_a_number_reaches_python():
    # The message holds a double printed by std::ostream: the path that crashed.
    with pytest.raises(ValueError, match=r"dropout: dropout probability has to be between 0 and 1, but got -0.1"):
        _C.dropout(flambeau.ones(3)._impl, -0.1, None)
    with pytest.raises(RuntimeError, match="parameter numbers = 2 and channel size = 3"):
        flambeau.nn.functional.prelu(flambeau.ones(2, 3), flambeau.ones(2))
