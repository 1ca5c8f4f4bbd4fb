"""Leaf operators (no operator calls): never compiled, called directly."""

from __future__ import annotations

import time
from typing import Any

from emberjit import Operator


class Tag(Operator[Any, dict[str, Any]]):
    """``{"text": ...}`` -> ``{"text": "<label>(text)"}``, after ``delay`` seconds."""

    def __init__(self, label: str, delay: float = 0.0) -> None:
        self.label = label
        self.delay = delay

    def forward(self, inputs: Any) -> dict[str, Any]:
        if self.delay:
            time.sleep(self.delay)
        return {"text": f"{self.label}({inputs['text']})"}


class Join(Operator[dict[str, Any], dict[str, Any]]):
    """``{"parts": [{"text": ...}, ...]}`` -> ``{"text": "a+b+..."}``."""

    def forward(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return {"text": "+".join(p["text"] for p in inputs["parts"])}


class Fail(Operator[Any, Any]):
    """Always raises ``ValueError``."""

    def forward(self, inputs: Any) -> Any:
        raise ValueError(f"Fail got {inputs!r}")
