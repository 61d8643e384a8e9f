"""The governor: repeated work (training steps, inference batches, distance blocks) runs on the thread count that
measures fastest now, so that a core taken by another process costs its share, not 10-100x."""

from __future__ import annotations

import statistics
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from latentlab.threads._cpus import available_cpus, others_running
from latentlab.threads._policy import ThreadPolicy, apply_count, start_threads

T = TypeVar("T")


def ladder(threads: int) -> list[int]:
    """The thread counts a governor moves between: `threads`, then halved down to 1 (8 -> [8, 4, 2, 1])."""
    out = [max(1, threads)]
    while out[-1] > 1:
        out.append(out[-1] // 2)
    return out


class Governor:
    """Runs repeated work on the count of `ladder(threads)` that is fastest now, from the time per image of each
    window of `WINDOW` steps (its median).

    Spinning threads show in two ways, and either tries one rung down for a window, keeping the faster: a window
    `SLOW` times slower than the median of the last windows at its count (a core was taken), or `TAIL` steps of a
    window over twice its fast steps (a core is taken, and a step waits whenever its partner thread is descheduled;
    idle steps are even). Below the top it tries one rung up after `probe_s` seconds, the pause doubling each time a
    try loses (up to `max_probe_s`), so a busy machine pays little for the tries and a freed one is noticed within
    seconds. A try is given up at its first step `ABORT` times slower than before (one step of spinning threads can
    take 100x longer than it should). An idle machine never pays for a try. Each run of steps (`resume`) starts
    below the top when other processes' threads are running on the CPUs now (`others`, sampled).
    With `adaptive=False` it only watches, and warns once when windows become `PATHOLOGY` times slower than the
    first, with more than one thread.
    """

    SLOW = 1.5  # one thread of two costs ~1.3-1.4x idle (measured); slower windows than this are a busy core
    TAIL = 2  # steps over twice the fast ones: mnist-vae's steps, one core busy, p50 16 ms, mean 29 ms; idle 9.7, 9.9
    ABORT = 3.0
    WINDOW = 6  # steps per window
    HISTORY = 5  # windows per count behind the reference
    PATHOLOGY = 4.0

    def __init__(self, threads: int, adaptive: bool, probe_s: float = 1.0, max_probe_s: float = 16.0,
                 clock: Callable[[], float] = time.perf_counter, set_threads: Callable[[int], None] | None = None,
                 cpus: int | None = None, others: Callable[[], int | None] = lambda: None) -> None:
        self.threads = max(1, threads)
        self.levels = ladder(self.threads) if adaptive else [self.threads]
        self.adaptive = len(self.levels) > 1
        self.probe_s, self.max_probe_s, self.pause = probe_s, max_probe_s, probe_s
        self._clock, self._set = clock, set_threads or apply_count
        self.cpus, self._others = cpus or self.threads, others
        self.level = 0
        self.switches = 0
        self.warned = False
        self._next_try = 0.0
        self.resume()

    @property
    def current(self) -> int:
        """The thread count in force."""
        return self.levels[self.level]

    def resume(self) -> None:
        """Start a new run of steps (a new loop over other data): the level and the try schedule are kept, the
        windows start afresh (times per image of different work do not compare)."""
        self._abandon_try()
        self._window: list[float] = []
        self._recent: dict[int, deque[float]] = {}
        self._first: float | None = None
        self._from: int | None = None  # the level a try started from, while one runs
        self._before = 0.0
        busy = self._others() if self.adaptive else None
        if busy is not None:
            # Another process runs on some of our CPUs now: start on the threads that leave it its cores (the
            # try up after `pause` tells whether that was right). Short work, one web request, gains at once.
            fits = [i for i, n in enumerate(self.levels) if n <= max(1, self.cpus - busy)]
            if fits[0] > self.level:
                self.level = fits[0]
                self.switches += 1
                self._next_try = self._clock() + self.pause
        if self.level:
            self._set(self.current)

    def step(self, items: int, seconds: float) -> None:
        """Record one unit of work: `items` images in `seconds`."""
        if items <= 0 or seconds <= 0:
            return
        per_item = seconds / items
        if self._from is not None and per_item > self.ABORT * self._before:
            self._window = []
            self._end_try(won=False)
            return
        self._window.append(per_item)
        if len(self._window) < self.WINDOW:
            return
        per = statistics.median(self._window)
        fast = sorted(self._window)[1]  # the second fastest: one lucky step sets no bar
        tail = sum(t > 2 * fast for t in self._window)
        self._window = []
        recent = self._recent.setdefault(self.current, deque(maxlen=self.HISTORY))
        reference = statistics.median(recent) if recent else None
        recent.append(per)
        if not self.adaptive:
            self._maybe_warn(per)
        elif self._from is not None:
            self._end_try(won=per < self._before)
        elif self.level + 1 < len(self.levels) and (
                tail >= self.TAIL or (reference is not None and per > self.SLOW * reference)):
            self._try(self.level + 1, per)
        elif self.level > 0 and self._clock() >= self._next_try:
            self._try(self.level - 1, per)

    def _try(self, level: int, per: float) -> None:
        self._from, self._before = self.level, per
        self._move(level)

    def _end_try(self, won: bool) -> None:
        start, self._from = self._from, None
        if won:
            self.pause = self.probe_s
        else:
            self._move(start)
            self.pause = min(self.max_probe_s, self.pause * 2)
        self._next_try = self._clock() + self.pause

    def _move(self, level: int) -> None:
        self.level = level
        self.switches += 1
        self._set(self.current)

    def _maybe_warn(self, per: float) -> None:
        if self._first is None:
            self._first = per
            return
        if self.warned or self.current <= 1 or per < self.PATHOLOGY * self._first:
            return
        self.warned = True
        warnings.warn(f"steps became {per / self._first:.0f}x slower than at the start with {self.current} torch "
                      "threads: another process is probably using a core, and torch's threads wait for each other. "
                      "Call latentlab.configure_threads() before training (or pass --threads 1, or set "
                      "OMP_NUM_THREADS=1) to keep the speed on a busy machine.", RuntimeWarning, stacklevel=4)

    def _abandon_try(self) -> None:
        # A try the loop ended before its window was full decides nothing: back to where it started, and the next
        # try after the usual pause (short loops would otherwise start one each time).
        start = getattr(self, "_from", None)
        if start is not None:
            self._from = None
            self._move(start)
            self._next_try = self._clock() + self.pause

    def release(self) -> None:
        """Leave torch at the policy's count between runs of steps (the level is remembered for `resume`)."""
        self._abandon_try()
        if self.level:
            self._set(self.threads)


_PROCESS: list[tuple[ThreadPolicy | None, Governor]] = []
_OTHERS: list[tuple[float, int | None]] = []
OTHERS_TTL_S = 0.25  # reading /proc takes 0.1-1.5 ms; loops that start closer together (web requests) share one


def _recent_others() -> int | None:
    now = time.monotonic()
    if not _OTHERS or now - _OTHERS[0][0] > OTHERS_TTL_S:
        _OTHERS[:] = [(now, others_running())]
    return _OTHERS[0][1]


def governor() -> Governor:
    """This process's `Governor`, resumed for a new run of steps: one per process, because a busy core is a fact
    about the machine, so what one loop learned (training, then the detector's blocks) serves the next. Adaptive
    under the active policy, watching only otherwise. Call `release()` when the run of steps ends."""
    policy = start_threads()
    if _PROCESS and _PROCESS[0][0] is policy:
        gov = _PROCESS[0][1]
        gov.resume()
        return gov
    if policy is not None and policy.managed:
        gov = Governor(policy.threads, policy.adaptive, cpus=available_cpus().usable, others=_recent_others)
    else:
        import torch

        gov = Governor(torch.get_num_threads(), False)
    _PROCESS[:] = [(policy, gov)]
    return gov


def paced(items: Iterable[T], size: int | Callable[[T], int]) -> Iterator[T]:
    """Yield `items`, timing the caller's work on each (from one yield to the next) as `size` images (a number, or
    a function of the item), under this process's governor; torch is left at the policy's count at the end."""
    gov = governor()
    count = size if callable(size) else (lambda _item: size)
    try:
        for item in items:
            started = time.perf_counter()
            yield item
            gov.step(count(item), time.perf_counter() - started)
    finally:
        gov.release()
