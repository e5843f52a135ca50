#!/usr/bin/env python3
"""PyTorch's time for one optimisation step's EfficientNet-Lite0 work, for comparison with
`clipascene bench encoder` (developer machine only; needs torch and
efficientnet-lite-pytorch==0.1.0, the package the golden fixtures come from).

Same work as the Swift bench: 1 clean + 4 augmented sketch copies forward through block L
and backward to the input, 4 target copies forward; 224² inputs, the
pinned ImageNet weights. Prints seconds per step (best of 5) for blocks 1, 3 and 6.
Usage: [threads] [--trainable] (see encoder_step.py); `clipascene bench encoder --pytorch`
runs it.
"""
import os

import torch
from efficientnet_lite_pytorch import EfficientNet

from encoder_step import options, set_trainable, time_steps

threads, trainable = options()
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
WEIGHTS = os.path.join(ROOT, "checkpoint", "efficientnet-lite0", "efficientnet-lite0-57934424.pth")

model = EfficientNet.from_name("efficientnet-lite0")
model.load_state_dict(torch.load(WEIGHTS, map_location="cpu"), strict=False)
model.eval()
set_trainable(model, trainable)


def run(inp, depth):
    h = model._swish(model._bn0(model._conv_stem(inp)))
    for block in model._blocks[:depth + 1]:
        h = block(h)
    return h


time_steps(run, (1, 3, 6), threads, trainable=trainable)
