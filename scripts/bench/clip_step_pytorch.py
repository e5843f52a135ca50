#!/usr/bin/env python3
"""PyTorch's time for one optimisation step's CLIP ViT-B/32 work, for comparison with
`clipascene bench encoder --encoder clip-vit-b32` (developer machine only; needs torch).

Same work as the Swift bench: 1 clean + 4 augmented sketch copies forward to block L and
backward to the input, 4 target copies forward; random weights in the
official layout (torch.nn.MultiheadAttention, QuickGELU MLP, pre-LN blocks). Prints
seconds per step (best of 5) for blocks 2, 8 and 11. Usage: [threads] [--trainable]
(see encoder_step.py); `clipascene bench encoder --encoder clip-vit-b32 --pytorch` runs it.
"""
import torch
import torch.nn as nn

from encoder_step import options, set_trainable, time_steps

threads, trainable = options()
W, HEADS, LAYERS, PATCH, RES = 768, 12, 12, 32, 224


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(W), nn.LayerNorm(W)
        self.attn = nn.MultiheadAttention(W, HEADS)
        self.c_fc, self.c_proj = nn.Linear(W, 4 * W), nn.Linear(4 * W, W)

    def forward(self, x):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        u = self.c_fc(self.ln_2(x))
        return x + self.c_proj(u * torch.sigmoid(1.702 * u))


class Tower(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, W, PATCH, PATCH, bias=False)
        self.cls = nn.Parameter(torch.randn(W) * W ** -0.5)
        self.pos = nn.Parameter(torch.randn((RES // PATCH) ** 2 + 1, W) * W ** -0.5)
        self.ln_pre = nn.LayerNorm(W)
        self.blocks = nn.ModuleList([Block() for _ in range(LAYERS)])

    def forward(self, x, depth):
        x = self.conv1(x).flatten(2).permute(0, 2, 1)
        x = torch.cat([self.cls.expand(x.shape[0], 1, W), x], 1) + self.pos
        x = self.ln_pre(x).permute(1, 0, 2)
        for i in range(depth + 1):
            x = self.blocks[i](x)
        return x.permute(1, 0, 2)


tower = Tower().eval()
set_trainable(tower, trainable)
time_steps(tower, (2, 8, 11), threads, resolution=RES, trainable=trainable)
