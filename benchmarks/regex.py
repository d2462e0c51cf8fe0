"""Matcher regexes: Python's backtracking ``re`` against RE2 (``engine/regex.py``), same patterns, same run.

``python benchmarks/regex.py`` prints, per pattern and input, the time of one full match with each engine:
an ordinary matcher (``service=~"payment-.*"``), and the pathological ``([a-z]+ ?)+`` against ``"a" * n + "!"``
for growing ``n`` (Python's time doubles with each character; RE2 stays linear). Python is only run up to
``--max-python`` characters, since beyond that it takes minutes.
"""

from __future__ import annotations

import argparse
import re
import time

from engine.compiler.regex import compile_full


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-python", type=int, default=22)
    args = parser.parse_args()
    cases = [("payment-.*", "payment-api", 1000)]
    cases += [("([a-z]+ ?)+", "a" * n + "!", 1 if n > 16 else 5) for n in (10, 14, 18, 22, 40, 10_000)]
    print(f"{'pattern':<14} {'input length':>12} {'python re':>14} {'RE2':>12}")
    for pattern, text, repeat in cases:
        ours = compile_full(pattern)
        r2 = best(lambda o=ours, t=text: o.fullmatch(t), repeat)
        if len(text) <= args.max_python + 1:
            py = re.compile(pattern)
            pt = f"{best(lambda p=py, t=text: p.fullmatch(t), repeat) * 1e6:,.1f} µs"
        else:
            pt = "(not run)"
        print(f"{pattern:<14} {len(text):>12} {pt:>14} {r2 * 1e6:>9,.1f} µs")


if __name__ == "__main__":
    main()
