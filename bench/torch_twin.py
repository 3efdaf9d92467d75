"""PyTorch twin of any cnnzoo model, rebuilt from its training-mode forward pass as
`build/bench_graph_dump MODEL` prints it: the same ops in the same order on the same
parameters (names and shapes), so the benchmark sweep covers families without a hand-written
twin in torch_models.py. Random masks of stochastic regularisers (dropout, swapout, drop-path)
are drawn by PyTorch in training, as cnnzoo draws its own; a mask the dump shows as a constant
(separated stochastic depth) is kept as all ones. Inference runs the same graph in eval mode.
"""
import json
import os
import subprocess

import torch
import torch.nn.functional as F


def dump(name, classes=10, binary=None):
    binary = binary or os.environ.get("CNNZOO_GRAPH_DUMP", "build/bench_graph_dump")
    out = subprocess.run([binary, name, "--classes", str(classes)], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


class TracedTwin(torch.nn.Module):
    DUMP_BATCH = 2  # bench_graph_dump traces a batch of 2

    def __init__(self, graph):
        super().__init__()
        self.ops, self.output = graph["ops"], graph["output"]
        self.params = torch.nn.ParameterList()
        self.index = {}
        for p in graph["params"]:
            self.index[p["name"]] = len(self.params)
            t = torch.empty(p["shape"])
            if t.dim() > 1:  # weights: He fan-out, as cnnzoo's convolutions
                torch.nn.init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu")
            else:
                torch.nn.init.ones_(t) if p["name"].endswith(".weight") else torch.nn.init.zeros_(t)
            self.params.append(torch.nn.Parameter(t))
        self.bn_stats = {}
        for k, o in enumerate(self.ops):
            if o["op"] in ("batch_norm", "batch_norm_relu"):
                c = o["shape"][1]
                self.register_buffer(f"mean{k}", torch.zeros(c))
                self.register_buffer(f"var{k}", torch.ones(c))
                self.bn_stats[k] = (f"mean{k}", f"var{k}")

    def batch_dims(self, shape, n):
        return [n if i == 0 and d == self.DUMP_BATCH else d for i, d in enumerate(shape)]

    def forward(self, x):
        vals = []
        n = x.shape[0]
        for k, o in enumerate(self.ops):
            ins = []
            for r in o["inputs"]:
                if r is None:
                    ins.append(None)
                elif r == "input":
                    ins.append(x)
                elif "param" in r:
                    ins.append(self.params[self.index[r["param"]]])
                elif "op" in r:
                    ins.append(vals[r["op"]])
                else:
                    ins.append(torch.ones(self.batch_dims(r["const"], n)))
            vals.append(self.apply(k, o, ins, n))
        return vals[self.output]

    def apply(self, k, o, ins, n):
        op, ints, reals = o["op"], o["ints"], o["reals"]
        x = ins[0]
        if op == "conv2d":
            t, l, b, r = ints["padding"]
            if t != b or l != r:
                x, t, l = F.pad(x, (l, r, t, b)), 0, 0
            return F.conv2d(x, ins[1], ins[2], tuple(ints["stride"]), (t, l),
                            tuple(ints["dilation"]), ints["groups"][0])
        if op in ("batch_norm", "batch_norm_relu"):
            mean, var = (getattr(self, s) for s in self.bn_stats[k])
            y = F.batch_norm(x, mean, var, ins[1], ins[2], self.training, 0.1, reals["eps"])
            return F.relu(y) if op == "batch_norm_relu" else y
        if op == "relu":
            return F.relu(x)
        if op == "sigmoid":
            return torch.sigmoid(x)
        if op == "tanh":
            return torch.tanh(x)
        if op == "leaky_relu":
            return F.leaky_relu(x, reals["negative_slope"])
        if op == "prelu":
            return F.prelu(x, ins[1])
        if op in ("max_pool2d", "avg_pool2d"):
            t, l, b, r = ints["padding"]
            assert t == b and l == r, "asymmetric pooling padding"
            args = (tuple(ints["kernel"]), tuple(ints["stride"]), (t, l))
            if op == "max_pool2d":
                return F.max_pool2d(x, *args, ceil_mode=bool(ints["ceil_mode"][0]))
            return F.avg_pool2d(x, *args, ceil_mode=bool(ints["ceil_mode"][0]),
                                count_include_pad=bool(ints["count_include_pad"][0]))
        if op == "global_avg_pool2d":
            y = x.mean((2, 3), keepdim=len(o["shape"]) == 4)
            return y
        if op == "adaptive_avg_pool2d":
            return F.adaptive_avg_pool2d(x, tuple(ints["output_size"]))
        if op == "linear":
            return F.linear(x, ins[1], ins[2])
        if op == "add":
            return x + ins[1]
        if op == "sub":
            return x - ins[1]
        if op == "mul":
            return x * ins[1]
        if op == "scale":
            return x * (ins[1] if len(ins) > 1 else reals["alpha"])
        if op == "add_scalar":
            return x + reals["c"]
        if op == "mul_channel":
            s = ins[1]
            s = s.view(1, -1, 1, 1) if s.dim() == 1 else s.view(s.shape[0], s.shape[1], 1, 1)
            return x * s
        if op == "concat":
            return torch.cat(ins, ints["dim"][0])
        if op == "slice":
            d, start, end = ints["slice"]
            return x.narrow(d, start, end - start)
        if op == "pad_channels":
            before, after = ints["channels"]
            return F.pad(x, (0, 0, 0, 0, before, after))
        if op == "pad2d":
            t, l, b, r = ints["padding"]
            return F.pad(x, (l, r, t, b))
        if op == "reshape":
            return x.reshape(self.batch_dims(ints["shape"], n))
        if op == "dropout":
            return F.dropout(x, reals["p"], self.training)
        if op == "swapout":
            if not self.training:
                return reals["theta1"] * x + reals["theta2"] * ins[1]
            m1 = torch.bernoulli(torch.full_like(x, reals["theta1"]))
            m2 = torch.bernoulli(torch.full_like(x, reals["theta2"]))
            return x * m1 + ins[1] * m2
        raise ValueError(f"torch_twin: no PyTorch form for op '{op}'")


def build(name, classes=10, binary=None):
    return TracedTwin(dump(name, classes, binary))
