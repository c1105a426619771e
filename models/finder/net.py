"""CardSegNet: a tiny encoder–decoder that marks card pixels and card outlines.

Two output channels (logits): 0 = card surface, 1 = a thin band along each card's outline. The band
separates cards that lie close together (binder pages); the finder turns the blobs into quads and
refines them on the full-resolution image. About 60 k parameters, fully convolutional (input sides
must be multiples of 16).
"""

from __future__ import annotations

import torch
from torch import nn


def _block(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class CardSegNet(nn.Module):
    def __init__(self, width: int = 8) -> None:
        super().__init__()
        c1, c2, c3, c4 = width, 2 * width, 4 * width, 6 * width
        self.enc1 = _block(3, c1, 2)  # /2: kept thin, it runs on the most pixels
        self.enc2 = nn.Sequential(_block(c1, c2, 2), _block(c2, c2))  # /4
        self.enc3 = nn.Sequential(_block(c2, c3, 2), _block(c3, c3))  # /8
        self.enc4 = nn.Sequential(  # /16 with a wide receptive field: a card may fill the frame
            _block(c3, c4, 2), _block(c4, c4, dilation=2), _block(c4, c4, dilation=4)
        )
        self.up3 = _block(c4 + c3, c3)
        self.up2 = _block(c3 + c2, c2)
        self.up1 = _block(c2 + c1, c1)
        self.head = nn.Conv2d(c1, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        e4 = self.enc4(e3)
        d3 = self.up3(torch.cat([nn.functional.interpolate(e4, scale_factor=2.0, mode="bilinear"), e3], 1))
        d2 = self.up2(torch.cat([nn.functional.interpolate(d3, scale_factor=2.0, mode="bilinear"), e2], 1))
        d1 = self.up1(torch.cat([nn.functional.interpolate(d2, scale_factor=2.0, mode="bilinear"), e1], 1))
        return self.head(d1)  # logits at half the input resolution
