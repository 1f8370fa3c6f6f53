"""The official Python SDKs pointed at `quotaswarm serve`: plain, streamed, tool-calling
and count-tokens calls on both wires, the OpenAI SDK asking an Anthropic model, and the
Anthropic SDK asking an OpenAI model (streamed).

Usage: sdk_calls.py GATEWAY_URL ANTHROPIC_MODEL OPENAI_MODEL
Prints one JSON object: for each call, the model the response names. Any SDK error
(retries are off, so a 429 too) fails the script.
"""

import json
import sys

import anthropic
import openai

url, claude, gpt = sys.argv[1], sys.argv[2], sys.argv[3]
KEY = "gateway-test-client-key"
WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
out = {}

a = anthropic.Anthropic(base_url=url, api_key=KEY, max_retries=0)
ask = [{"role": "user", "content": "Say hello."}]

r = a.messages.create(model=claude, max_tokens=64, messages=ask)
assert r.type == "message" and r.content and r.content[0].type == "text", r
assert r.usage.output_tokens > 0, r
out["anthropic_plain"] = r.model

with a.messages.stream(model=claude, max_tokens=64, messages=ask) as s:
    text = "".join(s.text_stream)
    final = s.get_final_message()
assert text and final.stop_reason in ("end_turn", "max_tokens"), final
out["anthropic_stream"] = final.model

r = a.messages.create(
    model=claude,
    max_tokens=256,
    messages=[{"role": "user", "content": "Weather in Paris?"}],
    tools=[{"name": "get_weather", "description": "Weather now", "input_schema": WEATHER}],
    tool_choice={"type": "tool", "name": "get_weather"},
)
calls = [b for b in r.content if b.type == "tool_use"]
assert r.stop_reason == "tool_use" and calls and calls[0].name == "get_weather", r
assert isinstance(calls[0].input, dict), r
# The tool loop's second turn: the result goes back, an answer comes.
r2 = a.messages.create(
    model=claude,
    max_tokens=64,
    messages=[
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [b.model_dump() for b in r.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": calls[0].id, "content": "sunny"}]},
    ],
    tools=[{"name": "get_weather", "description": "Weather now", "input_schema": WEATHER}],
    tool_choice={"type": "none"},
)
assert r2.content, r2
out["anthropic_tool"] = r.model

n = a.messages.count_tokens(model=claude, messages=ask)
assert n.input_tokens > 0, n
out["anthropic_count_tokens"] = n.input_tokens

o = openai.OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0)


def openai_calls(model, tag):
    r = o.chat.completions.create(model=model, max_tokens=64, messages=ask)
    assert r.object == "chat.completion" and r.choices[0].message.content, r
    assert r.usage.completion_tokens > 0, r
    out[tag + "_plain"] = r.model

    chunks = list(
        o.chat.completions.create(
            model=model, max_tokens=64, messages=ask, stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text, chunks
    assert chunks[-1].usage and chunks[-1].usage.completion_tokens > 0, chunks[-1]
    out[tag + "_stream"] = chunks[0].model

    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather now", "parameters": WEATHER}}]
    r = o.chat.completions.create(
        model=model, max_tokens=256, tools=tools, tool_choice="required",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
    )
    call = r.choices[0].message.tool_calls[0]
    assert r.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather", r
    json.loads(call.function.arguments)
    r2 = o.chat.completions.create(
        model=model, max_tokens=64, tools=tools, tool_choice="none",
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            r.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
        ],
    )
    assert r2.choices[0].message.content, r2
    out[tag + "_tool"] = r.model

    # A streamed tool call: the arguments arrive in pieces and assemble to JSON.
    args, name = "", None
    for c in o.chat.completions.create(
        model=model, max_tokens=256, tools=tools, tool_choice="required", stream=True,
        messages=[{"role": "user", "content": "Weather in Rome?"}],
    ):
        for d in (c.choices[0].delta.tool_calls or []) if c.choices else []:
            name = name or (d.function.name if d.function else None)
            args += (d.function.arguments or "") if d.function else ""
    assert name == "get_weather" and isinstance(json.loads(args), dict), (name, args)
    out[tag + "_stream_tool"] = name


openai_calls(gpt, "openai")
# Translation: the OpenAI SDK asking an Anthropic model.
openai_calls(claude, "openai_to_anthropic")

# Translation the other way: the Anthropic SDK asking an OpenAI model, streamed, text
# and a tool call whose input arrives in pieces.
with a.messages.stream(model=gpt, max_tokens=64, messages=ask) as s:
    text = "".join(s.text_stream)
    final = s.get_final_message()
assert text and final.stop_reason in ("end_turn", "max_tokens"), final
assert final.usage.output_tokens > 0, final
out["anthropic_to_openai_stream"] = final.model
with a.messages.stream(
    model=gpt,
    max_tokens=256,
    messages=[{"role": "user", "content": "Weather in Rome?"}],
    tools=[{"name": "get_weather", "description": "Weather now", "input_schema": WEATHER}],
    tool_choice={"type": "tool", "name": "get_weather"},
) as s:
    final = s.get_final_message()
calls = [b for b in final.content if b.type == "tool_use"]
assert final.stop_reason == "tool_use" and calls and isinstance(calls[0].input, dict), final
out["anthropic_to_openai_stream_tool"] = calls[0].name

models = o.models.list()
assert any(m.id == claude for m in models.data), models
out["models"] = sorted(m.id for m in models.data)
print(json.dumps(out))
