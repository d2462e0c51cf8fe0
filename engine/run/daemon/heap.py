"""The cyclic garbage collector tuned for the decision loop."""

from __future__ import annotations

import gc

# The cyclic GC's youngest generation is collected after this many net allocations (CPython: 700).
# A decision allocates a few thousand objects and leaves few cycles, so at 700 the collector ran
# several times per event for nothing: 20,000 took ~9 µs off each decision (benchmarks/throughput.py
# workload, best of 4 runs each, same session) while a young collection stays around a millisecond.
GC_YOUNG_THRESHOLD = 20_000


def settle_heap() -> None:
    """Collect, freeze what is alive, and collect the young generation less often (see above)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)
