"""Settings for the whole suite."""

from __future__ import annotations

import os

try:
    from hypothesis import settings
except ImportError:  # the GPU check machines have no hypothesis; the GPU tests do not need it
    settings = None

# Under CI (CI=true) property tests replay the same examples every run, so a submission's result does not
# depend on the draw; on a developer's machine they keep exploring new examples.
if settings is not None:
    settings.register_profile("ci", derandomize=True, print_blob=True)
    if os.environ.get("CI"):
        settings.load_profile("ci")
