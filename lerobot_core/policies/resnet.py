"""ResNet-18/34/50 without torchvision, with torchvision's module and parameter names.

``resnet18(norm_layer=FrozenBatchNorm2d)`` has exactly the state-dict keys of
``torchvision.models.resnet18`` (``conv1``, ``bn1``, ``layer1.0.conv1``, ``layer2.0.downsample.0`` ...,
``fc``), so torchvision / timm ``*.tv_in1k`` ImageNet weights and upstream LeRobot checkpoints load as-is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from lerobot_core.policies.winograd import WinogradConv3x3, winograd_supported, winograd_weight

logger = logging.getLogger(__name__)


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm2d with fixed statistics and affine parameters (buffers, not parameters), as torchvision's."""

    def __init__(self, num_features: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.num_features = num_features
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):
        state_dict.pop(prefix + "num_batches_tracked", None)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)

    def scale_and_shift(self) -> tuple[Tensor, Tensor]:
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        return scale, self.bias - self.running_mean * scale

    def forward(self, x: Tensor) -> Tensor:
        scale, shift = self.scale_and_shift()
        return x * scale.reshape(1, -1, 1, 1) + shift.reshape(1, -1, 1, 1)


def _conv3x3(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False)


def _conv1x1(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, dilation=1, norm_layer=nn.BatchNorm2d):
        super().__init__()
        if dilation > 1:
            raise ValueError("BasicBlock (resnet18/34) does not support dilation; use resnet50 for "
                             "replace_final_stride_with_dilation")
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, dilation=1, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.conv1 = _conv1x1(inplanes, planes)
        self.bn1 = norm_layer(planes)
        self.conv2 = _conv3x3(planes, planes, stride, dilation)
        self.bn2 = norm_layer(planes)
        self.conv3 = _conv1x1(planes, planes * self.expansion)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """torchvision's ResNet (v1.5: stride on the 3×3 conv of bottlenecks), same names and init."""

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: list[int],
        num_classes: int = 1000,
        replace_stride_with_dilation: list[bool] | None = None,
        norm_layer: Callable[[int], nn.Module] | None = None,
    ):
        super().__init__()
        self._norm_layer = norm_layer or nn.BatchNorm2d
        self.inplanes = 64
        self.dilation = 1
        replace_stride_with_dilation = replace_stride_with_dilation or [False, False, False]
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = self._norm_layer(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], 2, replace_stride_with_dilation[0])
        self.layer3 = self._make_layer(block, 256, layers[2], 2, replace_stride_with_dilation[1])
        self.layer4 = self._make_layer(block, 512, layers[3], 2, replace_stride_with_dilation[2])
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, block, planes: int, blocks: int, stride: int = 1, dilate: bool = False) -> nn.Sequential:
        norm_layer = self._norm_layer
        previous_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                _conv1x1(self.inplanes, planes * block.expansion, stride), norm_layer(planes * block.expansion)
            )
        layers = [block(self.inplanes, planes, stride, downsample, previous_dilation, norm_layer)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, dilation=self.dilation, norm_layer=norm_layer))
        return nn.Sequential(*layers)

    def forward_features(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(torch.flatten(self.avgpool(self.forward_features(x)), 1))


_ARCHS = {"resnet18": (BasicBlock, [2, 2, 2, 2]), "resnet34": (BasicBlock, [3, 4, 6, 3]),
          "resnet50": (Bottleneck, [3, 4, 6, 3])}

# torchvision weight enum names (what upstream configs store) → hub repos with the same tensors.
TORCHVISION_WEIGHTS_ON_HUB = {
    "ResNet18_Weights.IMAGENET1K_V1": "timm/resnet18.tv_in1k",
    "ResNet34_Weights.IMAGENET1K_V1": "timm/resnet34.tv_in1k",
    "ResNet50_Weights.IMAGENET1K_V1": "timm/resnet50.tv_in1k",
    "ResNet50_Weights.IMAGENET1K_V2": "timm/resnet50.tv2_in1k",
}


def build_resnet(name: str, **kwargs) -> ResNet:
    if name not in _ARCHS:
        raise ValueError(f"vision_backbone {name!r} is not supported; choose one of {sorted(_ARCHS)}")
    block, layers = _ARCHS[name]
    return ResNet(block, layers, **kwargs)


def resolve_backbone_weights(spec: str) -> Path:
    """Path of a safetensors file for ``spec``: a local ``.safetensors`` file, a torchvision enum name
    (``ResNet18_Weights.IMAGENET1K_V1``, fetched from its hub mirror) or ``hub:<repo_id>``."""
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    repo = TORCHVISION_WEIGHTS_ON_HUB.get(spec) or (spec[4:] if spec.startswith("hub:") else None)
    if repo is None:
        raise ValueError(
            f"pretrained_backbone_weights={spec!r}: not a local .safetensors file, a known torchvision weight "
            f"name ({sorted(TORCHVISION_WEIGHTS_ON_HUB)}) or 'hub:<repo_id>'. Use null for random init."
        )
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo, "model.safetensors"))
    except Exception as e:  # offline, missing repo...
        raise RuntimeError(
            f"could not fetch ImageNet weights {spec!r} from the hub repo {repo!r} ({e}). Download them once "
            "with network access, pass a local .safetensors path, or set pretrained_backbone_weights to null."
        ) from e


def load_backbone_weights(model: nn.Module, spec: str) -> None:
    """Load ImageNet weights named by ``spec`` into a torchvision-named ResNet (the ``fc`` head and any
    missing trailing layers are ignored)."""
    from safetensors.torch import load_file

    state = load_file(str(resolve_backbone_weights(spec)))
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own}
    missing = [k for k in own if k not in usable]
    if missing:
        raise ValueError(f"backbone weights {spec!r} lack {len(missing)} tensors, e.g. {missing[:3]}")
    model.load_state_dict(usable, strict=False)
    logger.info("loaded backbone weights %s", spec)


class ResNetTrunk(nn.Module):
    """A ResNet without its pooling and classifier, keeping the child names (``conv1`` ... ``layer4``),
    like upstream ACT's ``IntermediateLayerGetter(..., {"layer4": "feature_map"})``."""

    def __init__(self, resnet: ResNet):
        super().__init__()
        for name, child in resnet.named_children():
            if name in ("avgpool", "fc"):
                break
            self.add_module(name, child)
        self.num_channels = resnet.fc.in_features

    def forward(self, x: Tensor) -> Tensor:
        for child in self.children():
            x = child(x)
        return x


def _bn_scale_shift(bn: nn.Module) -> tuple[Tensor, Tensor] | None:
    if isinstance(bn, FrozenBatchNorm2d):
        return bn.scale_and_shift()
    if isinstance(bn, nn.BatchNorm2d) and not bn.training and bn.track_running_stats:
        scale = bn.weight * (bn.running_var + bn.eps).rsqrt()
        return scale, bn.bias - bn.running_mean * scale
    return None


def _pointwise_conv_ops():
    """oneDNN's fused conv(+add)+ReLU kernels (inference only), or None when this torch lacks them."""
    try:
        op = torch.ops.mkldnn._convolution_pointwise
        if not torch.backends.mkldnn.is_available():
            return None
        x = torch.randn(1, 2, 5, 5).contiguous(memory_format=torch.channels_last)
        w, b, other = torch.randn(3, 2, 3, 3), torch.randn(3), torch.randn(1, 3, 5, 5)
        ref = torch.nn.functional.conv2d(x, w, b, 1, 1)
        with torch.no_grad():
            y1 = op(x, w, b, [1, 1], [1, 1], [1, 1], 1, "relu", [], "")
            y2 = op.binary(x, other.contiguous(memory_format=torch.channels_last), w, b, [1, 1], [1, 1], [1, 1], 1,
                           "add", None, "relu", [], "")
        if torch.allclose(y1, ref.relu(), atol=1e-5) and torch.allclose(y2, (ref + other).relu(), atol=1e-5):
            return op
    except Exception:  # private op missing or with another signature in this torch build
        return None
    return None


_FUSED_OPS: list = []


def fused_conv_ops():
    if not _FUSED_OPS:
        _FUSED_OPS.append(_pointwise_conv_ops())
    return _FUSED_OPS[0]


class FoldedTrunk:
    """Runs a ``ResNetTrunk`` with each frozen batch norm folded into the preceding convolution.

    Mathematically identical to the plain forward (conv → x·scale + shift becomes one conv with scaled
    weights and a bias), but it skips one full pass over every activation map, forward and backward.
    Without autograd the folded weights are cached (channels-last, rebuilt when a weight changes) and
    ReLU and the residual add run inside oneDNN's convolution kernel when available.
    """

    def __init__(self, trunk: ResNetTrunk, winograd_min_channels: int | None = None):
        self.trunk = trunk
        #: Without autograd, 3×3 stride-1 convolutions with at least this many input channels run as
        #: Winograd F(4x4, 3x3) (4× fewer multiplies; float32 error ~5e-6 relative instead of ~1e-6). None: off.
        self.winograd_min_channels = winograd_min_channels
        self._winograd = WinogradConv3x3()
        self._cache: dict[int, tuple[tuple[int, ...], Tensor, Tensor]] = {}
        self._winograd_weights: dict[tuple[int, int], tuple[Tensor, Tensor]] = {}  # (conv, tile) → transformed

    @staticmethod
    def supported(trunk: nn.Module) -> bool:
        return all(
            not isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) or _bn_scale_shift(m) is not None
            for m in trunk.modules()
        )

    def _folded(self, conv: nn.Conv2d, bn: nn.Module, grad: bool) -> tuple[Tensor, Tensor]:
        if not grad:
            tensors = (conv.weight, *[t for t in bn.state_dict(keep_vars=True).values() if isinstance(t, Tensor)])
            key = tuple(t._version for t in tensors) + tuple(t.data_ptr() for t in tensors)
            hit = self._cache.get(id(conv))
            if hit is not None and hit[0] == key:
                return hit[1], hit[2]
        scale, shift = _bn_scale_shift(bn)
        weight = conv.weight * scale.reshape(-1, 1, 1, 1)
        if not grad:
            with torch.inference_mode(False), torch.no_grad():
                weight = weight.contiguous(memory_format=torch.channels_last).clone(
                    memory_format=torch.channels_last)
                shift = shift.clone()
            self._cache[id(conv)] = (key, weight, shift)
        return weight, shift

    def _use_winograd(self, x: Tensor, conv: nn.Conv2d, grad: bool) -> bool:
        return (not grad and self.winograd_min_channels is not None and conv.in_channels >= self.winograd_min_channels
                and x.device.type == "cpu" and x.dtype == torch.float32 and winograd_supported(conv))

    def _conv_bn(self, x: Tensor, conv: nn.Conv2d, bn: nn.Module, grad: bool, relu: bool = False,
                 residual: Tensor | None = None) -> Tensor:
        weight, bias = self._folded(conv, bn, grad)
        if self._use_winograd(x, conv, grad):
            tile = self._winograd.tile_for(x, weight)
            hit = self._winograd_weights.get((id(conv), tile))
            if hit is None or hit[0] is not weight:  # the folded-weight cache made a new tensor: weights changed
                with torch.inference_mode(False), torch.no_grad():
                    hit = (weight, winograd_weight(weight, tile))
                self._winograd_weights[(id(conv), tile)] = hit
            return self._winograd(x, hit[1], bias, residual=residual, relu=relu)
        op = None if grad or x.device.type != "cpu" or x.dtype != torch.float32 else fused_conv_ops()
        if op is not None and x.is_contiguous(memory_format=torch.channels_last) and conv.groups == 1:
            args = (list(conv.padding), list(conv.stride), list(conv.dilation), 1)
            if residual is not None:
                return op.binary(x, residual.contiguous(memory_format=torch.channels_last), weight, bias, *args,
                                 "add", None, "relu", [], "")
            return op(x, weight, bias, *args, "relu" if relu else "none", [], "")
        out = torch.nn.functional.conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups)
        if residual is not None:
            out = out + residual
            relu = True
        return torch.nn.functional.relu(out, inplace=not grad) if relu else out

    def _block(self, block: nn.Module, x: Tensor, grad: bool) -> Tensor:
        identity = x if block.downsample is None else self._conv_bn(x, block.downsample[0], block.downsample[1], grad)
        out = self._conv_bn(x, block.conv1, block.bn1, grad, relu=True)
        if isinstance(block, Bottleneck):
            out = self._conv_bn(out, block.conv2, block.bn2, grad, relu=True)
            return self._conv_bn(out, block.conv3, block.bn3, grad, residual=identity)
        return self._conv_bn(out, block.conv2, block.bn2, grad, residual=identity)

    def __call__(self, x: Tensor) -> Tensor:
        t = self.trunk
        grad = torch.is_grad_enabled() and t.conv1.weight.requires_grad
        if grad or x.shape[0] == 1:
            x = t.maxpool(self._conv_bn(x, t.conv1, t.bn1, grad, relu=True))
        else:  # one image at a time: the full-resolution stem output is the largest tensor by far
            x = torch.cat([t.maxpool(self._conv_bn(xi, t.conv1, t.bn1, grad, relu=True)) for xi in x.split(1)])
        for layer in (t.layer1, t.layer2, t.layer3, t.layer4):
            for block in layer:
                x = self._block(block, x, grad)
        return x
