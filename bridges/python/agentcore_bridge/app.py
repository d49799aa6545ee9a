"""The bridge endpoint (agent-chat SPEC §6) on FastAPI: POST /v1/agent answers a UI message stream.

- Authorization: `Bearer <token>` when a token is set, else 401.
- Idempotency-Key: a retry of a finished key replays the same chunks; a retry of a key still in flight joins it
  live (it is never refused: a restarted client resuming its reply is exactly such a retry). Kept 10 minutes.
- X-Resume-From: n starts the answer at the run's chunk n (the chunks the client already has are skipped).
  Every answer says `X-Resumable: true`. A key whose run was cancelled, or that is unknown while n > 0, is 409.
- The client going away (disconnect, or agent-chat's stop) cancels run() at once (within one event-loop turn),
  unless `detach_grace` gives a restarted client that long to come back first.
"""

from __future__ import annotations

import hmac
import uuid
from typing import Any, AsyncIterator, Dict, List, Optional, Protocol

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ValidationError, validator

from .adapter import Event, ui_chunks
from .runs import CANCELLED, RUNNING, RunStore
from .ui_stream import DONE, HEADERS, encode


class AgentLike(Protocol):
    def run(
        self, messages: List[Dict[str, Any]], *, conversation_id: str, user_id: str, message_id: str
    ) -> AsyncIterator[Event]: ...


class BridgeRequest(BaseModel):
    """The AI SDK chat request (id, messages, trigger) plus agent-chat's ids."""

    id: Optional[str] = None
    messages: List[Dict[str, Any]]
    trigger: str = "submit-message"
    conversation_id: Optional[str] = None
    user_id: Optional[str] = None
    message_id: Optional[str] = None

    @validator("messages")
    def _not_empty(cls, messages: List[Dict[str, Any]]) -> List[Dict[str, Any]]:  # noqa: N805
        if not messages or not all(isinstance(m.get("role"), str) and isinstance(m.get("parts"), list) for m in messages):
            raise ValueError("messages must be a non-empty list of UIMessages ({id, role, parts})")
        return messages


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def create_app(agent: AgentLike, token: Optional[str] = None, ttl: float = 600.0, detach_grace: float = 0.0) -> FastAPI:
    app = FastAPI(title="AgentCore bridge", docs_url=None, redoc_url=None, openapi_url=None)
    runs = RunStore(ttl=ttl, detach_grace=detach_grace)
    app.state.runs = runs

    def authorized(request: Request) -> bool:
        if not token:
            return True
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())

    @app.get("/healthz")
    async def healthz() -> Dict[str, str]:
        return {"status": "ok", "agent": "python-bridge"}

    @app.post("/v1/agent")
    async def answer(request: Request):
        if not authorized(request):
            return error(401, "unauthorized", "missing or wrong bearer token")
        try:
            body = BridgeRequest.parse_obj(await request.json())
        except ValidationError as invalid:
            return error(400, "invalid_request", str(invalid).replace("\n", " "))
        except ValueError:
            return error(400, "invalid_request", "the body is not JSON")
        key = request.headers.get("idempotency-key") or body.message_id or str(uuid.uuid4())
        resume_from = request.headers.get("x-resume-from", "0")
        if not resume_from.isdigit():
            return error(400, "invalid_request", "X-Resume-From must be a whole number")
        start = int(resume_from)
        run = runs.get(key)
        if run is not None and run.state == CANCELLED:
            return error(409, "cannot_resume", "this run was cancelled when its client went away")
        if run is None:
            if start > 0:
                return error(409, "cannot_resume", "no run is kept under this Idempotency-Key")
            events = agent.run(
                body.messages,
                conversation_id=body.conversation_id or body.id or "",
                user_id=body.user_id or "",
                message_id=body.message_id or key,
            )
            run = runs.start(key, ui_chunks(events, body.message_id))

        async def stream() -> AsyncIterator[bytes]:
            async for chunk in run.follow(start):
                yield encode(chunk)
            yield DONE

        return StreamingResponse(stream(), headers={**HEADERS, "x-resumable": "true"})

    @app.get("/v1/runs/{key}")
    async def run_state(key: str, request: Request, wait: bool = False):
        """A run's state and chunk count; `?wait=true` answers once it has ended (for tests and operators)."""
        if not authorized(request):
            return error(401, "unauthorized", "missing or wrong bearer token")
        run = runs.get(key)
        if run is None:
            return error(404, "not_found", "no run is kept under this key")
        if wait and run.state == RUNNING:
            await run.ended()
        return {"state": run.state, "chunks": len(run.chunks)}

    return app
