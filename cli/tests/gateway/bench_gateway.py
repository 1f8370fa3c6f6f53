"""The gateway's added latency and throughput, in one run: the same calls made by the
official Anthropic SDK directly to `quotaswarm sim` and through `quotaswarm serve` in
front of it, at 1 and 64 concurrent clients. Not run by the test suite (see
BENCHMARKS.md for how to run it).

Usage: bench_gateway.py SIM_URL GATEWAY_URL CALLS
"""

import asyncio
import json
import sys
import time

import anthropic

sim, gw, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


async def run(url, model, concurrency):
    client = anthropic.AsyncAnthropic(base_url=url, api_key="bench", max_retries=0)
    latencies = []
    queue = list(range(calls))

    async def worker():
        while queue:
            i = queue.pop()
            t0 = time.perf_counter()
            await client.messages.create(
                model=model, max_tokens=16,
                messages=[{"role": "user", "content": f"Bench question {i}?"}],
            )
            latencies.append(time.perf_counter() - t0)

    # Warm-up: connections, tokenizers.
    await client.messages.create(model=model, max_tokens=4, messages=[{"role": "user", "content": "warm"}])
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    return {
        "p50_ms": pct(latencies, 50) * 1000,
        "p99_ms": pct(latencies, 99) * 1000,
        "calls_per_s": calls / elapsed,
    }


async def main():
    out = {}
    for c in (1, 64):
        direct = await run(sim, "claude-sonnet-4-6", c)
        via = await run(gw, "m", c)
        out[c] = {
            "direct": direct,
            "gateway": via,
            "added_p50_ms": via["p50_ms"] - direct["p50_ms"],
            "added_p99_ms": via["p99_ms"] - direct["p99_ms"],
        }
    print(json.dumps(out, indent=1))


asyncio.run(main())
