"""pytest plugin (`-p host_route_plugin`): runs the tests with every host-routed kernel call taking the
host route even for CPU tensors, through real copies (flambeau._functions.host_route._FORCE), so the
routing of each call site is checked without a GPU. Prints the kernels routed at the end.

    python -m pytest -q -p host_route_plugin tests/test_pooling3d.py ...
"""
from flambeau._functions import host_route

host_route._FORCE = True


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(f"host-routed kernels: {sorted(host_route._ROUTED)}")
