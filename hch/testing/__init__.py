"""Test doubles that ship with hch, for tests, benchmarks and your own experiments.

Like pydantic-ai's ``TestModel``/``FunctionModel``: parts that behave like the real
ones, so a tree built from them runs through the engine unchanged.

- :mod:`hch.testing.models`: base models and overseers with known behaviour
  (:class:`CountingLeaf`, :class:`FunctionModel`, :class:`RandomOverseer`,
  :class:`FanOut`, :class:`LLMLeaf`) and a scripted chat client
  (:class:`ScriptedChat`) for unit tests of LLM overseers.
- :mod:`hch.testing.policies`: answer policies for the fault server that speak the
  LLM overseer's protocol (:class:`BranchingPolicy`: an LLM tree of known shape).
- :mod:`hch.testing.fault_server`: a real OpenAI-compatible HTTP server on
  127.0.0.1 that injects faults (429, 500, malformed bodies, stalls, latency,
  401/404), for testing and measuring the model-call path over real HTTP::

      from hch.testing import FanOut, FaultConfig, FaultServer, LLMLeaf

      with FaultServer(FaultConfig(latency_s=0.05)) as server:
          settings = LLMSettings(base_url=server.base_url, model=server.model)
          async with LLMClient(settings) as client:
              await run_question(hch_tree(FanOut(3), LLMLeaf(client), 5), "q", transcript=path)

Importing this package imports neither openai nor an HTTP client.
"""

from hch.testing.fault_server import ADVERSARIAL_TEXT, FaultConfig, FaultServer
from hch.testing.models import (
    ChatCall,
    CountingLeaf,
    FanOut,
    FunctionModel,
    LLMLeaf,
    RandomOverseer,
    ScriptedChat,
)
from hch.testing.policies import BranchingPolicy, request_key

__all__ = [
    "ADVERSARIAL_TEXT",
    "BranchingPolicy",
    "ChatCall",
    "CountingLeaf",
    "FanOut",
    "FaultConfig",
    "FaultServer",
    "FunctionModel",
    "LLMLeaf",
    "RandomOverseer",
    "ScriptedChat",
    "request_key",
]
