"""Settings for the whole suite."""

from __future__ import annotations

import os

from hypothesis import settings

# Under CI (CI=true) property tests replay the same examples every run, so a submission's result does not
# depend on the draw; on a developer's machine they keep exploring new examples.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
