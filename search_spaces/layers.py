"""The two building blocks of the paper's code: CBR (conv, BN, PReLU) and CB (conv, BN)."""

from __future__ import annotations

from torch import nn


def conv(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1, dilation: int = 1) -> nn.Conv2d:
    """A bias-free conv with 'same' padding for odd kernels: (k - 1) / 2 * dilation."""
    return nn.Conv2d(
        c_in,
        c_out,
        kernel,
        stride=stride,
        padding=(kernel - 1) // 2 * dilation,
        dilation=dilation,
        groups=groups,
        bias=False,
    )


class CB(nn.Sequential):
    """conv -> BatchNorm."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__()
        self.conv = conv(c_in, c_out, kernel, stride, groups)
        self.bn = nn.BatchNorm2d(c_out)


class CBR(CB):
    """conv -> BatchNorm -> PReLU (one slope per channel)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__(c_in, c_out, kernel, stride, groups)
        self.act = nn.PReLU(c_out)


class BR(nn.Sequential):
    """BatchNorm -> PReLU, applied to the concatenated branches of an EESP unit."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels)
        self.act = nn.PReLU(channels)
