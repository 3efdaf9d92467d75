# The same conv layer as bench_conv_layer in PyTorch: forward, then backward for input and
# weight; median ms over the repetitions and GFLOP/s (2 * MACs * 3).
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
for name, default in [("threads", 2), ("batch", 128), ("cin", 16), ("cout", 16), ("hw", 32),
                      ("k", 3), ("stride", 1), ("groups", 1), ("reps", 20)]:
    p.add_argument("--" + name, type=int, default=default)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(1)
x = (torch.rand(a.batch, a.cin, a.hw, a.hw) * 2 - 1).requires_grad_()
w = (torch.rand(a.cout, a.cin // a.groups, a.k, a.k) * 2 - 1).requires_grad_()
pad = a.k // 2
with torch.no_grad():
    dy = torch.rand_like(F.conv2d(x, w, None, a.stride, pad, 1, a.groups)) * 2 - 1
macs = dy.numel() * (a.cin // a.groups) * a.k * a.k

fwd, bwd, total = [], [], []
for r in range(3 + a.reps):
    x.grad = None
    w.grad = None
    t0 = time.perf_counter()
    y = F.conv2d(x, w, None, a.stride, pad, 1, a.groups)
    t1 = time.perf_counter()
    y.backward(dy)
    t2 = time.perf_counter()
    if r >= 3:
        fwd.append((t1 - t0) * 1e3)
        bwd.append((t2 - t1) * 1e3)
        total.append((t2 - t0) * 1e3)
ms = statistics.median(total)
print(f"torch   threads={a.threads} x=[{a.batch},{a.cin},{a.hw},{a.hw}] "
      f"w=[{a.cout},{a.cin // a.groups},{a.k},{a.k}] stride={a.stride} groups={a.groups}  "
      f"fwd {statistics.median(fwd):.2f} ms  bwd {statistics.median(bwd):.2f} ms  "
      f"total {ms:.2f} ms  {2 * macs * 3 / (ms * 1e6):.1f} GFLOP/s")
