#!/usr/bin/env python3
"""Hit rates of lru, arc (the simulator's reference) and tinylfu at 100, 1 000
and 10 000 entries on five kinds of trace, as a Markdown table (the README's).

    scripts/cache_hit_rates.py build/default/p21 [TRACE_DIR]

Traces (seeded, 1 M requests each) are written to TRACE_DIR (default
/tmp/p21-hit-rate-traces) once and reused; `window` is tinylfu's final
admission-window share.
"""
import bisect
import itertools
import json
import os
import random
import subprocess
import sys

N = 1_000_000


def zipf(n, universe, s, seed):
    rng = random.Random(seed)
    cdf = list(itertools.accumulate(1.0 / (i + 1) ** s for i in range(universe)))
    total = cdf[-1]
    return [bisect.bisect_left(cdf, rng.random() * total) for _ in range(n)]


def traces(out):
    yield "zipf099", lambda: zipf(N, 100_000, 0.99, 1)

    def scans():
        keys, nxt = [], 100_001
        for i, k in enumerate(zipf(N, 100_000, 0.9, 3)):
            keys.append(k)
            if i % 10_000 == 9_999:  # 5 000 never-repeated keys every 10 000 requests
                keys.extend(range(nxt, nxt + 5_000))
                nxt += 5_000
        return keys
    yield "scan", scans

    def recency():  # the bench's sliding working set of 2 000 keys
        rng = random.Random(4)
        return [i // 4 + rng.randrange(2_000) for i in range(N)]
    yield "recency", recency

    def phases():  # recency, then Zipf 0.99, then recency again (disjoint keys)
        def sliding(n, seed, first):
            rng = random.Random(seed)
            return [first + i // 4 + rng.randrange(2_000) for i in range(n)]
        return (sliding(N * 3 // 10, 5, 10_000_000) + zipf(N * 4 // 10, 100_000, 0.99, 6)
                + sliding(N * 3 // 10, 7, 20_000_000))
    yield "phases", phases
    for cap in (100, 1000, 10000):  # a loop over 1.5x the capacity
        keys = cap * 3 // 2
        yield f"loop{cap}", lambda keys=keys: [i % keys for i in range(max(N // 2, 20 * keys))]


def main():
    p21 = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else "/tmp/p21-hit-rate-traces"
    os.makedirs(out, exist_ok=True)
    for name, make in traces(out):
        path = f"{out}/{name}.txt"
        if not os.path.exists(path):
            with open(path, "w") as f:
                f.write("\n".join(map(str, make())) + "\n")

    def rate(policy, cap, trace):
        run = subprocess.run([p21, "cache-sim", "--policy", policy, "--capacity", str(cap),
                              f"{out}/{trace}.txt"], capture_output=True, text=True, check=True)
        return json.loads(run.stdout)

    kinds = [("Zipf 0.99", lambda c: "zipf099"), ("Zipf 0.9 + one-time scans", lambda c: "scan"),
             ("sliding window (recency)", lambda c: "recency"),
             ("recency, Zipf 0.99, recency (0.3 M, 0.4 M, 0.3 M)", lambda c: "phases"),
             ("loop over 1.5x the capacity", lambda c: f"loop{c}")]
    print("| trace | capacity | lru | arc | tinylfu | tinylfu's window |")
    print("|---|---|---|---|---|---|")
    for name, trace in kinds:
        for cap in (100, 1000, 10000):
            r = {p: rate(p, cap, trace(cap)) for p in ("lru", "arc", "tinylfu")}
            print(f"| {name} | {cap} | {r['lru']['hit_rate']:.3f} | {r['arc']['hit_rate']:.3f} | "
                  f"{r['tinylfu']['hit_rate']:.3f} | {r['tinylfu']['window']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
