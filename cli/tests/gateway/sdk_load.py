"""One SDK client sending N concurrent requests through the gateway, with the SDK's
own retries on (max_retries=2) and counted: every HTTP request the SDK sends is seen by
an httpx hook, so retries = requests sent - calls made.

Usage: sdk_load.py anthropic|openai GATEWAY_URL MODEL N TAG
Prints one JSON object: calls, succeeded, http_requests, retries, statuses, seconds.
"""

import asyncio
import json
import sys
import time

import anthropic
import openai

wire, url, model, n, tag = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
sent = 0
statuses = {}


async def on_request(request):
    global sent
    sent += 1


async def on_response(response):
    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1


async def main():
    # The SDK's own HTTP client class (whichever httpx it ships with), with hooks.
    sdk = anthropic if wire == "anthropic" else openai
    http = sdk.DefaultAsyncHttpxClient(
        timeout=300.0,
        event_hooks={"request": [on_request], "response": [on_response]},
    )
    if wire == "anthropic":
        client = anthropic.AsyncAnthropic(base_url=url, api_key="load", max_retries=2, http_client=http)

        async def call(i):
            r = await client.messages.create(
                model=model, max_tokens=32,
                messages=[{"role": "user", "content": f"{tag} question {i}: say something."}],
            )
            return r.model
    else:
        client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="load", max_retries=2, http_client=http)

        async def call(i):
            r = await client.chat.completions.create(
                model=model, max_tokens=32,
                messages=[{"role": "user", "content": f"{tag} question {i}: say something."}],
            )
            return r.model

    t0 = time.monotonic()
    results = await asyncio.gather(*(call(i) for i in range(n)), return_exceptions=True)
    errors = [repr(r) for r in results if isinstance(r, BaseException)]
    print(json.dumps({
        "calls": n,
        "succeeded": n - len(errors),
        "errors": errors[:5],
        "http_requests": sent,
        "retries": sent - n,
        "statuses": {str(k): v for k, v in statuses.items()},
        "seconds": time.monotonic() - t0,
    }))


asyncio.run(main())
