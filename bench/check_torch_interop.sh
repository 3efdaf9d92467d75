#!/usr/bin/env bash
# PyTorch in and out, checked against PyTorch itself (needs python3-torch and
# python3-torchvision: CNNZOO_SETUP_TORCH=1 scripts/setup.sh; not part of CI):
#   torchvision model -> .pth (zip and old tar format) -> convert_torch.py -> cnnzoo forward
#   gives torchvision's logits; -> to_torch.py -> .pth equal to the original, loaded by
#   torchvision; a state dict of another model is refused with one line.
set -euo pipefail
cd "$(dirname "$0")/.."
CNNZOO=${CNNZOO:-build/cnnzoo}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
MODELS=${MODELS:-"resnet18 squeezenet1_1 densenet121 googlenet inception_v3 vgg11_bn"}
for m in $MODELS; do
  /usr/bin/python3 - "$m" "$TMP" <<'PY'
import sys, torch, torchvision, numpy as np
name, tmp = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
kw = {"weights": None}
if name in ("googlenet", "inception_v3"):
    kw.update(aux_logits=True, init_weights=True)
m = getattr(torchvision.models, name)(**kw)
for mod in m.modules():  # BN statistics away from (0, 1), so that misuse shows
    if isinstance(mod, torch.nn.BatchNorm2d):
        mod.running_mean.uniform_(-0.2, 0.2); mod.running_var.uniform_(0.5, 2.0)
        mod.num_batches_tracked.fill_(7)
m.eval()
torch.save(m.state_dict(), f"{tmp}/{name}.pth")
torch.save(m.state_dict(), f"{tmp}/{name}_tar.pth", _use_new_zipfile_serialization=False)
size = 299 if name == "inception_v3" else 224
x = torch.rand(2, 3, size, size)
np.save(f"{tmp}/x.npy", x.numpy())
mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
with torch.no_grad():
    np.save(f"{tmp}/y_torch.npy", m((x - mean) / std).numpy())
PY
  for src in "$m" "${m}_tar"; do
    scripts/convert_torch.py "$m" --pth "$TMP/$src.pth" --output "$TMP/$m.safetensors" >/dev/null
    "$CNNZOO" forward --weights "$TMP/$m.safetensors" --input "$TMP/x.npy" --output "$TMP/y.npy"
    /usr/bin/python3 -c "
import numpy as np, sys
a, b = np.load('$TMP/y.npy'), np.load('$TMP/y_torch.npy')
d = float(np.abs(a - b).max() / np.abs(b).max())
print(f'$src: cnnzoo vs torchvision logits, max relative difference {d:.2e}')
sys.exit(0 if d <= 1e-4 else 1)"
  done
  scripts/to_torch.py "$TMP/$m.safetensors" --output "$TMP/back.pth" --check >/dev/null
  /usr/bin/python3 -c "
import torch, sys
a, b = torch.load('$TMP/$m.pth'), torch.load('$TMP/back.pth')
ok = a.keys() == b.keys() and all(torch.equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a)
print('$m: round trip through cnnzoo', 'identical' if ok else 'DIFFERS'); sys.exit(0 if ok else 1)"
done
if scripts/convert_torch.py resnet34 --pth "$TMP/resnet18.pth" --output "$TMP/bad.safetensors" \
  2>"$TMP/err"; then
  echo "a resnet18 state dict was accepted as resnet34" >&2; exit 1
fi
[[ $(wc -l <"$TMP/err") -eq 1 && ! -e "$TMP/bad.safetensors" ]] || { cat "$TMP/err"; exit 1; }
echo "refused: $(cat "$TMP/err")"
echo "torch interop: all checks passed"
