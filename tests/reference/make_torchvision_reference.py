#!/usr/bin/python3
"""Regenerates the torchvision reference data used by tests/models/test_torchvision.cpp.

Run with Debian's python3-torchvision (torchvision 0.14): /usr/bin/python3 make_torchvision_reference.py
The tests never need PyTorch; they read what this script writes:

  torchvision_keys/<name>.txt   the state-dict of torchvision.models.<name>(): one line per
                                tensor, "key d0,d1,..." in state-dict order (a 0-d tensor is
                                the key alone).
  tv_input.npy                  a [2, 3, 114, 114] float32 input given by the formula below.
  <name>_logits.npy             eval-mode logits [2, 1000] of <name> for that input, with every
                                parameter and buffer filled by the formula below.

The formula (also written in test_torchvision.cpp) depends only on the tensor's state-dict
name, its shape and the flat element index i:

  h = FNV-1a 32-bit hash of the name's bytes
  x = fmix32(h xor (i * 0x9E3779B1 mod 2^32))          (MurmurHash3's finaliser)
  r = 2 * x / 2^32 - 1                                 (in [-1, 1), computed in double)
  "*.weight" with >= 2 dims:  r * sqrt(6 / fan_in),  fan_in = prod(shape[1:])
  "*.weight" with 1 dim (BN): 1 + 0.25 r
  "*.bias":                   0.1 r
  "*.running_mean":           0.1 r
  "*.running_var":            1 + 0.25 r               (always positive)
  "*.num_batches_tracked":    0
  the input ("input"):        r
each rounded to float32. The reference forward runs in float64 on those float32 values, so
the only error left in the comparison is the C++ side's float32 arithmetic.

114x114 keeps the files small and makes several ceil-mode max-pools (SqueezeNet, GoogLeNet)
round up, so a missing ceil_mode changes the logits.
"""
import os

import numpy as np
import torch
import torchvision.models as tvm

HERE = os.path.dirname(os.path.abspath(__file__))

NAMES = [
    "alexnet",
    "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
    "googlenet", "inception_v3",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "wide_resnet50_2", "resnext50_32x4d", "resnext101_32x8d",
    "squeezenet1_0", "squeezenet1_1",
    "densenet121", "densenet161", "densenet169", "densenet201",
]
NUMERIC = ["resnet18", "densenet121", "squeezenet1_1", "googlenet", "inception_v3"]
INPUT_SHAPE = (2, 3, 114, 114)
M32 = 0xFFFFFFFF


def build(name):
    kwargs = {"weights": None}
    if name in ("googlenet", "inception_v3"):
        # Without ImageNet weights transform_input defaults to False; say it anyway. Skip
        # torchvision's slow truncated-normal init: every tensor is overwritten below.
        kwargs.update(aux_logits=True, transform_input=False, init_weights=False)
    return getattr(tvm, name)(**kwargs)


def fnv1a32(s):
    h = 2166136261
    for b in s.encode():
        h = ((h ^ b) * 16777619) & M32
    return h


def unit(name, n):
    """r in [-1, 1) for element indices 0..n-1 of the tensor called name (float64)."""
    i = np.arange(n, dtype=np.uint64)
    x = (np.uint64(fnv1a32(name)) ^ ((i * np.uint64(0x9E3779B1)) & np.uint64(M32)))
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x85EBCA6B)) & np.uint64(M32)
    x ^= x >> np.uint64(13)
    x = (x * np.uint64(0xC2B2AE35)) & np.uint64(M32)
    x ^= x >> np.uint64(16)
    return 2.0 * (x.astype(np.float64) / 4294967296.0) - 1.0


def fill_value(name, shape):
    n = int(np.prod(shape)) if len(shape) else 1
    if name.endswith("num_batches_tracked"):
        return np.zeros(shape, dtype=np.float32)
    r = unit(name, n)
    if name.endswith("running_var"):
        v = 1.0 + 0.25 * r
    elif name.endswith("running_mean") or name.endswith("bias"):
        v = 0.1 * r
    elif name.endswith("weight") and len(shape) >= 2:
        v = r * np.sqrt(6.0 / int(np.prod(shape[1:])))
    elif name.endswith("weight"):
        v = 1.0 + 0.25 * r
    elif name == "input":
        v = r
    else:
        raise ValueError("no formula for " + name)
    return v.astype(np.float32).reshape(shape)


def write_npy(path, a):
    np.save(path, np.ascontiguousarray(a, dtype=np.float32))


def main():
    keydir = os.path.join(HERE, "torchvision_keys")
    os.makedirs(keydir, exist_ok=True)
    for name in NAMES:
        model = build(name)
        with open(os.path.join(keydir, name + ".txt"), "w") as f:
            for k, v in model.state_dict().items():
                dims = ",".join(str(d) for d in v.shape)
                f.write(k + (" " + dims if dims else "") + "\n")
        nparams = sum(p.numel() for p in model.parameters())
        print(f"{name:18s} {nparams:>12,d} parameters, {len(model.state_dict())} tensors")

    x = fill_value("input", INPUT_SHAPE)
    write_npy(os.path.join(HERE, "tv_input.npy"), x)
    torch.set_grad_enabled(False)
    for name in NUMERIC:
        model = build(name).double().eval()
        for k, t in model.state_dict().items():
            if k.endswith("num_batches_tracked"):
                t.zero_()
            else:
                t.copy_(torch.from_numpy(fill_value(k, tuple(t.shape)).astype(np.float64)))
        y = model(torch.from_numpy(x.astype(np.float64))).numpy()
        write_npy(os.path.join(HERE, name + "_logits.npy"), y)
        print(f"{name:18s} logits {y.shape}, max |logit| {np.abs(y).max():.4g}, std {y.std():.4g}")


if __name__ == "__main__":
    main()
