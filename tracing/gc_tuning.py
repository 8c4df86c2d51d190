"""The cyclic garbage collector of the long-lived processes: Celery workers and web workers.

CPython runs a collection of its youngest generation every 700 container objects allocated and
not yet freed. An indexing group holds ~1,000 spans' steps, messages and rows alive until it
commits, so during a group the collector ran every few spans, walked the same live objects again
and again, and every few hundred collections walked everything the process holds (Django, the
price data, every module): ~60 µs of CPU a span, 10% of a worker (docs/performance.md,
thirteenth session). In a web worker the full collections are pauses of tens of milliseconds in
the middle of a request.

`settle()`, once the process has loaded what it runs with: what is loaded by then lives as long
as the process, so it is frozen (moved where no collection looks); and the youngest generation is
collected every THRESHOLD allocations. A group then triggers about one collection instead of
hundreds. Garbage that is not in a cycle is freed at once, as always (reference counting); a new
cycle waits for the next young collection (at most THRESHOLD allocations away), an older one for
the older generations' collections, which keep their default ratios to it. The benchmark saw no
change in the processes' peak memory.
"""
from __future__ import annotations

import gc

THRESHOLD = 50_000  # CPython's default is 700; older generations keep their default ratios (10, 10)


def settle() -> int:
    """Freeze what the process has loaded and collect the young generation less often; returns
    how many objects are frozen. Safe to call more than once: later calls freeze what was loaded
    since."""
    gc.collect()  # not to freeze garbage: frozen objects are never collected
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(THRESHOLD, middle, old)
    return gc.get_freeze_count()
