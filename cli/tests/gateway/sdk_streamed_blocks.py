"""The official Anthropic SDK asks the gateway one question with thinking and the web
search server tool, plain and streamed (`messages.stream`, its accumulated final
message).

Usage: sdk_streamed_blocks.py GATEWAY_URL MODEL
Prints one JSON object: the content blocks of each answer, as the SDK dumps them.
"""

import json
import sys

import anthropic

url, model = sys.argv[1], sys.argv[2]
client = anthropic.Anthropic(base_url=url, api_key="unused", max_retries=0)
ask = dict(
    model=model,
    max_tokens=2048,
    thinking={"type": "enabled", "budget_tokens": 1024},
    tools=[{"type": "web_search_20250305", "name": "web_search", "max_uses": 1}],
    messages=[{"role": "user", "content": "When was Claude Shannon born?"}],
)
plain = client.messages.create(**ask)
with client.messages.stream(**ask) as stream:
    streamed = stream.get_final_message()
dump = lambda m: [b.model_dump(mode="json", exclude_none=True) for b in m.content]
print(json.dumps({"plain": dump(plain), "streamed": dump(streamed)}))
