"""Search-space samples shared by the search tests."""

# The paper's s = 1.0 model as a flat sample of the shipped space (nas/spaces/paper.toml).
PAPER_SAMPLE = {
    "scale": 1.0,
    "depth_L3": 3,
    "depth_L4": 7,
    "depth_L5": 3,
    "reduce_groups": "K",
    "dilation_caps": "13,11,9,7,5",
    "hff": True,
    "input_shortcut": True,
}
