"""The demo province generator (`shuyun demo generate`): a deterministic, fictional province of county
library systems delivering every feed of docs/feeds.md, with injected faults and an exact manifest.

Public interface::

    from shuyun.demo import Params, preset, generate
    manifest = generate(preset("test"), out_dir)      # same params → byte-identical files
"""

from .generator import FAULTS, GenerateError, generate
from .params import PRESETS, Params, preset

__all__ = ["FAULTS", "PRESETS", "GenerateError", "Params", "generate", "preset"]
