"""SIGTERM with 50 requests in flight: they all complete, new connections are refused.

Usage: sdk_drain.py GATEWAY_URL GATEWAY_PID
Prints one JSON object; any failure fails the script.
"""

import asyncio
import json
import os
import signal
import socket
import sys
import time
import urllib.parse
import urllib.request

import anthropic

url, pid = sys.argv[1], int(sys.argv[2])
N = 50
host = urllib.parse.urlparse(url)


def in_flight():
    with urllib.request.urlopen(url + "/stats") as r:
        lanes = json.load(r)["lanes"]
    return sum(l["in_flight"] for l in lanes)


def refused():
    try:
        socket.create_connection((host.hostname, host.port), timeout=1).close()
        return False
    except ConnectionRefusedError:
        return True


async def main():
    client = anthropic.AsyncAnthropic(base_url=url, api_key="drain", max_retries=0, timeout=120.0)
    calls = [
        asyncio.ensure_future(client.messages.create(
            model="m", max_tokens=16,
            messages=[{"role": "user", "content": f"Question {i}?"}],
        ))
        for i in range(N)
    ]
    deadline = time.monotonic() + 60
    while await asyncio.to_thread(in_flight) < N:
        assert time.monotonic() < deadline, "the requests never were all in flight"
        await asyncio.sleep(0.05)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while not await asyncio.to_thread(refused):
        assert time.monotonic() < deadline, "new connections are still accepted"
        await asyncio.sleep(0.05)
    unfinished = sum(not c.done() for c in calls)
    results = await asyncio.gather(*calls, return_exceptions=True)
    errors = [repr(r) for r in results if isinstance(r, BaseException)]
    assert not errors, errors[:3]
    print(json.dumps({"completed": len(results), "unfinished_at_refusal": unfinished}))


asyncio.run(main())
