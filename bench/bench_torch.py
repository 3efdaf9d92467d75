# PyTorch counterpart of `cnnzoo bench`: images/s of training steps or inference for a model
# from torch_models.py (CIFAR), torchvision (ImageNet names) or, for the other registry models,
# traced from cnnzoo (torch_twin.py), timed the same way, printing the same JSON keys.
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_models  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--model", required=True)
p.add_argument("--batch", type=int, default=128)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--train", action="store_true", help="time training steps (fwd, bwd, SGD)")
p.add_argument("--classes", type=int, help="default: 10 (CIFAR models), 1000 (torchvision)")
p.add_argument("--reps", type=int, default=10, help="minimum timed repetitions")
p.add_argument("--min-seconds", type=float, default=3.0, help="minimum timed seconds")
p.add_argument("--json", action="store_true")
p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
               help="bf16: the step under torch.autocast('cpu', dtype=torch.bfloat16)")
a = p.parse_args()

torch.set_num_threads(a.threads)
torch.manual_seed(1)
import torchvision  # noqa: E402

channels = 3
if a.model in torch_models.MODELS:
    size, classes = 32, a.classes or 10
    model = torch_models.build(a.model, classes)
elif hasattr(torchvision.models, a.model):  # cnnzoo's ImageNet names are torchvision's
    size, classes = (299 if a.model == "inception_v3" else 224), a.classes or 1000
    extra = {"init_weights": False} if a.model in ("inception_v3", "googlenet") else {}
    model = getattr(torchvision.models, a.model)(num_classes=classes, **extra)
else:  # any other registry model: its twin traced from cnnzoo (bench/torch_twin.py)
    import torch_twin

    classes = a.classes or 10
    graph = torch_twin.dump(a.model, classes)
    channels, size, _ = graph["input"]
    model = torch_twin.TracedTwin(graph)
model.train(a.train)
# The same optimiser settings as `cnnzoo bench --train`.
opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)


def step(x, labels):
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
        fp32_step(x, labels)


def fp32_step(x, labels):
    if a.train:
        loss = F.cross_entropy(model(x), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    else:
        with torch.no_grad():
            model(x)


def time_it(batch, min_reps, min_seconds):
    """Median seconds per step: two warm-up steps, then at least min_reps steps and
    min_seconds, as cnnzoo's bench."""
    x = torch.randn(batch, channels, size, size)
    labels = torch.arange(batch) % classes
    step(x, labels)
    step(x, labels)
    ts = []
    start = time.perf_counter()
    while len(ts) < min_reps or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        step(x, labels)
        ts.append(time.perf_counter() - t0)
    return statistics.median_high(ts)


t = time_it(a.batch, a.reps, a.min_seconds)
latency_ms = time_it(1, a.reps, 0.5) * 1000  # batch-1 step, as cnnzoo's bench
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB
result = {
    "model": a.model,
    "batch": a.batch,
    "threads": torch.get_num_threads(),
    "mode": "train" if a.train else "inference",
    "precision": a.precision,
    "images_per_s": a.batch / t,
    "step_ms": t * 1000,
    "latency_ms": latency_ms,
    "peak_rss_mb": rss_mb,
}
if a.json:
    print(json.dumps(result, indent=2))
else:
    print(f"{a.model} {'training' if a.train else 'inference'} batch {a.batch}, "
          f"{result['threads']} threads, {a.precision}: {result['images_per_s']:.1f} images/s "
          f"({result['step_ms']:.1f} ms per batch)")
    print(f"batch-1 latency: {latency_ms:.2f} ms")
    print(f"peak RSS: {rss_mb:.0f} MB")
