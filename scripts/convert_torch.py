#!/usr/bin/python3
"""Converts torchvision weights to a cnnzoo weights file (safetensors with cnnzoo's metadata).

  convert_torch.py MODEL --pth FILE.pth --output OUT.safetensors   a saved state dict or model
  convert_torch.py MODEL --pretrained --output OUT.safetensors     torchvision's published
                                                                   weights (its download cache)

MODEL is a torchvision name cnnzoo shares (resnet18, densenet121, inception_v3, ...). The state
dict must have exactly the keys and shapes of torchvision's MODEL; the file gets the model's
name, the 1000 ImageNet class names (data/imagenet_classes.txt), ImageNet mean and std and
torchvision's evaluation transform, so `cnnzoo predict --weights OUT.safetensors img.jpg`
needs nothing else. Needs only Debian's python3-torch and python3-torchvision.
"""
import argparse
import json
import os
import re
import struct
import sys
import tempfile

# torchvision names cnnzoo builds with torchvision's module names, and their input sizes.
MODELS = {name: 224 for name in [
    "alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
    "googlenet", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "wide_resnet50_2",
    "resnext50_32x4d", "resnext101_32x8d", "squeezenet1_0", "squeezenet1_1", "densenet121",
    "densenet161", "densenet169", "densenet201"]}
MODELS["inception_v3"] = 299
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
# Old DenseNet checkpoints name layers 'norm.1' where the modules are 'norm1'.
DENSENET_OLD_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$")


class ConversionError(Exception):
    pass


def reference_state_dict(torch, torchvision, model):
    """The keys and shapes of torchvision's MODEL (auxiliary heads included where it has them)."""
    kwargs = {"weights": None}
    if model in ("googlenet", "inception_v3"):
        kwargs.update(aux_logits=True, init_weights=False)
    return getattr(torchvision.models, model)(**kwargs).state_dict()


def load_source(torch, torchvision, args):
    if args.pretrained:
        try:
            weights = torchvision.models.get_model_weights(args.model).DEFAULT
            return weights.get_state_dict(progress=False)
        except Exception as e:  # offline without a cached download, most often
            raise ConversionError(f"cannot get torchvision's pretrained {args.model}: {e}")
    if not os.path.isfile(args.pth):
        raise ConversionError(f"{args.pth}: no such file")
    try:  # the zip format and the old tar format alike
        obj = torch.load(args.pth, map_location="cpu")
    except Exception as e:
        raise ConversionError(f"{args.pth}: not a PyTorch file ({e})")
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    for wrapper in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
    if not isinstance(obj, dict) or not all(torch.is_tensor(v) for v in obj.values()):
        raise ConversionError(f"{args.pth}: not a state dict (a mapping of names to tensors)")
    return obj


def check_against(reference, state, model):
    state = {DENSENET_OLD_KEY.sub(r"\1\2", k) if model.startswith("densenet") else k: v
             for k, v in state.items()}
    for k in state:
        if k not in reference:
            raise ConversionError(f"unexpected key '{k}' for torchvision's {model}")
    for k, ref in reference.items():
        if k not in state:
            raise ConversionError(f"missing key '{k}' for torchvision's {model}")
        if tuple(state[k].shape) != tuple(ref.shape):
            raise ConversionError(f"'{k}' has shape {list(state[k].shape)}, torchvision's {model} "
                                  f"has {list(ref.shape)}")
    return {k: state[k] for k in reference}  # torchvision's order


def metadata(model, transform_input):
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "data", "imagenet_classes.txt")) as f:
        classes = [line.rstrip("\n") for line in f]
    if len(classes) != 1000:
        raise ConversionError("data/imagenet_classes.txt must hold 1000 class names")
    size = MODELS[model]
    return {"format": "cnnzoo-weights", "model": model, "model_options": "{}",
            "num_classes": "1000", "in_channels": "3", "input_size": str(size),
            "classes": json.dumps(classes),
            # torchvision's published GoogLeNet and Inception v3 re-map ImageNet-normalised
            # inputs to (pixel - 0.5) / 0.5 inside the model (transform_input): the same as
            # normalising with mean = std = 0.5, which is what the file says instead.
            "mean": json.dumps([0.5] * 3 if transform_input else IMAGENET_MEAN),
            "std": json.dumps([0.5] * 3 if transform_input else IMAGENET_STD),
            "preprocessing": "resize-crop",
            "resize_size": str(round(size * 256 / 224))}


def write_safetensors(torch, path, state, meta):
    """float tensors as F32, num_batches_tracked counters as I64 (as torchvision has them)."""
    header, chunks, offset = {"__metadata__": meta}, [], 0
    for name, t in state.items():
        t = t.detach().cpu().contiguous()
        if t.dtype.is_floating_point:
            t, dtype = t.to(torch.float32), "F32"
        elif t.dtype == torch.int64:
            dtype = "I64"
        else:
            raise ConversionError(f"'{name}' has dtype {t.dtype}, expected floats or int64")
        data = t.numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".convert-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for c in chunks:
                f.write(c)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model", help="torchvision model name (" + ", ".join(sorted(MODELS)) + ")")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--pth", help="a .pth file: state dict, checkpoint with one, or model")
    src.add_argument("--pretrained", action="store_true",
                     help="torchvision's published weights (needs them downloaded or cached)")
    p.add_argument("--output", required=True, help="cnnzoo weights file to write")
    p.add_argument("--transform-input", choices=["auto", "yes", "no"], default="auto",
                   help="googlenet/inception_v3 weights trained with torchvision's "
                        "transform_input (auto: yes with --pretrained, as torchvision does)")
    args = p.parse_args()
    try:
        if args.model not in MODELS:
            raise ConversionError(f"unknown model '{args.model}' (torchvision names cnnzoo "
                                  f"shares: {', '.join(sorted(MODELS))})")
        import torch
        import torchvision
        reference = reference_state_dict(torch, torchvision, args.model)
        state = check_against(reference, load_source(torch, torchvision, args), args.model)
        transform = args.transform_input == "yes" or (
            args.transform_input == "auto" and args.pretrained
            and args.model in ("googlenet", "inception_v3"))
        if transform and args.model not in ("googlenet", "inception_v3"):
            raise ConversionError("--transform-input applies to googlenet and inception_v3 only")
        write_safetensors(torch, args.output, state, metadata(args.model, transform))
    except ConversionError as e:
        print(f"convert_torch: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.output} ({args.model}, {len(state)} tensors)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
