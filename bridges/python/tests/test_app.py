"""The bridge over real HTTP: uvicorn in a thread, httpx as the client."""

import asyncio
import json
import socket
import threading
import time
import unittest

import httpx
import uvicorn

from agentcore_bridge.app import create_app
from agentcore_bridge.standin import AgentCore

TOKEN = "bridge-token"


class RecordingAgent(AgentCore):
    """The stand-in, noting when a run was cancelled (from the server's thread)."""

    def __init__(self):
        super().__init__()
        self.cancelled_at = {}
        self.cancelled_event = threading.Event()

    async def run(self, messages, **ids):
        try:
            async for event in super().run(messages, **ids):
                yield event
        except asyncio.CancelledError:
            self.cancelled_at[ids["message_id"]] = time.monotonic()
            self.cancelled_event.set()
            raise


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def body(text, message_id="m1"):
    return {
        "id": "c1", "messages": [{"id": "u1", "role": "user", "parts": [{"type": "text", "text": text}]}],
        "trigger": "submit-message", "conversation_id": "c1", "user_id": "alice", "message_id": message_id,
    }


def headers(key, **extra):
    return {"authorization": f"Bearer {TOKEN}", "idempotency-key": key, "accept": "text/event-stream", **extra}


def events(text):
    return [line[6:] for line in text.split("\n\n") if line.startswith("data: ")]


class BridgeAppTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.agent = RecordingAgent()
        port = free_port()
        config = uvicorn.Config(create_app(cls.agent, token=TOKEN), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        cls.server = uvicorn.Server(config)
        cls.thread = threading.Thread(target=cls.server.run, daemon=True)
        cls.thread.start()
        while not cls.server.started:
            time.sleep(0.01)
        cls.url = f"http://127.0.0.1:{port}"
        cls.http = httpx.Client(base_url=cls.url, timeout=10)

    @classmethod
    def tearDownClass(cls):
        cls.http.close()
        cls.server.should_exit = True
        cls.thread.join(5)

    def post(self, text, key, message_id="m1", **extra):
        return self.http.post("/v1/agent", json=body(text, message_id), headers=headers(key, **extra))

    def test_answers_a_ui_message_stream_with_the_spec_headers(self):
        res = self.post("calc 6*7", "k-headers", "m-headers")
        self.assertEqual(res.status_code, 200)
        self.assertEqual(res.headers["content-type"], "text/event-stream")
        self.assertEqual(res.headers["x-vercel-ai-ui-message-stream"], "v1")
        self.assertEqual(res.headers["x-resumable"], "true")
        data = events(res.text)
        self.assertEqual(json.loads(data[0]), {"type": "start", "messageId": "m-headers"})
        self.assertEqual(data[-1], "[DONE]")
        self.assertEqual(json.loads(data[-2])["type"], "finish")

    def test_refuses_a_missing_or_wrong_token_and_a_bad_body(self):
        self.assertEqual(self.http.post("/v1/agent", json=body("hi")).status_code, 401)
        wrong = self.http.post("/v1/agent", json=body("hi"), headers={"authorization": "Bearer nope"})
        self.assertEqual(wrong.json()["error"]["code"], "unauthorized")
        bad = self.http.post("/v1/agent", content=b"{not json", headers=headers("k-bad"))
        self.assertEqual((bad.status_code, bad.json()["error"]["code"]), (400, "invalid_request"))
        empty = self.http.post("/v1/agent", json={"messages": []}, headers=headers("k-empty"))
        self.assertEqual(empty.status_code, 400)

    def test_a_retry_of_a_finished_key_replays_the_same_answer_and_resume_from_skips(self):
        first = self.post("!dev words=5", "k-replay", "m-replay").text
        again = self.post("!dev words=5", "k-replay", "m-replay").text
        self.assertEqual(again, first)
        resumed = self.post("!dev words=5", "k-replay", "m-replay", **{"x-resume-from": "4"}).text
        self.assertEqual(events(resumed), events(first)[4:])

    def test_a_retry_of_a_key_in_flight_joins_it_live(self):
        slow = "!dev words=20 delay_ms=20"
        with self.http.stream("POST", "/v1/agent", json=body(slow, "m-join"), headers=headers("k-join")) as first:
            lines = first.iter_lines()
            next(line for line in lines if "text-delta" in line)
            joined = self.post(slow, "k-join", "m-join").text
            rest = "\n\n".join(lines)
        self.assertEqual(events(joined)[-2:], ['{"type":"finish","finishReason":"stop"}', "[DONE]"])
        self.assertEqual(len([e for e in events(joined) if "text-delta" in e]), 20)
        self.assertIn("finish", rest)

    def test_a_client_that_goes_away_cancels_run_within_100_ms_and_its_key_then_refuses_a_resume(self):
        with self.http.stream("POST", "/v1/agent", json=body("!dev words=200 delay_ms=10", "m-gone"), headers=headers("k-gone")) as res:
            next(line for line in res.iter_lines() if "text-delta" in line)
            closed = time.monotonic()
        self.assertTrue(self.agent.cancelled_event.wait(2))
        self.assertLess(self.agent.cancelled_at["m-gone"] - closed, 0.1)
        state = self.http.get("/v1/runs/k-gone", params={"wait": "true"}, headers=headers("k-gone")).json()
        self.assertEqual(state["state"], "cancelled")
        refused = self.post("!dev words=200", "k-gone", "m-gone", **{"x-resume-from": "3"})
        self.assertEqual((refused.status_code, refused.json()["error"]["code"]), (409, "cannot_resume"))
        unknown = self.post("hi", "k-never-seen", **{"x-resume-from": "3"})
        self.assertEqual(unknown.status_code, 409)

    def test_an_exception_in_run_ends_the_stream_with_an_error_after_the_partial_text(self):
        data = [json.loads(e) for e in events(self.post("!dev words=6 fail_after=3", "k-fail", "m-fail").text)[:-1]]
        self.assertEqual("".join(c.get("delta", "") for c in data if c["type"] == "text-delta"), "the stand-in agentcore ")
        self.assertEqual(data[-1]["type"], "error")
        self.assertIn("failed on purpose", data[-1]["errorText"])


if __name__ == "__main__":
    unittest.main()
