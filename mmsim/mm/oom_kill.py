"""The OOM killer (mm/oom_kill.c: out_of_memory, oom_badness, oom_kill_process).

Simplified: the score is the resident set alone (no oom_score_adj, no swap
or page-table terms); the victim is killed at once.
"""

import signal

import numpy as np

from .._abi import PAGE_SIZE
from ..errors import Signal
from ..flags import PTE_PRESENT, PTE_ZERO


def oom_badness(proc):
    """The OOM killer's score of a process: its resident pages (oom_badness)."""
    rss = 0
    for vma in proc.mm.vmas:
        rss += int(np.count_nonzero((vma.pte & (PTE_PRESENT | PTE_ZERO)) == PTE_PRESENT))
    return rss


def out_of_memory(m, proc, addr):
    """Kill the process with the largest RSS; raise Signal(SIGKILL) if it is proc.

    Return False when there is nobody to kill.
    """
    victims = [p for p in m.procs.values() if p.alive]
    if not victims:
        return False
    victim = max(victims, key=lambda p: (oom_badness(p), -p.pid))
    m.oom_kills.append((m.now, victim.pid, oom_badness(victim) * PAGE_SIZE // 1024))
    victim.kill()
    if victim is proc:
        raise Signal(signal.SIGKILL, addr, "oom_kill_process")
    return True
