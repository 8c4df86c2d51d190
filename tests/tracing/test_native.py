"""The mypyc build of the ingest path's pure modules (tracing/native.py): used when current, never
when stale, and computing exactly what the Python source computes."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import tracing.conventions.normalizer
import tracing.search
from tracing import native

ROOT = Path(__file__).resolve().parent.parent.parent


def test_the_build_of_this_source_is_what_runs():
    """scripts/_venv.sh builds it (both of README's commands run that): a build that failed, or
    one older than the source, would silently leave the slower source running."""
    if os.environ.get("SAGATRACE_NATIVE") == "0":
        assert not native.ACTIVE and tracing.search.__file__.endswith(".py")
        return
    assert native.ACTIVE, f"{native.why_not()}: scripts/build_native builds it"
    for module in (tracing.conventions.normalizer, tracing.search):
        assert Path(module.__file__).is_relative_to(native.BUILD_DIR) and module.__file__.endswith(".so")


def _outputs(tmp_path, enabled: str) -> list[str]:
    env = {**os.environ, "SAGATRACE_NATIVE": enabled, "SAGATRACE_DATA_DIR": str(tmp_path / enabled)}
    env.pop("DATABASE_URL", None)  # nothing is stored
    result = subprocess.run([sys.executable, str(ROOT / "tests" / "tracing" / "native_outputs.py")], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.splitlines()


def test_the_compiled_modules_compute_what_the_source_computes(tmp_path):
    compiled, source = _outputs(tmp_path, "1"), _outputs(tmp_path, "0")

    assert json.loads(compiled[0]) == {"native": True} and json.loads(source[0]) == {"native": False}
    assert len(compiled) == len(source) > 800  # corpus, benchmark agents, secrets, hostile and random values
    for number, (a, b) in enumerate(zip(compiled[1:], source[1:])):
        assert a == b, f"span {number} differs"
    steps = [json.loads(line) for line in compiled[1:]]
    assert any("[REDACTED:" in json.dumps(s["columns"]["input"]) for s in steps)  # redaction ran on both
    assert sum(1 for s in steps if s["columns"]["kind"] == "llm" and s["columns"]["cost_usd"]) > 150


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """A copy of the compiled modules' sources with a manifest of them, as a build leaves it."""
    for path in native.sources():
        copy = tmp_path / path.relative_to(ROOT)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, copy)
    monkeypatch.setattr(native, "ROOT", tmp_path)
    monkeypatch.setattr(native, "BUILD_DIR", tmp_path / ".native")
    native.BUILD_DIR.mkdir()
    manifest = {"python": sys.implementation.cache_tag, "sources": native._fingerprint(native.sources())}
    (native.BUILD_DIR / native.MANIFEST).write_text(json.dumps(manifest))
    monkeypatch.delenv("SAGATRACE_NATIVE", raising=False)
    return tmp_path


def test_a_current_build_is_used(tree):
    assert native.why_not() == ""


def test_one_edited_module_turns_the_whole_build_off(tree):
    vercel = tree / "tracing" / "conventions" / "vercel.py"
    vercel.write_text(vercel.read_text() + "\n# edited\n")

    assert native.why_not() == "the source changed since the build: tracing/conventions/vercel.py"


def test_a_new_module_to_compile_turns_the_build_off(tree):
    (tree / "tracing" / "conventions" / "newconvention.py").write_text("X = 1\n")

    assert "tracing/conventions/newconvention.py" in native.why_not()


def test_a_build_for_another_python_or_none_is_not_used(tree, monkeypatch):
    manifest = json.loads((native.BUILD_DIR / native.MANIFEST).read_text())
    (native.BUILD_DIR / native.MANIFEST).write_text(json.dumps({**manifest, "python": "cpython-310"}))
    assert native.why_not().startswith("built for cpython-310")

    shutil.rmtree(native.BUILD_DIR)
    assert native.why_not().startswith("no build in")

    monkeypatch.setenv("SAGATRACE_NATIVE", "0")
    assert native.why_not() == "turned off by SAGATRACE_NATIVE=0"


def test_an_inactive_build_leaves_the_package_path_alone(monkeypatch):
    monkeypatch.setattr(native, "ACTIVE", False)
    path = ["/src/tracing"]
    native.use_build(path, "tracing.conventions")
    assert path == ["/src/tracing"]

    monkeypatch.setattr(native, "ACTIVE", True)
    native.use_build(path, "tracing.conventions")
    assert path == [str(native.BUILD_DIR / "tracing" / "conventions"), "/src/tracing"]


def test_manage_py_check_says_when_the_build_is_not_used(monkeypatch):
    from tracing.checks import configuration

    monkeypatch.setattr(native, "ACTIVE", False)
    monkeypatch.setattr(native, "why_not", lambda: "no build in /srv/.native")
    monkeypatch.delenv("SAGATRACE_NATIVE", raising=False)
    [warning] = [p for p in configuration(None) if p.id == "sagatrace.W003"]
    assert warning.msg == "The compiled ingest modules are not in use: no build in /srv/.native."

    monkeypatch.setenv("SAGATRACE_NATIVE", "0")
    assert not [p for p in configuration(None) if p.id == "sagatrace.W003"]
