"""Memory of a running command's process tree, sampled from /proc (Linux): peak RSS and PSS of
the whole tree, and peak unique memory (USS) of one grading worker."""
from __future__ import annotations

import os
import threading



def _children_map() -> dict[int, list[int]]:
    """ppid -> pids of every process we can see."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def _tree(root: int, children: dict[int, list[int]]) -> list[int]:
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo += children.get(pid, [])
    return pids


def _rollup(pid: int) -> dict[str, int]:
    """Fields of /proc/PID/smaps_rollup in KiB (Rss, Pss, Private_Clean, ...); {} if gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return {}
    fields = {}
    for line in lines:
        key, _, value = line.partition(":")
        if value.strip().endswith("kB"):
            fields[key] = int(value.split()[0])
    return fields


def _is_fork_server(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"grader.worker.zygote" in f.read()
    except OSError:
        return False


class TreeSampler:
    """Samples the tree under `root` every `interval` seconds on a thread until `stop()`.

    Workers are the children of a fork server (`python -m grader.worker.zygote`); their unique memory
    is Private_Clean + Private_Dirty (pages no other process shares, e.g. not the fork server's
    copy-on-write torch)."""

    def __init__(self, root: int, interval: float = 0.1):
        self.root, self.interval = root, interval
        self.peak_rss_kib = self.peak_pss_kib = self.peak_worker_uss_kib = 0
        self.workers_seen: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        children = _children_map()
        rss = pss = 0
        for pid in _tree(self.root, children):
            fields = _rollup(pid)
            rss, pss = rss + fields.get("Rss", 0), pss + fields.get("Pss", 0)
            if _is_fork_server(pid):
                self._sample_workers(children.get(pid, []))
        self.peak_rss_kib, self.peak_pss_kib = max(self.peak_rss_kib, rss), max(self.peak_pss_kib, pss)

    def _sample_workers(self, pids: list[int]) -> None:
        for pid in pids:
            fields = _rollup(pid)
            if fields:
                self.workers_seen.add(pid)
                uss = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
                self.peak_worker_uss_kib = max(self.peak_worker_uss_kib, uss)

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        return {"peak_tree_rss_mib": round(self.peak_rss_kib / 1024), "peak_tree_pss_mib": round(self.peak_pss_kib / 1024),
                "peak_worker_uss_mib": round(self.peak_worker_uss_kib / 1024) if self.workers_seen else None,
                "workers_sampled": len(self.workers_seen)}
