"""The response class of every route of ``vertex-track serve``."""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse

__all__ = ["WireJSONResponse"]


class WireJSONResponse(JSONResponse):
    """Compact UTF-8 JSON; the response class of every route of the server."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
