"""The benchmark's models: seeded, randomly initialised PyTorch modules and
their inputs (issue 7). Imports under both Pythons the benchmark uses: Debian's
/usr/bin/python3 (torch 1.13, torchvision 0.14), which exports ONNX with the
TorchScript exporter, and the repository's venv (PyPI torch), which runs the
PyTorch-side references; so only APIs both versions have are used.

The oracle test (tests/oracle/oracle_models.py) runs smaller inputs to stay
fast; the benchmark runs the sizes users run: 224x224 images, 128 tokens, and
a 640x640 segmentation network whose layer outputs add up to more than 500 MB.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

SEED = 20240607

CNN_MODELS = ("resnet18", "mobilenet_v2", "efficientnet_b0")
BERT_VOCAB = 8000
BERT_TOKENS = 128
SEG_SIZE = 640

# name -> (input shape, input dtype); the order is the order of the tables.
MODELS = {
    "resnet18": ((1, 3, 224, 224), "float32"),
    "mobilenet_v2": ((1, 3, 224, 224), "float32"),
    "efficientnet_b0": ((1, 3, 224, 224), "float32"),
    "vit_small": ((1, 3, 224, 224), "float32"),
    "bert_small": ((1, BERT_TOKENS), "int64"),
    "fpn_seg640": ((1, 3, SEG_SIZE, SEG_SIZE), "float32"),
}
MODEL_NAMES = list(MODELS)


class BertSmall(nn.Module):
    """BERT-shaped encoder: token + position embeddings, LayerNorm, 2 post-norm
    encoder layers (d_model 128, 2 heads, GELU feed-forward 512), a tanh pooler
    on the first token and a classifier."""

    def __init__(self, vocab=BERT_VOCAB, tokens=BERT_TOKENS, d_model=128, heads=2, layers=2, classes=2):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, d_model)
        self.position_embedding = nn.Embedding(tokens, d_model)
        self.embedding_norm = nn.LayerNorm(d_model)
        layer = nn.TransformerEncoderLayer(d_model=d_model, nhead=heads, dim_feedforward=4 * d_model,
                                           dropout=0.0, activation="gelu", batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=layers, enable_nested_tensor=False)
        self.pooler = nn.Linear(d_model, d_model)
        self.classifier = nn.Linear(d_model, classes)
        self.register_buffer("positions", torch.arange(tokens).unsqueeze(0), persistent=False)

    def forward(self, ids):
        h = self.token_embedding(ids) + self.position_embedding(self.positions)
        h = self.encoder(self.embedding_norm(h))
        return self.classifier(torch.tanh(self.pooler(h[:, 0])))


class ConvBnRelu(nn.Sequential):
    def __init__(self, cin, cout, k=3):
        super().__init__(nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class FpnSegmentation(nn.Module):
    """Semantic-FPN style segmentation: ResNet-18 backbone, a 128-channel
    feature pyramid (1x1 laterals, nearest top-down, 3x3 smoothing) on C2..C5,
    a head that brings every level to 1/4 scale (3x3 conv + 2x upsampling per
    step, as Panoptic FPN does) and sums them, then a U-Net style refinement
    at 1/2 scale (reduce, upsample, concatenate with the stem's features, 3x3
    conv), a classifier and 2x upsampling to the input size. Large activations
    at 1/2 and 1/4 scale make this the model whose layer outputs total more
    than 500 MB for one 640x640 image."""

    def __init__(self, classes=21, pyramid=128, head=128):
        super().__init__()
        r = torchvision.models.resnet18(weights=None)
        self.stem = nn.Sequential(r.conv1, r.bn1, r.relu, r.maxpool)
        self.layer1, self.layer2, self.layer3, self.layer4 = r.layer1, r.layer2, r.layer3, r.layer4
        widths = (64, 128, 256, 512)
        self.lateral = nn.ModuleList(nn.Conv2d(w, pyramid, 1) for w in widths)
        self.smooth = nn.ModuleList(nn.Conv2d(pyramid, pyramid, 3, padding=1) for _ in widths)
        # level i (stride 4*2^i) needs max(1, i) conv steps, each followed by 2x upsampling except at level 0
        self.head = nn.ModuleList(
            nn.ModuleList(ConvBnRelu(pyramid if s == 0 else head, head) for s in range(max(1, i)))
            for i in range(len(widths)))
        self.reduce = nn.Conv2d(head, 64, 1)
        self.refine = ConvBnRelu(64 + 64, 32)
        self.classifier = nn.Conv2d(32, classes, 1)

    def forward(self, x):
        size = x.shape[-2:]
        stem = self.stem[2](self.stem[1](self.stem[0](x)))
        c2 = self.layer1(self.stem[3](stem))
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        c5 = self.layer4(c4)
        laterals = [conv(c) for conv, c in zip(self.lateral, (c2, c3, c4, c5))]
        for i in range(len(laterals) - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + F.interpolate(laterals[i], scale_factor=2.0, mode="nearest")
        pyramid = [conv(p) for conv, p in zip(self.smooth, laterals)]
        fused = None
        for i, (steps, p) in enumerate(zip(self.head, pyramid)):
            for step in steps:
                p = step(p)
                if i > 0:
                    p = F.interpolate(p, scale_factor=2.0, mode="bilinear", align_corners=False)
            fused = p if fused is None else fused + p
        up = F.interpolate(self.reduce(fused), scale_factor=2.0, mode="bilinear", align_corners=False)
        logits = self.classifier(self.refine(torch.cat([up, stem], dim=1)))
        return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


def _randomize_norm_statistics(model, generator):
    """Default BatchNorm statistics make BN an identity; mild random values keep
    the arithmetic honest (activations stay of order one)."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=generator) * 0.5 + 0.75)
                m.weight.copy_(torch.rand(n, generator=generator) * 0.5 + 0.75)
                m.bias.copy_(torch.randn(n, generator=generator) * 0.1)


def build(name):
    """(model in eval mode, example input) for a benchmark model name."""
    torch.manual_seed(SEED)
    shape, dtype = MODELS[name]
    if name in CNN_MODELS:
        model = getattr(torchvision.models, name)(weights=None)
    elif name == "vit_small":
        from torchvision.models.vision_transformer import VisionTransformer
        model = VisionTransformer(image_size=224, patch_size=16, num_layers=4, num_heads=3,
                                  hidden_dim=192, mlp_dim=768, num_classes=1000)
    elif name == "bert_small":
        model = BertSmall()
    elif name == "fpn_seg640":
        model = FpnSegmentation()
    else:
        raise KeyError(name)
    gen = torch.Generator().manual_seed(SEED + 1)
    _randomize_norm_statistics(model, gen)
    model.eval()
    if dtype == "int64":
        example = torch.randint(0, BERT_VOCAB, shape, generator=gen, dtype=torch.int64)
    else:
        example = torch.randn(shape, generator=gen, dtype=torch.float32)
    return model, example
