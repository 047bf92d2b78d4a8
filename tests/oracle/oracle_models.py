"""Model zoo of the oracle test: deterministic, randomly initialised (never
pretrained) PyTorch models and their inputs.

This module must import under both Pythons the oracle uses: Debian's
/usr/bin/python3 (torch 1.13, torchvision 0.14) for the TorchScript-based
exporter and the repository's venv (PyPI torch) for the dynamo exporter, so it
only uses APIs both versions have.
"""

import torch
import torch.nn as nn
import torchvision

SEED = 20240601

# name -> input shape; resnet18 stays at 224 (the size users run), the other
# CNNs use 96x96 to keep the whole test fast on two cores.
CNN_INPUTS = {
    "resnet18": (1, 3, 224, 224),
    "mobilenet_v2": (1, 3, 96, 96),
    "mobilenet_v3_small": (1, 3, 96, 96),
    "efficientnet_b0": (1, 3, 96, 96),
    "squeezenet1_1": (1, 3, 96, 96),
}

VIT_INPUT = (1, 3, 64, 64)
TEXT_VOCAB = 1000
TEXT_INPUT = (1, 16)

MODEL_NAMES = list(CNN_INPUTS) + ["vit_small", "text_transformer"]


class TextTransformer(nn.Module):
    """nn.Embedding + nn.TransformerEncoder (batch_first) + a linear head, on int64 token ids."""

    def __init__(self, vocab=TEXT_VOCAB, d_model=128, nhead=4, num_layers=2, num_classes=8):
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        layer = nn.TransformerEncoderLayer(d_model=d_model, nhead=nhead, dim_feedforward=256,
                                           dropout=0.0, batch_first=True)
        # enable_nested_tensor only matters with a padding mask; off keeps both
        # torch versions on the same (plain) code path.
        self.encoder = nn.TransformerEncoder(layer, num_layers=num_layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, tokens):
        h = self.encoder(self.embed(tokens))
        return self.head(h)


def _randomize_norm_statistics(model, generator):
    """Default BatchNorm statistics (mean 0, var 1, weight 1, bias 0) make BN an
    identity and would hide a wrong BN kernel; give them mild random values that
    keep activations of order one."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=generator) * 0.5 + 0.75)
                m.weight.copy_(torch.rand(n, generator=generator) * 0.5 + 0.75)
                m.bias.copy_(torch.randn(n, generator=generator) * 0.1)
        elif isinstance(m, nn.LayerNorm) and m.elementwise_affine:
            n = m.weight.numel()
            with torch.no_grad():
                m.weight.copy_(torch.rand(n, generator=generator).reshape(m.weight.shape) * 0.5 + 0.75)
                m.bias.copy_((torch.randn(n, generator=generator) * 0.1).reshape(m.bias.shape))


def build(name):
    """Return (model in eval mode, example input tensor) for a model name; the
    same name always gives the same weights and input for a given torch version."""
    torch.manual_seed(SEED)
    if name in CNN_INPUTS:
        ctor = getattr(torchvision.models, name)
        model = ctor(weights=None)
        shape = CNN_INPUTS[name]
    elif name == "vit_small":
        from torchvision.models.vision_transformer import VisionTransformer
        model = VisionTransformer(image_size=64, patch_size=16, num_layers=4, num_heads=4,
                                  hidden_dim=192, mlp_dim=768, num_classes=10)
        # torchvision zero-initialises the head; random values make the final
        # output a meaningful comparison.
        with torch.no_grad():
            model.heads.head.weight.normal_(0, 0.05)
            model.heads.head.bias.normal_(0, 0.05)
        shape = VIT_INPUT
    elif name == "text_transformer":
        model = TextTransformer()
        shape = TEXT_INPUT
    else:
        raise KeyError(name)
    gen = torch.Generator().manual_seed(SEED + 1)
    _randomize_norm_statistics(model, gen)
    model.eval()
    if name == "text_transformer":
        example = torch.randint(0, TEXT_VOCAB, shape, generator=gen, dtype=torch.int64)
    else:
        example = torch.randn(shape, generator=gen, dtype=torch.float32)
    return model, example
