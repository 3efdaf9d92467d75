"""The benchmark architectures written in PyTorch, mirroring cnnzoo's models exactly
(same layers, same parameter counts), for side-by-side speed and accuracy comparisons.
Used only by bench/ scripts; the library and its tests never need PyTorch."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class ShortcutA(nn.Module):
    """ResNet option A: stride-2 subsampling and zero channel padding (He et al. 2015)."""

    def __init__(self, in_ch, out_ch, stride):
        super().__init__()
        self.stride, self.extra = stride, out_ch - in_ch

    def forward(self, x):
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.extra:
            x = F.pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))
        return x


class BasicBlock(nn.Module):
    def __init__(self, in_ch, out_ch, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.shortcut = ShortcutA(in_ch, out_ch, stride) if stride != 1 or in_ch != out_ch else nn.Identity()

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNetCifar(nn.Module):
    """ResNet-(6n+2) for CIFAR: 16/32/64 channels, option A shortcuts."""

    def __init__(self, depth, num_classes=10):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, in_ch = [], 16
        for i, ch in enumerate([16, 32, 64]):
            blocks = []
            for j in range(n):
                blocks.append(BasicBlock(in_ch, ch, 2 if (i > 0 and j == 0) else 1))
                in_ch = ch
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def he_init(model):
    """He (fan-out) normal init of every convolution, as cnnzoo's init_he."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


def conv3x3(in_ch, out_ch, stride=1):
    return nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)


def conv1x1(in_ch, out_ch, stride=1):
    return nn.Conv2d(in_ch, out_ch, 1, stride, 0, bias=False)


class PreActBlock(nn.Module):
    """Pre-activation basic unit (He 2016): BN-ReLU-conv3x3(stride)-BN-ReLU-conv3x3 + shortcut.
    Where the shape changes the shortcut is a 1x1 conv (no BN) of the shared BN-ReLU output;
    with activate_shortcut an identity shortcut also takes the activated input."""

    def __init__(self, in_ch, out_ch, stride, activate_shortcut=False):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_ch)
        self.conv1 = conv3x3(in_ch, out_ch, stride)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.conv2 = conv3x3(out_ch, out_ch)
        changes = stride != 1 or in_ch != out_ch
        self.shortcut = conv1x1(in_ch, out_ch, stride) if changes else None
        self.activate_shortcut = activate_shortcut

    def forward(self, x):
        a = F.relu(self.bn1(x))
        h = self.conv2(F.relu(self.bn2(self.conv1(a))))
        if self.shortcut is not None:
            return h + self.shortcut(a)
        return h + (a if self.activate_shortcut else x)


class PreActBottleneck(nn.Module):
    """Pre-activation bottleneck unit: BN-ReLU-conv1x1(stride) to out/4, BN-ReLU-conv3x3,
    BN-ReLU-conv1x1 to out; 1x1 projection (no BN) of the shared BN-ReLU where shape changes."""

    def __init__(self, in_ch, out_ch, stride):
        super().__init__()
        width = out_ch // 4
        self.bn1 = nn.BatchNorm2d(in_ch)
        self.conv1 = conv1x1(in_ch, width, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width)
        self.bn3 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, out_ch)
        changes = stride != 1 or in_ch != out_ch
        self.shortcut = conv1x1(in_ch, out_ch, stride) if changes else None

    def forward(self, x):
        a = F.relu(self.bn1(x))
        h = self.conv1(a)
        h = self.conv2(F.relu(self.bn2(h)))
        h = self.conv3(F.relu(self.bn3(h)))
        return h + (self.shortcut(a) if self.shortcut is not None else x)


class PreActCifarResNet(nn.Module):
    """Pre-activation CIFAR body: lone conv3x3 stem (no BN-ReLU of its own), three stages of
    n units (stride 2 at the first unit of stages 2 and 3), final BN-ReLU, pool, linear."""

    def __init__(self, stem, widths, n, block, num_classes=10):
        super().__init__()
        self.conv1 = conv3x3(3, stem)
        stages, in_ch = [], stem
        for i, ch in enumerate(widths):
            units = []
            for j in range(n):
                units.append(block(in_ch, ch, 2 if (i > 0 and j == 0) else 1, i * n + j + 1))
                in_ch = ch
            stages.append(nn.Sequential(*units))
        self.layer1, self.layer2, self.layer3 = stages
        self.bn = nn.BatchNorm2d(widths[2])
        self.fc = nn.Linear(widths[2], num_classes)
        he_init(self)

    def forward(self, x):
        h = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        h = F.relu(self.bn(h))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))


def preact_resnet_basic(depth, num_classes):
    """preact-resnet110: basic units, 6n+2, 16/32/64; unit 1 takes the stem's activation."""
    n = (depth - 2) // 6
    return PreActCifarResNet(16, (16, 32, 64), n,
                             lambda i, o, s, index: PreActBlock(i, o, s, index == 1), num_classes)


def preact_resnet_bottleneck(depth, num_classes):
    """preact-resnet164/1001: bottleneck units, 9n+2, outputs 64/128/256."""
    n = (depth - 2) // 9
    return PreActCifarResNet(16, (64, 128, 256), n,
                             lambda i, o, s, index: PreActBottleneck(i, o, s), num_classes)


def wide_resnet(depth, k, num_classes):
    """WRN-depth-k: pre-activation basic units, (depth-4)/6 per stage, widths 16k/32k/64k."""
    n = (depth - 4) // 6
    return PreActCifarResNet(16, (16 * k, 32 * k, 64 * k), n,
                             lambda i, o, s, index: PreActBlock(i, o, s), num_classes)


class DenseLayer(nn.Module):
    """DenseNet-B layer: BN-ReLU-conv1x1(4k)-BN-ReLU-conv3x3(k), concatenated to its input."""

    def __init__(self, in_ch, growth):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_ch)
        self.conv1 = conv1x1(in_ch, 4 * growth)
        self.norm2 = nn.BatchNorm2d(4 * growth)
        self.conv2 = conv3x3(4 * growth, growth)

    def forward(self, x):
        h = self.conv1(F.relu(self.norm1(x)))
        h = self.conv2(F.relu(self.norm2(h)))
        return torch.cat([x, h], 1)


class Transition(nn.Module):
    """BN-ReLU-conv1x1-avgpool(2x2) between dense blocks."""

    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.norm = nn.BatchNorm2d(in_ch)
        self.conv = conv1x1(in_ch, out_ch)

    def forward(self, x):
        return F.avg_pool2d(self.conv(F.relu(self.norm(x))), 2)


class DenseNetBC(nn.Module):
    """DenseNet-BC for CIFAR: 2k-channel conv3x3 stem, three dense blocks of (depth-4)/6
    bottleneck layers, compression-0.5 transitions, final BN-ReLU, pool, linear."""

    def __init__(self, depth, growth, num_classes=10):
        super().__init__()
        n = (depth - 4) // 6
        ch = 2 * growth
        layers = [conv3x3(3, ch)]
        for b in range(3):
            for _ in range(n):
                layers.append(DenseLayer(ch, growth))
                ch += growth
            if b < 2:
                layers.append(Transition(ch, ch // 2))
                ch //= 2
        layers.append(nn.BatchNorm2d(ch))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(ch, num_classes)
        he_init(self)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, x):
        h = F.relu(self.features(x))
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))


class VGGCifar(nn.Module):
    """VGG (configuration D = 16 layers) on 32x32: conv3x3 (no bias)-BN-ReLU stacks, five 2x2
    max pools, global average pool (identity at 1x1), one linear layer."""

    D = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]

    def __init__(self, cfg, num_classes=10):
        super().__init__()
        layers, ch = [], 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [conv3x3(ch, v), nn.BatchNorm2d(v), nn.ReLU()]
                ch = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(512, num_classes)
        he_init(self)
        nn.init.normal_(self.classifier.weight, 0.0, 0.01)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, x):
        h = F.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(h, 1))


MODELS = {
    "resnet20": lambda c: ResNetCifar(20, c),
    "resnet32": lambda c: ResNetCifar(32, c),
    "resnet56": lambda c: ResNetCifar(56, c),
    "resnet110": lambda c: ResNetCifar(110, c),
    "preact-resnet110": lambda c: preact_resnet_basic(110, c),
    "preact-resnet164": lambda c: preact_resnet_bottleneck(164, c),
    "wrn-16-4": lambda c: wide_resnet(16, 4, c),
    "densenet-bc-100-12": lambda c: DenseNetBC(100, 12, c),
    "vgg16-cifar": lambda c: VGGCifar(VGGCifar.D, c),
}


def build(name, num_classes=10):
    if name not in MODELS:
        raise SystemExit(f"torch_models: no PyTorch version of {name}")
    return MODELS[name](num_classes)
