"""Timing whole processes with GNU time, shared by the benchmark harnesses."""

import statistics
import subprocess
import tempfile


def timed(argv):
    """Runs argv; returns (wall s, CPU s, peak RSS MB) of the whole process."""
    with tempfile.NamedTemporaryFile("r") as f:
        subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", f.name, *argv],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall, user, sys_, rss = f.read().split()[-4:]
        return float(wall), float(user) + float(sys_), int(rss) / 1024


def median_of(runs, argv, before=None):
    """Medians of (wall, CPU, peak RSS) over `runs` runs; `before` runs before each."""
    samples = []
    for _ in range(runs):
        if before:
            before()
        samples.append(timed(argv))
    return tuple(statistics.median(s[i] for s in samples) for i in range(3))
