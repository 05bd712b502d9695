"""ResNet encoder (He et al. 2016, basic blocks; one input channel, as in ANIMAL-SPOT) + linear classifier.

Input: spectrogram windows (B, 1, n_freq_bins, T); output: logits (B, n_classes) with class 0 = noise.
Written in plain torch (no torchvision). ``base_width`` 64 gives the standard ResNet-18/34 widths.
"""

from __future__ import annotations

import torch
from torch import nn

BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}


def _shortcut(c_in: int, c_out: int, stride: int) -> nn.Module:
    """A residual block's shortcut: identity, or a strided 1x1 conv-BN projection when the shape changes."""
    if stride != 1 or c_in != c_out:
        return nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
    return nn.Identity()


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 projection) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.short = _shortcut(c_in, c_out, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + self.short(x))


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (``stride``) -> 1x1 conv-BN layers with an identity (or 1x1 projection) shortcut, as
    in ResNet-50/101/152. ``c_mid`` channels inside, ``c_mid * expansion`` out. Not used by
    :class:`CallClassifier`; :mod:`ethoflow.acoustic.models.animal_spot` builds deeper ANIMAL-SPOT encoders with it."""

    expansion = 4

    def __init__(self, c_in: int, c_mid: int, stride: int):
        super().__init__()
        c_out = c_mid * self.expansion
        self.conv1 = nn.Conv2d(c_in, c_mid, 1, 1, 0, bias=False)
        self.bn1 = nn.BatchNorm2d(c_mid)
        self.conv2 = nn.Conv2d(c_mid, c_mid, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_mid)
        self.conv3 = nn.Conv2d(c_mid, c_out, 1, 1, 0, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.short = _shortcut(c_in, c_out, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        y = torch.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return torch.relu(y + self.short(x))


class CallClassifier(nn.Module):
    """ResNet-18/34 encoder (1 channel) -> global average pool -> linear layer (``n_classes`` logits).

    Args:
        n_classes: output classes (noise + targets). depth: 18 or 34. base_width: first-stage channels.
    """

    def __init__(self, n_classes: int, depth: int = 18, base_width: int = 64):
        super().__init__()
        w = base_width
        self.stem = nn.Sequential(
            nn.Conv2d(1, w, 7, 2, 3, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)
        )
        layers, c = [], w
        for i, n in enumerate(BLOCKS[depth]):
            c_out = w * 2**i
            for j in range(n):
                layers.append(BasicBlock(c, c_out, 2 if (j == 0 and i > 0) else 1))
                c = c_out
        self.encoder = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, n_classes)
        self.config = {"n_classes": n_classes, "depth": depth, "base_width": base_width}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.pool(self.encoder(self.stem(x))).flatten(1)
        return self.fc(z)


def target_logit(logits: torch.Tensor) -> torch.Tensor:
    """Log-odds of "any target class" vs noise (class 0): ``logsumexp(logits[:, 1:]) - logits[:, 0]``. Shape (B,)."""
    return torch.logsumexp(logits[:, 1:], dim=1) - logits[:, 0]
