"""transcripts/ is a leaf package: reading, checking or drawing a transcript loads no engine and no SDK."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import transcripts

MODULES = sorted(f"transcripts.{m.name}" for m in pkgutil.iter_modules(transcripts.__path__))
ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
engine = ("hch", "openai", "operators", "commands", "cli")
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in engine)))
"""


def test_every_module_of_the_package_is_checked() -> None:
    # A new module is picked up by listing the package, not by editing this test.
    assert {"transcripts.reader", "transcripts.show", "transcripts.writer", "transcripts.html"} <= set(MODULES)


@pytest.mark.parametrize("module", ["transcripts", *MODULES])
def test_importing_it_in_a_fresh_process_loads_nothing_from_the_engine(module: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, module], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [], f"{module} loads the engine"
