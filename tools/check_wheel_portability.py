"""Does a built flambeau._C (or every extension module in a wheel) meet the manylinux2014 policy
(manylinux_2_17_x86_64), the floor that pip and auditwheel use?

    python tools/check_wheel_portability.py python/flambeau/_C*.so
    python tools/check_wheel_portability.py dist/flambeau-*.whl
    python tools/check_wheel_portability.py _C.so --loader /old/glibc/lib/x86_64-linux-gnu

Reports every versioned symbol the module takes from a system library above the policy's limits
(GLIBC 2.17, GLIBCXX 3.4.19, CXXABI 1.3.7, GCC 4.8.0), every DT_NEEDED library outside the policy's
list, every strong undefined symbol without a version that no system library would provide (an
OpenMP entry point left for a libgomp that is not there, say; Python's own C API, Py* and _Py*, is what
the interpreter provides) and every OpenMP entry point the module exports. Exit status 1 on any violation. Pure-Python ELF reading: no objdump needed.

--loader DIR: also load the module with the dynamic loader and C library found in DIR (an older glibc,
for instance one unpacked from a distribution's libc6 package) the way `ldd -r` does, every symbol bound
now, and report what that loader cannot resolve apart from Python's C API.
"""
import argparse
import glob
import os
import re
import struct
import subprocess
import sys
import tempfile
import zipfile

# auditwheel's manylinux2014 policy (x86_64): highest symbol version per namespace, and the libraries a
# wheel may need from the system. The loader itself is on every glibc system (the module needs it for
# __tls_get_addr).
MAX_VERSIONS = {"GLIBC": (2, 17), "GLIBCXX": (3, 4, 19), "CXXABI": (1, 3, 7), "GCC": (4, 8, 0)}
EXTRA_VERSIONS = {"CXXABI_TM_1"}
ALLOWED_NEEDED = {
    "libgcc_s.so.1", "libstdc++.so.6", "libm.so.6", "libdl.so.2", "librt.so.1", "libc.so.6",
    "libnsl.so.1", "libutil.so.1", "libpthread.so.0", "libresolv.so.2", "libX11.so.6", "libXext.so.6",
    "libXrender.so.1", "libICE.so.6", "libSM.so.6", "libGL.so.1", "libgobject-2.0.so.0",
    "libgthread-2.0.so.0", "libglib-2.0.so.0", "ld-linux-x86-64.so.2",
}
PYTHON_API = re.compile(r"^_?Py")

SHT_DYNSYM, SHT_DYNAMIC, SHT_GNU_VERNEED, SHT_GNU_VERSYM = 11, 6, 0x6FFFFFFE, 0x6FFFFFFF
DT_NEEDED = 1
STB_WEAK = 2


class ElfInfo:
    def __init__(self):
        self.needed = []
        self.undefined = []  # (name, version or None, weak)
        self.exported = []  # defined dynamic symbols


def read_elf(data):
    """DT_NEEDED and the undefined dynamic symbols with their required versions, from an x86-64 ELF."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError("not a 64-bit little-endian ELF file")
    (e_machine,) = struct.unpack_from("<H", data, 18)
    if e_machine != 62:
        raise ValueError(f"not an x86-64 ELF file (e_machine {e_machine})")
    e_shoff, = struct.unpack_from("<Q", data, 0x28)
    e_shentsize, e_shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = []
    for i in range(e_shnum):
        sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, sh_link, sh_info, sh_align, sh_entsize = \
            struct.unpack_from("<IIQQQQIIQQ", data, e_shoff + i * e_shentsize)
        sections.append((sh_type, sh_offset, sh_size, sh_link, sh_info, sh_entsize))

    def string(sec_index, off):
        base = sections[sec_index][1] + off
        return data[base:data.index(b"\0", base)].decode()

    info = ElfInfo()
    versions = {}  # version index -> name, from .gnu.version_r
    dynsym = versym = None
    for idx, (sh_type, off, size, link, n_info, entsize) in enumerate(sections):
        if sh_type == SHT_DYNAMIC:
            for pos in range(off, off + size, 16):
                tag, val = struct.unpack_from("<qQ", data, pos)
                if tag == 0:
                    break
                if tag == DT_NEEDED:
                    info.needed.append(string(link, val))
        elif sh_type == SHT_GNU_VERNEED:
            pos = off
            for _ in range(n_info):
                vn_version, vn_cnt, vn_file, vn_aux, vn_next = struct.unpack_from("<HHIII", data, pos)
                apos = pos + vn_aux
                for _ in range(vn_cnt):
                    vna_hash, vna_flags, vna_other, vna_name, vna_next = struct.unpack_from("<IHHII", data, apos)
                    versions[vna_other] = string(link, vna_name)
                    apos += vna_next
                pos += vn_next
        elif sh_type == SHT_DYNSYM:
            dynsym = (off, size, link, entsize)
        elif sh_type == SHT_GNU_VERSYM:
            versym = off
    if dynsym is not None:
        off, size, link, entsize = dynsym
        for i in range(1, size // entsize):
            st_name, st_info, st_other, st_shndx, st_value, st_size = struct.unpack_from("<IBBHQQ", data, off + i * entsize)
            if st_shndx != 0:  # defined here
                info.exported.append(string(link, st_name))
                continue
            ver = None
            if versym is not None:
                (vidx,) = struct.unpack_from("<H", data, versym + 2 * i)
                ver = versions.get(vidx & 0x7FFF)
            info.undefined.append((string(link, st_name), ver, (st_info >> 4) == STB_WEAK))
    return info


def version_violation(ver):
    if ver in EXTRA_VERSIONS:
        return False
    m = re.fullmatch(r"([A-Z]+)_([0-9.]+)", ver)
    if m is None or m.group(1) not in MAX_VERSIONS:
        return True  # a namespace the policy does not allow at all (GOMP_*, OMP_*, ...)
    return tuple(int(x) for x in m.group(2).split(".")) > MAX_VERSIONS[m.group(1)]


def check_elf(data):
    """Violations (list of strings) and the highest version used per namespace."""
    info = read_elf(data)
    problems = []
    for lib in info.needed:
        if lib not in ALLOWED_NEEDED:
            problems.append(f"DT_NEEDED {lib}: not in the manylinux2014 list of system libraries")
    highest = {}
    for name, ver, weak in sorted(info.undefined):
        if ver is not None:
            m = re.fullmatch(r"([A-Z]+)_([0-9.]+)", ver)
            if m:
                key, num = m.group(1), tuple(int(x) for x in m.group(2).split("."))
                highest[key] = max(highest.get(key, num), num)
            if version_violation(ver):
                known = ver.split("_")[0] in MAX_VERSIONS
                problems.append(f"{name}@{ver}: " + ("above the manylinux2014 limit" if known
                                                      else "a library outside the manylinux2014 policy"))
        elif not weak and not PYTHON_API.match(name):
            problems.append(f"{name}: undefined without a version, no system library provides it")
    for name in info.exported:
        if re.match(r"^(GOMP_|omp_|kmp_|__kmp)", name):
            problems.append(f"{name}: an OpenMP entry point exported: it would interpose the OpenMP runtime "
                            "of other libraries in the process (PyTorch's)")
    return problems, highest


def check_with_loader(path, loader_dir):
    """What the loader and C library in loader_dir cannot resolve, all symbols bound at load time."""
    loaders = sorted(glob.glob(os.path.join(loader_dir, "ld-linux-x86-64.so.2")) +
                     glob.glob(os.path.join(loader_dir, "ld-2.*.so")))
    if not loaders:
        return [f"no ld-linux-x86-64.so.2 in {loader_dir}"]
    env = dict(os.environ, LD_TRACE_LOADED_OBJECTS="1", LD_BIND_NOW="1", LD_WARN="1")
    env.pop("LD_LIBRARY_PATH", None)
    out = subprocess.run([loaders[0], "--library-path", loader_dir, os.path.abspath(path)], env=env,
                         capture_output=True, text=True)
    text = out.stdout + out.stderr
    problems = []
    for line in text.splitlines():
        m = re.search(r"undefined symbol: (\S+)", line)
        if m and PYTHON_API.match(m.group(1)):
            continue
        if m or "not found" in line or "error" in line.lower():
            problems.append(f"loader {loaders[0]}: {line.strip()}")
    return problems


def modules(path):
    """(name, bytes) of each ELF extension module in path: a .so, or the .so files of a wheel."""
    if path.endswith(".whl"):
        with zipfile.ZipFile(path) as wheel:
            for name in wheel.namelist():
                if re.search(r"\.so(\.[0-9]+)*$", name):
                    yield name, wheel.read(name)
    else:
        with open(path, "rb") as f:
            yield path, f.read()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="+", help="_C*.so files or wheels")
    ap.add_argument("--loader", metavar="DIR", help="also load with the ld.so/libc of this directory")
    args = ap.parse_args(argv)
    failed = False
    for path in args.paths:
        for name, data in modules(path):
            problems, highest = check_elf(data)
            if args.loader:
                if path.endswith(".whl"):
                    with tempfile.NamedTemporaryFile(suffix=".so") as tmp:
                        tmp.write(data)
                        tmp.flush()
                        problems += check_with_loader(tmp.name, args.loader)
                else:
                    problems += check_with_loader(path, args.loader)
            summary = ", ".join(f"{k}_{'.'.join(map(str, v))}" for k, v in sorted(highest.items()))
            if problems:
                failed = True
                print(f"{name}: NOT manylinux2014 ({len(problems)} problems; highest versions: {summary})")
                for p in problems:
                    print(f"  {p}")
            else:
                print(f"{name}: manylinux2014 (manylinux_2_17_x86_64) OK; highest versions: {summary}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
