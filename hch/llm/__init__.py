"""Model calls: settings, the per-run client (playback, cache, retries, concurrency), the call cache.

The names below are loaded on first use (PEP 562): ``import hch.llm.settings``
does not load the OpenAI SDK; ``from hch.llm import LLMClient`` does.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hch.llm.cache import CacheStats, CallCache
    from hch.llm.client import LLMClient
    from hch.llm.errors import ModelCallError
    from hch.llm.settings import LLMSettings

_WHERE = {
    "CacheStats": "hch.llm.cache",
    "CallCache": "hch.llm.cache",
    "LLMClient": "hch.llm.client",
    "ModelCallError": "hch.llm.errors",
    "LLMSettings": "hch.llm.settings",
}
"""Where each public name lives."""

__all__ = [
    "CacheStats",
    "CallCache",
    "LLMClient",
    "LLMSettings",
    "ModelCallError",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'hch.llm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})
