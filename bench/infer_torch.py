"""Inference images/s and batch-1 latency of a torchvision model, timed like `cnnzoo bench`
(two warm-up steps, then the median of at least --reps steps and --min-seconds). Prints one
JSON object. Benchmark-only: the library and its tests never need PyTorch."""
import argparse
import json
import statistics
import time

import torch
import torchvision


def median_step(model, x, reps, min_s):
    with torch.no_grad():
        model(x)
        model(x)
        times, start = [], time.perf_counter()
        while len(times) < reps or time.perf_counter() - start < min_s:
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--min-seconds", type=float, default=3.0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    kwargs = {"init_weights": False} if a.model in ("inception_v3", "googlenet") else {}
    model = getattr(torchvision.models, a.model)(**kwargs).eval()
    size = 299 if a.model == "inception_v3" else 224
    torch.manual_seed(1)
    t = median_step(model, torch.randn(a.batch, 3, size, size), a.reps, a.min_seconds)
    lat = median_step(model, torch.randn(1, 3, size, size), a.reps, 0.5)
    print(json.dumps({"model": a.model, "batch": a.batch, "threads": torch.get_num_threads(),
                      "images_per_s": a.batch / t, "latency_ms": lat * 1000}))


if __name__ == "__main__":
    main()
