"""Process helpers for the benchmarks: start/stop process groups, sample memory from /proc.

No psutil: VmRSS / VmHWM come from /proc/<pid>/status and Pss from /proc/<pid>/smaps_rollup.
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path


def children_by_parent() -> dict[int, list[int]]:
    """{pid: its children's pids}, from one scan of /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def descendants(root: int, children: dict[int, list[int]] | None = None) -> list[int]:
    """root and every process below it (`children`: a children_by_parent() to reuse)."""
    children = children_by_parent() if children is None else children
    out, stack = [], [root]
    while stack:
        pid = stack.pop()
        out.append(pid)
        stack.extend(children.get(pid, []))
    return out


def memory_kib(pid: int, pss: bool = True) -> dict[str, int]:
    """{'rss', 'hwm', 'pss'} in KiB ('pss' only if asked: the kernel walks the process's pages for
    it); empty when the process is gone."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                out["rss"] = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                out["hwm"] = int(line.split()[1])
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines() if pss else ():
            if line.startswith("Pss:"):
                out["pss"] = int(line.split()[1])
    except OSError:
        return {}
    return out


class MemorySampler:
    """Samples process trees every `interval` s: the peak of the summed RSS and PSS per group,
    and each process's own high-water mark (VmHWM, exact whatever the interval), summed per group
    at the end. It shares the machine it measures: the trees are found again (a scan of /proc) and
    PSS read (a walk of each process's pages) every `slow`-th sample only; at 4 Hz with both every
    time it took ~half of the load generator's CPU, ~35 us a span at 3,000 spans/s (thirteenth session)."""

    def __init__(self, groups: dict[str, list[int]], interval: float = 0.25, slow: int = 4):
        self.groups, self.interval, self.slow = groups, interval, slow
        self._samples, self._trees = 0, {}
        self.peak_rss = dict.fromkeys(groups, 0)
        self.peak_pss = dict.fromkeys(groups, 0)
        self.peak_total_rss = 0
        self.peak_total_pss = 0
        self.hwm: dict[str, dict[int, int]] = {g: {} for g in groups}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _sample(self, full: bool = False):
        full = full or self._samples % self.slow == 0
        self._samples += 1
        if full:
            children = children_by_parent()
            self._trees = {root: descendants(root, children) for roots in self.groups.values() for root in roots}
        total_rss = total_pss = 0
        for group, roots in self.groups.items():
            rss = pss = 0
            for root in roots:
                for pid in self._trees.get(root, ()):
                    m = memory_kib(pid, pss=full)
                    rss += m.get("rss", 0)
                    pss += m.get("pss", 0)
                    if m.get("hwm"):
                        self.hwm[group][pid] = max(self.hwm[group].get(pid, 0), m["hwm"])
            self.peak_rss[group] = max(self.peak_rss[group], rss)
            total_rss += rss
            if full:
                self.peak_pss[group] = max(self.peak_pss[group], pss)
                total_pss += pss
        self.peak_total_rss = max(self.peak_total_rss, total_rss)
        if full:
            self.peak_total_pss = max(self.peak_total_pss, total_pss)

    def _run(self):
        while not self._stop.wait(self.interval):
            self._sample()

    def stop(self) -> dict:
        self._sample(full=True)
        self._stop.set()
        self._thread.join(5)
        mib = lambda kib: round(kib / 1024, 1)  # noqa: E731
        return {
            "peak_sum_rss_mib": {g: mib(v) for g, v in self.peak_rss.items()} | {"total": mib(self.peak_total_rss)},
            "peak_sum_pss_mib": {g: mib(v) for g, v in self.peak_pss.items()} | {"total": mib(self.peak_total_pss)},
            "sum_vmhwm_mib": {g: mib(sum(v.values())) for g, v in self.hwm.items()}
            | {"total": mib(sum(sum(v.values()) for v in self.hwm.values()))},
            "processes": {g: len(v) for g, v in self.hwm.items()},
        }


def start(cmd: list[str], env: dict, log: Path, cwd: str) -> subprocess.Popen:
    """A child in its own session (process group), so stop() ends it and everything it forked."""
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(proc: subprocess.Popen | None, timeout: float = 20.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    except ProcessLookupError:
        pass


def wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            tail = log.read_text()[-3000:] if log else ""
            raise RuntimeError(f"{what}: process exited\n{tail}")
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")
