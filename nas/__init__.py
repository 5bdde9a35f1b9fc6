"""espnas: hardware-aware architecture search for EESP (ESPNetv2) networks.

The top of the package: data, training, search, export and the `espnas` command.

    model = nas.load("exports/0123abcd4567")   # an exported, trained model, in eval mode
    result = nas.export("espnetv2-0.5", data="digits", epochs=1)

Importing `nas` is cheap on purpose (the CLI starts with it): `nas.load` and `nas.export` import only the
standard library at module level and pull in torch, safetensors and the rest when first called. They are
imported eagerly here, not through a lazy `__getattr__`, because the modules share the functions' names: a later
`import nas.load` would otherwise leave the attribute `nas.load` bound to the module instead of the function.
"""

from __future__ import annotations

from nas.export import ExportResult, export
from nas.load import load

__all__ = ["ExportResult", "export", "load"]
