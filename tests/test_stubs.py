"""The type stubs of the Rust extension agree with the extension (mypy's stubtest)."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
from collections import defaultdict

import charrnn

PACKAGE = pathlib.Path(charrnn.__file__).parent

# What stubtest reports about any PyO3 module that is not a disagreement in names,
# parameters or defaults:
ARTIFACTS = [
    # PyO3 classes cannot be subclassed; the stub does not say @final.
    r"charrnn\._core\.\w+ cannot be subclassed at runtime, but isn't marked with @final in the stub",
    # Type aliases that exist only for the stub's annotations.
    r"charrnn\._core\.(F32|F64|I32|I64) is not present at runtime",
    r"charrnn\._core\.__all__ is not present in stub",
]
INIT = re.compile(r'charrnn\._core\.(\w+)\.__init__ is inconsistent, runtime does not have parameter "(\w+)"')
NEW = re.compile(r'charrnn\._core\.(\w+)\.__new__ is inconsistent, stub does not have parameter "(\w+)"')


def stubtest(cwd: pathlib.Path, **env: str) -> subprocess.CompletedProcess:
    """mypy's stubtest on charrnn._core, run in ``cwd`` (where mypy keeps its cache)."""
    return subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "charrnn._core", "--concise", "--ignore-disjoint-bases"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**os.environ, "MYPY_CACHE_DIR": str(cwd / ".mypy_cache"), **env},
    )


def stubtest_errors(cwd: pathlib.Path) -> list[str]:
    result = stubtest(cwd)
    assert "error: not checking stubs" not in result.stdout + result.stderr, result.stdout + result.stderr
    return [line for line in result.stdout.splitlines() if line.startswith("charrnn.")]


def test_py_typed_and_the_stub_ship_with_the_package():
    assert (PACKAGE / "py.typed").is_file()
    assert (PACKAGE / "_core.pyi").is_file()


def test_the_stub_matches_the_extension(tmp_path):
    errors = stubtest_errors(tmp_path)
    real = [e for e in errors if not any(re.fullmatch(a, e) for a in ARTIFACTS)]
    # PyO3 constructors are __new__; a stub that writes them as __init__ is fine as long
    # as it lists exactly the runtime's parameters, which is what these pairs say.
    init, new = defaultdict(set), defaultdict(set)
    for e in list(real):
        for pattern, found in ((INIT, init), (NEW, new)):
            m = pattern.match(e)
            if m:
                found[m[1]].add(m[2])
                real.remove(e)
    for cls in set(init) | set(new):
        if init[cls] != new[cls]:
            real.append(f"{cls}: the stub's constructor takes {sorted(init[cls])}, the extension's {sorted(new[cls])}")
    assert not real, "the stub _core.pyi disagrees with the extension:\n" + "\n".join(real)


def test_the_check_catches_a_disagreement(tmp_path):
    """The test above can fail: a stub with a wrong default is reported."""
    stub = (PACKAGE / "_core.pyi").read_text(encoding="utf-8")
    wrong = stub.replace("def set_num_threads(n: int) -> None:", "def set_num_threads(n: int, extra: int) -> None:")
    assert wrong != stub
    pkg = tmp_path / "charrnn"
    pkg.mkdir()
    (pkg / "__init__.pyi").write_text("", encoding="utf-8")
    (pkg / "_core.pyi").write_text(wrong, encoding="utf-8")
    result = stubtest(tmp_path, MYPYPATH=str(tmp_path))
    assert "charrnn._core.set_num_threads is inconsistent" in result.stdout, result.stdout + result.stderr
