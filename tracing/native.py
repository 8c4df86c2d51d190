"""The ingest path's pure-Python modules, compiled with mypyc when a current build of them exists.

Most of a worker's CPU per span is pure Python: mapping the conventions, redaction, the received
attributes' recipes, the search words. mypyc compiles those same modules to C extensions, which
run them 1.2–1.8× faster (docs/performance.md). There is one implementation, the Python source:
what runs is the source itself or a build of exactly that source.

`scripts/build_native` (run by scripts/_venv.sh, so by both of README's commands) compiles them
into .native/ with a manifest of their sources' hashes. The packages holding them (`tracing`,
`tracing.conventions`) call `use_build` first thing, which puts the build ahead of the source in
their path only when every compiled module's source hashes as it did when built. One edited
module turns the whole build off (compiled modules call each other directly, not through their
module's attributes), so stale code never runs; SAGATRACE_NATIVE=0 turns it off too.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = ROOT / ".native"
MANIFEST = "manifest.json"
GROUP = "sagatrace_native"  # the build's shared library: sagatrace_native__mypyc, at the top of BUILD_DIR
_COMPILED = ("tracing/redaction.py", "tracing/received.py", "tracing/search.py")


def sources() -> list[Path]:
    """The compiled modules' sources: the conventions (not the package's __init__, which chooses
    between build and source) and the modules that walk a span's strings."""
    conventions = sorted(p for p in (ROOT / "tracing" / "conventions").glob("*.py") if p.name != "__init__.py")
    return [*conventions, *(ROOT / path for path in _COMPILED)]


def _fingerprint(paths: list[Path]) -> dict[str, str]:
    return {p.relative_to(ROOT).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def _manifest() -> dict:
    try:
        return json.loads((BUILD_DIR / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}


def why_not() -> str:
    """Empty when the build is current and wanted; otherwise why the source runs instead."""
    if os.environ.get("SAGATRACE_NATIVE", "1") == "0":
        return "turned off by SAGATRACE_NATIVE=0"
    manifest = _manifest()
    if not manifest:
        return f"no build in {BUILD_DIR}"
    if manifest.get("python") != sys.implementation.cache_tag:
        return f"built for {manifest.get('python')}, this is {sys.implementation.cache_tag}"
    built, now = manifest.get("sources", {}), _fingerprint(sources())
    changed = sorted(path for path in built.keys() | now.keys() if built.get(path) != now.get(path))
    if changed:
        return f"the source changed since the build: {', '.join(changed)}"
    return ""


ACTIVE = not why_not()  # decided once per process, when `tracing` is first imported


def use_build(path: list[str], package: str) -> None:
    """Called by a package holding compiled modules, with its __path__, before importing any."""
    if not ACTIVE:
        return
    path.insert(0, str(BUILD_DIR.joinpath(*package.split("."))))
    if str(BUILD_DIR) not in sys.path:
        sys.path.append(str(BUILD_DIR))  # only the shared library is looked up at the top level


def build() -> None:
    """Compile sources() into BUILD_DIR (replacing what is there only once the build succeeded)."""
    from mypyc.build import mypycify  # the `native` extra: mypy, pinned in pyproject.toml
    from setuptools import setup

    paths = sources()
    before = _fingerprint(paths)
    staging = Path(tempfile.mkdtemp(prefix=BUILD_DIR.name + ".new-", dir=BUILD_DIR.parent))  # one per builder
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            os.chdir(ROOT)  # mypyc names the modules after their paths relative to here
            # Django has no type stubs: what the compiled modules get from it is typed Any. The
            # modules they import but that are not compiled are read for their types only.
            extensions = mypycify(
                [p.relative_to(ROOT).as_posix() for p in paths]
                + ["--ignore-missing-imports", "--follow-imports=silent", f"--cache-dir={tmp}/mypy"],
                opt_level="3", group_name=GROUP, target_dir=f"{tmp}/c")
            os.chdir(tmp)  # not the project's: setuptools would read its pyproject.toml
            setup(name=GROUP, ext_modules=extensions, script_args=[
                "--quiet", "build_ext", "--build-lib", str(staging), "--build-temp", f"{tmp}/o",
                "--parallel", str(os.cpu_count() or 1)])
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        finally:
            os.chdir(cwd)
    if _fingerprint(paths) != before:
        shutil.rmtree(staging, ignore_errors=True)
        raise RuntimeError("a source changed during the build: build again")
    (staging / MANIFEST).write_text(json.dumps(
        {"python": sys.implementation.cache_tag, "sources": before}, indent=1, sort_keys=True))
    shutil.rmtree(BUILD_DIR, ignore_errors=True)
    staging.rename(BUILD_DIR)
