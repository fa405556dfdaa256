"""Model calls: settings, the per-run client (playback, cache, retries, concurrency), the call cache."""

from hch.llm.cache import CacheStats, CallCache
from hch.llm.client import LLMClient
from hch.llm.errors import ModelCallError
from hch.llm.settings import LLMSettings

__all__ = ["CacheStats", "CallCache", "LLMClient", "LLMSettings", "ModelCallError"]
