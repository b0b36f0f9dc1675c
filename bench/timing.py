"""Timing whole processes with GNU time, shared by the benchmark harnesses."""

import os
import statistics
import subprocess
import tempfile
import threading
import time

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


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


def _stat(pid):
    """(parent pid, CPU seconds, RSS bytes) of a live process, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the command: state ppid ... utime(12) stime(13) ... rss(22), 0-based from state.
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK, int(fields[21]) * PAGE


def tree_timed(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
    """Runs argv and measures its whole process tree (a JVM that a Python script
    starts counts): returns (wall s, CPU s, peak RSS MB, exit code). Peak memory is
    the largest sum of the tree's resident sets seen every 20 ms (and at least what
    GNU time saw of the top process); CPU is the sum over every process of the last
    reading (and at least GNU time's, which includes reaped children)."""
    with tempfile.NamedTemporaryFile("r") as f:
        started = time.perf_counter()
        proc = subprocess.Popen(["/usr/bin/time", "-f", "%e %U %S %M", "-o", f.name, *argv],
                                stdout=stdout, stderr=stderr)
        cpu_of, peak, done = {}, 0, threading.Event()

        def sample():
            nonlocal peak
            while not done.is_set():
                stats = {}
                for entry in os.listdir("/proc"):
                    if entry.isdigit():
                        s = _stat(int(entry))
                        if s:
                            stats[int(entry)] = s
                tree, frontier = set(), {proc.pid}
                while frontier:
                    tree |= frontier
                    frontier = {p for p, s in stats.items() if s[0] in frontier} - tree
                peak = max(peak, sum(stats[p][2] for p in tree if p in stats))
                for p in tree:
                    if p in stats:
                        cpu_of[p] = stats[p][1]
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = proc.wait()
        wall = time.perf_counter() - started
        done.set()
        sampler.join()
        text = f.read().split()
        if code == 0 and len(text) >= 4:
            _, user, sys_, rss = text[-4:]
            cpu = max(float(user) + float(sys_), sum(cpu_of.values()))
            peak = max(peak, int(rss) * 1024)
        else:
            cpu = sum(cpu_of.values())
        return wall, cpu, peak / 2**20, code
