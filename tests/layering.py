#!/usr/bin/env python3
"""The layers of docs/design.md, Part II, checked on the sources and on core's
library:

- kernels/ includes only kernels/ and the standard library (and Random123);
- core (src/core/, include/saddlescope/) includes no backend header and no
  LAPACK, BLAS or CUDA header;
- each backend (src/cpu/, src/cuda/) and the backend selection
  (src/backends/) include only public headers (saddlescope/...), kernels/ and
  their own folder, never a private core header (src/core/...);
- core's archive calls no LAPACK, BLAS or CUDA function and no backend
  factory (its undefined symbols, by nm), and links no such library.

usage: layering.py SOURCE_DIR CORE_ARCHIVE NM CORE_LINK_LIBRARIES
(CORE_LINK_LIBRARIES: saddlescope_core's LINK_LIBRARIES joined by '|').
"""
import pathlib
import re
import subprocess
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)
LIBRARY_HEADERS = re.compile(r"^(cblas|lapacke|lapack|openblas|f77blas|cublas|cusolver|cuda|sleef)",
                             re.I)
# Undefined symbols core must not have: LAPACK/BLAS, CUDA libraries, and the
# functions the targets above core define (the backends and their selection).
FORBIDDEN_SYMBOLS = re.compile(
    r"^(cblas_|LAPACKE_|openblas_|[sd](gemm|gemv|gesv|syevd|stev|geqrf|orgqr|sytrf)_?$|cuda|cublas|"
    r"cusolver|saddlescope::(make_cpu_backend|make_cuda_backend|cuda_available|"
    r"cuda_unavailable_reason|select_backend|cpu_host_linalg)\b|saddlescope::c(pu|uda)_detail::)")
FORBIDDEN_LIBRARIES = re.compile(r"lapack|blas|cuda|cusolver|sleef|saddlescope_(cpu|cuda|backends)",
                                 re.I)


def includes(path):
    return INCLUDE.findall(path.read_text(encoding="utf-8", errors="replace"))


def sources(root, *folders):
    for folder in folders:
        for p in sorted((root / folder).rglob("*")):
            if p.suffix in (".hpp", ".cpp", ".cu", ".cuh", ".h"):
                yield p


def main():
    root, archive, nm, core_links = (pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3],
                                     sys.argv[4])
    problems = []

    for p in sources(root, "kernels"):
        for kind, name in includes(p):
            if kind == '"' and (name.startswith("src/") or "saddlescope/" in name):
                problems.append(f"{p.relative_to(root)}: kernels/ includes {name}")

    for p in sources(root, "src/core", "include/saddlescope"):
        for kind, name in includes(p):
            if kind == "<" and LIBRARY_HEADERS.match(name):
                problems.append(f"{p.relative_to(root)}: core includes <{name}>")
            if kind == '"' and re.match(r"(\.\./)*src/(cpu|cuda|backends)/", name):
                problems.append(f'{p.relative_to(root)}: core includes "{name}"')

    for folder in ("src/cpu", "src/cuda", "src/backends"):
        for p in sources(root, folder):
            for kind, name in includes(p):
                if kind != '"':
                    continue
                if not (name.startswith("saddlescope/") or name.startswith("kernels/") or
                        name.startswith(folder + "/")):
                    problems.append(f'{p.relative_to(root)}: includes "{name}" (a backend '
                                    "includes only saddlescope/, kernels/ and its own folder)")

    undefined = subprocess.run([nm, "-C", "--undefined-only", archive], check=True,
                               capture_output=True, text=True).stdout
    for line in undefined.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "U":
            symbol = " ".join(parts[1:])
            if FORBIDDEN_SYMBOLS.match(symbol):
                problems.append(f"{archive}: core calls {symbol}")

    for lib in filter(None, core_links.split("|")):
        if FORBIDDEN_LIBRARIES.search(lib):
            problems.append(f"saddlescope_core links {lib}")

    for p in problems:
        print(p)
    print(f"layering: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
