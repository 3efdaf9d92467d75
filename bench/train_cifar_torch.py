"""Trains a benchmark model with PyTorch on the CIFAR-10 JPEG folder with the recipe that
`cnnzoo train` uses, for a side-by-side accuracy and time comparison (bench/train_compare.sh).

Recipe: per-channel mean/std of the training set, pad-4 random crop + horizontal flip,
batch 128, SGD momentum 0.9 (Nesterov), weight decay on all parameters, linear warm-up per
iteration over the first --warmup epochs to --lr, then cosine to 0 per iteration."""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_models  # noqa: E402


def load_split(root):
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    images, labels = [], []
    for k, c in enumerate(classes):
        files = sorted(f for f in os.listdir(os.path.join(root, c))
                       if f.lower().endswith((".png", ".jpg", ".jpeg", ".bmp")))
        for f in files:
            images.append(np.asarray(Image.open(os.path.join(root, c, f)).convert("RGB")))
            labels.append(k)
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()  # uint8 NCHW
    return x, torch.tensor(labels, dtype=torch.int64)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--model", default="resnet20")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--wd", type=float, default=5e-4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--csv", default="")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                   help="bf16: forward and loss under torch.autocast('cpu', dtype=torch.bfloat16)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    t0 = time.time()
    xtr, ytr = load_split(os.path.join(a.data, "train"))
    xte, yte = load_split(os.path.join(a.data, "test"))
    print(f"loaded {len(ytr)} + {len(yte)} images in {time.time() - t0:.1f} s", flush=True)
    xf = xtr.float() / 255
    mean = xf.mean(dim=(0, 2, 3)).view(1, 3, 1, 1)
    std = xf.std(dim=(0, 2, 3), unbiased=False).view(1, 3, 1, 1)
    del xf
    model = torch_models.build(a.model)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, nesterov=True,
                          weight_decay=a.wd)
    steps = math.ceil(len(ytr) / a.batch)
    warm = a.warmup * steps
    total = a.epochs * steps
    rows = []
    g = torch.Generator().manual_seed(a.seed)
    for epoch in range(a.epochs):
        model.train()
        perm = torch.randperm(len(ytr), generator=g)
        t0 = time.time()
        seen = correct = 0
        loss_sum = 0.0
        for s in range(steps):
            it = epoch * steps + s
            lr = a.lr * (it + 1) / warm if it < warm else \
                0.5 * a.lr * (1 + math.cos(math.pi * (it - warm) / (total - warm)))
            for grp in opt.param_groups:
                grp["lr"] = lr
            idx = perm[s * a.batch:(s + 1) * a.batch]
            x = xtr[idx]
            b = len(idx)
            # pad-4 random crop (zero pixels before normalisation) and horizontal flip
            xp = F.pad(x, (4, 4, 4, 4))
            dy = torch.randint(0, 9, (b,), generator=g)
            dx = torch.randint(0, 9, (b,), generator=g)
            flip = torch.rand(b, generator=g) < 0.5
            crops = torch.empty_like(x)
            for i in range(b):
                c = xp[i, :, dy[i]:dy[i] + 32, dx[i]:dx[i] + 32]
                crops[i] = c.flip(2) if flip[i] else c
            inp = (crops.float() / 255 - mean) / std
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
                out = model(inp)
                loss = F.cross_entropy(out, ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * b
            correct += (out.argmax(1) == ytr[idx]).sum().item()
            seen += b
        secs = time.time() - t0
        model.eval()
        tc = 0
        tl = 0.0
        with torch.no_grad():
            for s in range(0, len(yte), 500):
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
                    o = model((xte[s:s + 500].float() / 255 - mean) / std).float()
                tl += F.cross_entropy(o, yte[s:s + 500], reduction="sum").item()
                tc += (o.argmax(1) == yte[s:s + 500]).sum().item()
        row = (epoch + 1, lr, loss_sum / seen, correct / seen, tl / len(yte), tc / len(yte), secs,
               seen / secs)
        rows.append(row)
        print("epoch %d lr %.5f train loss %.4f acc %.4f test loss %.4f acc %.4f %.1f s %.0f img/s"
              % row, flush=True)
    if a.csv:
        with open(a.csv, "w") as f:
            f.write("epoch,lr,train_loss,train_acc,test_loss,test_acc,seconds,images_per_s\n")
            for r in rows:
                f.write(",".join(str(v) for v in r) + "\n")


if __name__ == "__main__":
    main()
