import asyncio
import unittest

from agentcore_bridge.adapter import Data, Metadata, ReasoningDelta, TextDelta, ToolCall, ToolError, ToolResult, ui_chunks
from agentcore_bridge.standin import AgentCore


async def collect(events, message_id=None):
    return [c async for c in ui_chunks(events, message_id)]


async def from_list(items, fail=None):
    for item in items:
        yield item
    if fail is not None:
        raise fail


def types(chunks):
    return [c["type"] for c in chunks]


class AdapterTest(unittest.IsolatedAsyncioTestCase):
    async def test_text_reasoning_and_metadata_between_start_and_finish(self):
        chunks = await collect(from_list([Metadata({"model": "x"}), ReasoningDelta("hm"), TextDelta("Hi "), TextDelta("there")]), "m1")
        self.assertEqual(chunks[0], {"type": "start", "messageId": "m1"})
        self.assertEqual(
            types(chunks),
            ["start", "start-step", "message-metadata", "reasoning-start", "reasoning-delta", "reasoning-end",
             "text-start", "text-delta", "text-delta", "text-end", "finish-step", "finish"],
        )

    async def test_a_tool_call_and_its_result_then_text_in_a_new_step(self):
        chunks = await collect(from_list([
            ToolCall("c1", "calculator", {"expression": "6*7"}), ToolResult("c1", {"result": "42"}),
            ToolCall("c2", "clock", {}), ToolError("c2", "no clock"), TextDelta("42"), Data("note", [1]),
        ]))
        self.assertEqual(
            types(chunks),
            ["start", "start-step", "tool-input-start", "tool-input-available", "tool-output-available",
             "tool-input-start", "tool-input-available", "tool-output-error", "finish-step", "start-step",
             "text-start", "text-delta", "data-note", "text-end", "finish-step", "finish"],
        )

    async def test_an_exception_in_run_ends_with_an_error_after_the_partial_text_and_no_finish(self):
        chunks = await collect(from_list([TextDelta("half ")], fail=RuntimeError("the model fell over")))
        self.assertEqual(types(chunks)[-3:], ["text-delta", "text-end", "error"])
        self.assertEqual(chunks[-1]["errorText"], "the model fell over")
        self.assertNotIn("finish", types(chunks))

    async def test_an_event_that_is_not_a_bridge_event_is_an_error_naming_it(self):
        chunks = await collect(from_list(["plain string"]))
        self.assertEqual(chunks[-1], {"type": "error", "errorText": "AgentCore.run() yielded str, which is not a bridge event"})

    async def test_cancelling_the_consumer_cancels_run(self):
        agent = AgentCore()
        events = agent.run([{"role": "user", "parts": [{"type": "text", "text": "!dev words=50 delay_ms=20"}]}],
                           conversation_id="c", user_id="u", message_id="m-cancel")

        async def consume():
            async for _ in ui_chunks(events):
                pass

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0.05)
        task.cancel()
        with self.assertRaises(asyncio.CancelledError):
            await task
        self.assertEqual(agent.cancelled, ["m-cancel"])

    async def test_the_stand_in_runs_its_calculator_and_fails_on_purpose(self):
        agent = AgentCore()
        run = lambda text: collect(agent.run([{"role": "user", "parts": [{"type": "text", "text": text}]}],
                                             conversation_id="c", user_id="u", message_id="m"))
        calc = await run("calc 2^10")
        self.assertIn({"type": "tool-output-available", "toolCallId": "calc-m", "output": {"result": "1024"}}, calc)
        self.assertEqual("".join(c.get("delta", "") for c in calc if c["type"] == "text-delta"), "The result of 2^10 is 1024.")
        bad = await run("calc __import__('os')")
        self.assertEqual(types(bad).count("tool-output-error"), 1)
        failed = await run("!dev words=5 fail_after=2")
        self.assertEqual(types(failed).count("text-delta"), 2)
        self.assertIn("failed on purpose", failed[-1]["errorText"])


if __name__ == "__main__":
    unittest.main()
