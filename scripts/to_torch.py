#!/usr/bin/python3
"""Writes a cnnzoo weights file as a PyTorch state dict (.pth) that torchvision's model of the
same name loads with load_state_dict(strict=True).

  to_torch.py WEIGHTS.safetensors --output OUT.pth [--check]

--check loads the result into torchvision's model named in the file (torchvision names only).
Needs only Debian's python3-torch (and python3-torchvision for --check).
"""
import argparse
import json
import os
import struct
import sys
import tempfile

DTYPES = {"F32": ("<f4", 4), "F64": ("<f8", 8), "I64": ("<i8", 8), "I32": ("<i4", 4)}


class ConversionError(Exception):
    pass


def read_safetensors(path):
    """({name: numpy array}, metadata) of a safetensors file, in data order."""
    import numpy as np
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ConversionError(f"{path}: too short for a safetensors file")
    n = struct.unpack("<Q", raw[:8])[0]
    if n > min(len(raw) - 8, 100 << 20):
        raise ConversionError(f"{path}: header length {n} runs past the end of the file")
    try:
        header = json.loads(raw[8:8 + n])
    except ValueError as e:
        raise ConversionError(f"{path}: header is not JSON ({e})")
    meta = header.pop("__metadata__", {})
    data, tensors = raw[8 + n:], {}
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        if e["dtype"] not in DTYPES:
            raise ConversionError(f"{path}: '{name}' has dtype {e['dtype']}")
        fmt, size = DTYPES[e["dtype"]]
        begin, end = e["data_offsets"]
        count = 1
        for d in e["shape"]:
            count *= d
        if end - begin != count * size or end > len(data):
            raise ConversionError(f"{path}: '{name}' offsets do not match its shape")
        tensors[name] = np.frombuffer(data, fmt, count, begin).reshape(e["shape"])
    return tensors, meta


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("weights", help="cnnzoo weights or checkpoint file")
    p.add_argument("--output", required=True, help=".pth file to write")
    p.add_argument("--check", action="store_true",
                   help="load the result into torchvision's model of that name")
    args = p.parse_args()
    try:
        import torch
        tensors, meta = read_safetensors(args.weights)
        state = {}
        for name, a in tensors.items():
            if name.startswith("optim."):
                continue  # a checkpoint's optimizer state is not part of the model
            t = torch.from_numpy(a.copy())
            # torchvision keeps BN's batch counter as an int64 scalar.
            state[name] = t.to(torch.int64) if name.endswith("num_batches_tracked") else t.float()
        if args.check:
            import torchvision
            model = meta.get("model", "")
            if not hasattr(torchvision.models, model):
                raise ConversionError(f"{args.weights}: model '{model}' is not a torchvision name")
            kwargs = {"weights": None, "num_classes": int(meta.get("num_classes", 1000))}
            if model in ("googlenet", "inception_v3"):
                kwargs.update(aux_logits=any(k.startswith(("aux", "AuxLogits")) for k in state),
                              init_weights=False)
            try:
                getattr(torchvision.models, model)(**kwargs).load_state_dict(state, strict=True)
            except RuntimeError as e:
                raise ConversionError(f"torchvision's {model} refuses the state dict: "
                                      + str(e).splitlines()[0])
        directory = os.path.dirname(os.path.abspath(args.output))
        fd, tmp = tempfile.mkstemp(dir=directory, prefix="to_torch-", suffix=".tmp")
        os.close(fd)
        try:
            torch.save(state, tmp)
            os.replace(tmp, args.output)
        except BaseException:
            os.unlink(tmp)
            raise
    except (ConversionError, OSError) as e:
        print(f"to_torch: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.output} ({len(state)} tensors)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
