"""`python3 -m agentcore_bridge`: the bridge in front of the stand-in AgentCore.

HOST (127.0.0.1), PORT (8790), AGENTCORE_TOKEN (the bearer token agent-chat sends; empty: no check),
AGENTCORE_DETACH_GRACE_S (0: a client that goes away cancels the run at once).
"""

import os

import uvicorn

from .app import create_app
from .standin import AgentCore


def main() -> None:
    app = create_app(
        AgentCore(),
        token=os.environ.get("AGENTCORE_TOKEN") or None,
        detach_grace=float(os.environ.get("AGENTCORE_DETACH_GRACE_S", "0")),
    )
    uvicorn.run(app, host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8790")), log_level="warning")


if __name__ == "__main__":
    main()
