"""The official OpenAI Python SDK's `client.responses.create` pointed at `quotaswarm sim`:
plain, streamed (`stream=True`), with a function tool (and the loop's next turn with
the call's output), with a `text.format` JSON schema, a reasoning model's items replayed
with their encrypted content, and a request over the TPM limit (a 429 the SDK raises as
`RateLimitError`, with the rate-limit headers).

Usage: sdk_responses.py SIM_URL CHAT_MODEL REASONING_MODEL TINY_MODEL
Prints one JSON object of what each call returned. Retries are off: any unexpected SDK
error fails the script.
"""

import json
import sys

import openai

url, model, reasoner, tiny = sys.argv[1:5]
client = openai.OpenAI(base_url=url + "/v1", api_key="sk-sdk-test", max_retries=0)
out = {}


def usage(r):
    return {
        "input": r.usage.input_tokens,
        "cached": r.usage.input_tokens_details.cached_tokens,
        "output": r.usage.output_tokens,
        "reasoning": r.usage.output_tokens_details.reasoning_tokens,
    }


r = client.responses.create(
    model=model, instructions="Be brief.", input="Say hello.", max_output_tokens=300
)
assert r.object == "response" and r.id.startswith("resp_"), r
out["plain"] = {"model": r.model, "status": r.status, "text": r.output_text, "usage": usage(r)}

types, text, final = [], "", None
for event in client.responses.create(model=model, input="Count to five.", stream=True):
    types.append(event.type)
    if event.type == "response.output_text.delta":
        text += event.delta
    if event.type in ("response.completed", "response.incomplete"):
        final = event.response
out["stream"] = {
    "first": types[0],
    "last": types[-1],
    "types": sorted(set(types)),
    "text": text,
    "final_text": final.output_text,
    "usage": usage(final),
}

tools = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
        "strict": False,
    }
]
ask = [{"role": "user", "content": "Weather in Paris?"}]
r = client.responses.create(model=model, input=ask, tools=tools, tool_choice="required")
call = next(o for o in r.output if o.type == "function_call")
items = ask + [o.model_dump(exclude_none=True) for o in r.output]
items.append({"type": "function_call_output", "call_id": call.call_id, "output": "18C"})
after = client.responses.create(model=model, input=items, tools=tools, tool_choice="none")
out["tool"] = {
    "name": call.name,
    "arguments": json.loads(call.arguments),
    "call_id": call.call_id,
    "after_text": after.output_text,
}

person = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
r = client.responses.create(
    model=model,
    input="Invent a person.",
    text={"format": {"type": "json_schema", "name": "person", "schema": person, "strict": True}},
)
out["structured"] = json.loads(r.output_text)

r = client.responses.create(
    model=reasoner,
    input="Think, then say hi.",
    reasoning={"effort": "low"},
    include=["reasoning.encrypted_content"],
    store=False,
    max_output_tokens=2000,
)
reasoning = [o for o in r.output if o.type == "reasoning"]
replay = [{"role": "user", "content": "Think, then say hi."}]
replay += [o.model_dump(exclude_none=True) for o in r.output]
replay.append({"role": "user", "content": "Again."})
again = client.responses.create(
    model=reasoner, input=replay, include=["reasoning.encrypted_content"], store=False
)
out["reasoning"] = {
    "items": len(reasoning),
    "encrypted": bool(reasoning and reasoning[0].encrypted_content),
    "usage": usage(r),
    "replayed_status": again.status,
}

try:
    client.responses.create(model=tiny, input="Hello.", max_output_tokens=5000)
    out["rate_limited"] = None
except openai.RateLimitError as e:
    out["rate_limited"] = {
        "status": e.status_code,
        "code": e.code,
        "limit_tokens": e.response.headers.get("x-ratelimit-limit-tokens"),
        "message": e.message,
    }

print(json.dumps(out))
