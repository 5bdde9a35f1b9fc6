"""Export's re-profile in a runtime: named, or the search's."""

from __future__ import annotations

from nas.export.reprofile import profile_export
from search_spaces import EESPConfig, build, deploy

TINY = EESPConfig.from_scale(0.5).replace(input_size=(32, 32), depths=(0, 0, 0, 1), num_classes=10)


def test_reprofile_uses_the_searchs_runtime_unless_told():
    deployed = deploy(build(TINY).eval())
    shape = (1, 3, 32, 32)
    search = {"search_settings": {"measure_threads": 1, "runtime": "onnxruntime"}, "config_json": TINY.to_json()}
    got = profile_export(deployed, shape, "cpu", search, enabled=True, budget_s=0.2)
    assert got["runtime"] == "onnxruntime"
    assert got["deployed"]["latency"]["fingerprint"]["runtime"] == "onnxruntime"
    assert got["deployed"]["form"].startswith("onnxruntime runtime")
    got = profile_export(deployed, shape, "cpu", None, enabled=True, budget_s=0.2, runtime="eager")
    assert got["deployed"]["latency"]["fingerprint"]["runtime"] == "eager"
    got = profile_export(deployed, shape, "cpu", None, enabled=True, budget_s=0.2)
    assert got["runtime"] == "deploy" and "runtime" not in got["deployed"]["latency"]["fingerprint"]
