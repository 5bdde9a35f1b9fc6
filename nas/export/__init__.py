"""Export: a chosen config (a preset, a spec or a search's trial) -> a trained, checked, deployable directory.

`export(...) -> ExportResult` (`nas.export.pipeline`) selects, trains (`final_training`), writes and checks each
format (`formats`), re-profiles (`reprofile`) and writes the model card (`model_card`); `layout` owns the export
directory's file names and manifest; `loading` reads a directory back (`nas.load`, never unpickles). Importing
this package needs only the standard library.
"""

from __future__ import annotations

from nas.export.loading import load
from nas.export.pipeline import ExportResult, export, select_trial

__all__ = ["ExportResult", "export", "load", "select_trial"]
