"""What a client hears when the gateway refuses, through the official SDKs (retries
off): a wrong key (401), its own RPM (429 + retry-after), its budget (the vendor's
spend-limit error), an oversized body (413), a max-wait it cannot meet (429 +
retry-after), and a full queue (529 Anthropic / 503 OpenAI + retry-after).

Usage: sdk_refusals.py GATEWAY_URL
Prints one JSON object of what it saw; any unexpected answer fails the script.
"""

import json
import sys
import threading
import time
import urllib.request

import anthropic
import openai

url = sys.argv[1]
out = {}
ask = [{"role": "user", "content": "Say hello."}]


def clients(key, **kw):
    return (
        anthropic.Anthropic(base_url=url, api_key=key, max_retries=0, **kw),
        openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, **kw),
    )


def expect(exc, call):
    try:
        call()
    except exc as e:
        return e
    raise AssertionError(f"expected {exc.__name__}")


def retry_after(e):
    v = e.response.headers.get("retry-after")
    assert v is not None and float(v) >= 1, dict(e.response.headers)
    return float(v)


# A key no client has: 401 in each vendor's shape.
a, o = clients("not-a-client-key")
e = expect(anthropic.AuthenticationError, lambda: a.messages.create(model="sonnet", max_tokens=16, messages=ask))
assert e.status_code == 401 and e.body["error"]["type"] == "authentication_error", e.body
e = expect(openai.AuthenticationError, lambda: o.chat.completions.create(model="sonnet", messages=ask))
assert e.status_code == 401 and e.code == "invalid_api_key", e.body
out["wrong_key"] = 401

# alice: 3 requests per minute.
a, o = clients("alice-key")
for _ in range(3):
    a.messages.create(model="sonnet", max_tokens=16, messages=ask)
e = expect(anthropic.RateLimitError, lambda: a.messages.create(model="sonnet", max_tokens=16, messages=ask))
assert e.body["error"]["type"] == "rate_limit_error", e.body
out["rpm_anthropic_retry_after"] = retry_after(e)
e = expect(openai.RateLimitError, lambda: o.chat.completions.create(model="sonnet", messages=ask))
assert e.code == "rate_limit_exceeded", e.body
out["rpm_openai_retry_after"] = retry_after(e)

# bob: a budget the first answer spends.
a, o = clients("bob-key")
a.messages.create(model="sonnet", max_tokens=16, messages=ask)
e = expect(anthropic.RateLimitError, lambda: a.messages.create(model="sonnet", max_tokens=16, messages=ask))
assert "budget" in e.body["error"]["message"], e.body
e = expect(openai.RateLimitError, lambda: o.chat.completions.create(model="sonnet", messages=ask))
assert e.code == "insufficient_quota" and e.type == "insufficient_quota", e.body
out["budget"] = e.code

# carol: no limits of her own.
a, o = clients("carol-key")
big = [{"role": "user", "content": "x " * 100_000}]
e = expect(anthropic.APIStatusError, lambda: a.messages.create(model="sonnet", max_tokens=16, messages=big))
assert e.status_code == 413 and e.body["error"]["type"] == "request_too_large", e.body
e = expect(openai.APIStatusError, lambda: o.chat.completions.create(model="sonnet", messages=big))
assert e.status_code == 413, e.body
out["too_large"] = 413

# `slow` admits one request a minute: once it is spent, a request that may wait only
# 0.2 s is refused at once with 429 and retry-after, in either shape.
wait = {"x-quotaswarm-max-wait": "0.2"}
refused = None
for _ in range(5):
    try:
        a.messages.create(model="slow", max_tokens=16, messages=ask, extra_headers=wait)
    except anthropic.RateLimitError as e:
        refused = e
        break
assert refused is not None, "a request over its max-wait was answered"
out["max_wait_anthropic_retry_after"] = retry_after(refused)
e = expect(openai.RateLimitError, lambda: o.chat.completions.create(model="slow", messages=ask, extra_headers=wait))
out["max_wait_openai_retry_after"] = retry_after(e)

# The queue holds 2: two requests waiting for `slow` fill it (seen in the broker's
# /stats); the next is shed. The waiting ones are left behind when the script exits.
slow_a, _ = clients("carol-key", timeout=120.0)


def wait_for_slow(i):
    # Different questions: identical ones would share one call (coalescing).
    question = [{"role": "user", "content": f"Question {i}?"}]
    try:
        slow_a.messages.create(model="slow", max_tokens=16, messages=question)
    except anthropic.APIError:
        pass


for i in range(2):
    threading.Thread(target=wait_for_slow, args=(i,), daemon=True).start()


def queued(model):
    with urllib.request.urlopen(url + "/stats") as r:
        lanes = json.load(r)["lanes"]
    return sum(l["queue_depth"] for l in lanes if l["model"] == model)


deadline = time.monotonic() + 60
while queued("slow") < 2:
    assert time.monotonic() < deadline, "the two requests never queued"
    time.sleep(0.05)
e = expect(anthropic.APIStatusError, lambda: a.messages.create(model="sonnet", max_tokens=16, messages=ask))
assert e.status_code == 529 and e.body["error"]["type"] == "overloaded_error", e.body
out["full_queue_anthropic"] = (e.status_code, retry_after(e))
e = expect(openai.APIStatusError, lambda: o.chat.completions.create(model="sonnet", messages=ask))
assert e.status_code == 503, e.body
out["full_queue_openai"] = (e.status_code, retry_after(e))
print(json.dumps(out))
