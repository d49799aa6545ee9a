import json
import unittest

from agentcore_bridge.ui_stream import DONE, HEADERS, UIMessageStream, encode


def types(chunks):
    return [c["type"] for c in chunks]


class UIMessageStreamTest(unittest.TestCase):
    def test_a_text_part_is_started_before_its_deltas_and_ended_before_the_next_part(self):
        s = UIMessageStream("m1")
        chunks = s.start() + s.text("Hel") + s.text("lo") + s.reasoning("hmm") + s.text("!") + s.finish()
        self.assertEqual(chunks[0], {"type": "start", "messageId": "m1"})
        self.assertEqual(
            types(chunks),
            [
                "start", "start-step", "text-start", "text-delta", "text-delta", "text-end",
                "reasoning-start", "reasoning-delta", "reasoning-end", "text-start", "text-delta", "text-end",
                "finish-step", "finish",
            ],
        )
        ids = [c["id"] for c in chunks if c["type"].startswith("text-")]
        self.assertEqual(ids, ["text-1"] * 4 + ["text-3"] * 3)

    def test_tool_chunks_close_the_open_text_and_carry_the_protocol_fields(self):
        s = UIMessageStream()
        chunks = (
            s.text("Let me check.")
            + s.tool_input_start("c1", "calculator")
            + s.tool_input_delta("c1", '{"expression":')
            + s.tool_input_available("c1", "calculator", {"expression": "1+1"})
            + s.tool_output_available("c1", {"result": "2"})
            + s.tool_output_error("c2", "no such tool")
        )
        self.assertEqual(types(chunks)[2:4], ["text-delta", "text-end"])
        self.assertIn({"type": "tool-input-delta", "toolCallId": "c1", "inputTextDelta": '{"expression":'}, chunks)
        self.assertIn(
            {"type": "tool-input-available", "toolCallId": "c1", "toolName": "calculator", "input": {"expression": "1+1"}},
            chunks,
        )
        self.assertEqual(chunks[-1], {"type": "tool-output-error", "toolCallId": "c2", "errorText": "no such tool"})

    def test_data_metadata_error_and_finish(self):
        s = UIMessageStream()
        self.assertEqual(s.data("chart", {"x": 1}, "d1", transient=True), [
            {"type": "data-chart", "data": {"x": 1}, "id": "d1", "transient": True}
        ])
        self.assertEqual(s.metadata({"model": "m"}), [{"type": "message-metadata", "messageMetadata": {"model": "m"}}])
        self.assertEqual(types(s.text("partial") + s.error("boom")), ["start-step", "text-start", "text-delta", "text-end", "error"])
        self.assertEqual(s.finish("length", {"usage": 3})[-1], {"type": "finish", "finishReason": "length", "messageMetadata": {"usage": 3}})

    def test_sse_framing_and_headers(self):
        self.assertEqual(encode({"type": "text-delta", "id": "t", "delta": "é\n"}), 'data: {"type":"text-delta","id":"t","delta":"é\\n"}\n\n'.encode())
        self.assertEqual(json.loads(encode({"a": 1})[6:]), {"a": 1})
        self.assertEqual(DONE, b"data: [DONE]\n\n")
        self.assertEqual(HEADERS["content-type"], "text/event-stream")
        self.assertEqual(HEADERS["x-vercel-ai-ui-message-stream"], "v1")


if __name__ == "__main__":
    unittest.main()
