"""Measuring a child process: its wall time and its peak resident memory, as the kernel counts it."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

# Run in a fresh interpreter whose only child is the measured command: RUSAGE_CHILDREN then
# reports that command's own peak, not the largest of every process this test run ever waited for.
_WRAPPER = """
import json, resource, subprocess, sys, time
started = time.monotonic()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({
    "returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr,
    "seconds": time.monotonic() - started,
    "peak_rss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
}))
"""


@dataclass(frozen=True)
class Measured:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mb: float


def run_measured(args: list[str], *, env: dict[str, str], cwd: Path, timeout: float) -> Measured:
    """Run ``args`` to its end and return what it printed, how long it took and its peak RSS."""
    done = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=True,
    )
    result = json.loads(done.stdout)
    return Measured(
        returncode=result["returncode"], stdout=result["stdout"], stderr=result["stderr"],
        seconds=result["seconds"], peak_rss_mb=result["peak_rss_kb"] / 1024,
    )


class PeakRss:
    """Samples the resident memory of ``processes()`` (called at each sample, so a pool's children
    started later are included) in a background thread; ``peak_mb`` is the largest one seen."""

    def __init__(self, processes, *, interval: float = 0.05) -> None:
        self._processes = processes
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.peak_mb = 0.0

    def _run(self) -> None:
        while not self._stop.is_set():
            for process in self._processes():
                try:
                    self.peak_mb = max(self.peak_mb, process.memory_info().rss / (1024 * 1024))
                except Exception:  # noqa: BLE001 - a process that ended has nothing to sample
                    continue
            self._stop.wait(self._interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
