"""The read-only reference modules of ``../shared/bench/`` (``portfolio.py``: the catalog
generator and the hand-written loop), for the benches here. ``LAPSE_PORTFOLIO_DIR`` (or
``LAPSE_FLOOR_DIR``) names another folder holding them."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = Path(os.environ.get("LAPSE_PORTFOLIO_DIR") or os.environ.get("LAPSE_FLOOR_DIR")
                  or ROOT.parent / "shared" / "bench")


def load_portfolio() -> ModuleType:
    """``../shared/bench/portfolio.py``, loaded by path under another name: ``import portfolio``
    from this folder would find bench/portfolio.py instead."""
    path = SHARED_DIR / "portfolio.py"
    spec = importlib.util.spec_from_file_location("shared_portfolio", path)
    if spec is None or spec.loader is None or not path.is_file():
        sys.exit(f"no {path}: set LAPSE_PORTFOLIO_DIR to the folder holding the shared portfolio.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module
