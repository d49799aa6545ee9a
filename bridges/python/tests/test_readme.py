"""The README's snippet runs as written: it exposes a fake existing AgentCore through the bridge."""

import asyncio
import os
import re
import sys
import types
import unittest
from pathlib import Path

from agentcore_bridge.adapter import ui_chunks


class Step:
    def __init__(self, kind, **fields):
        self.kind = kind
        self.__dict__.update(fields)


class FakeAgentCore:
    async def run(self, messages, *, conversation_id, user_id):
        yield Step("tool_call", id="t1", name="lookup", arguments={"q": "x"})
        yield Step("tool_result", id="t1", result={"found": True}, ok=True)
        yield Step("text", text="Found it.")


class ReadmeTest(unittest.TestCase):
    def test_the_snippet_exposes_the_existing_agentcore(self):
        readme = (Path(__file__).parent.parent / "README.md").read_text()
        snippet = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
        sys.modules["existing_agentcore"] = types.SimpleNamespace(AgentCore=FakeAgentCore)
        os.environ["AGENTCORE_TOKEN"] = "readme-token"
        scope = {}
        exec(compile(snippet, "README.md", "exec"), scope)
        self.assertEqual([r.path for r in scope["app"].routes if r.path.startswith("/v1")], ["/v1/agent", "/v1/runs/{key}"])

        async def chunks():
            bridged = scope["BridgedAgentCore"](FakeAgentCore())
            events = bridged.run([], conversation_id="c", user_id="u", message_id="m")
            return [c async for c in ui_chunks(events)]

        types_ = [c["type"] for c in asyncio.run(chunks())]
        self.assertIn("tool-output-available", types_)
        self.assertEqual(types_[-1], "finish")


if __name__ == "__main__":
    unittest.main()
