"""Post-training static int8 quantization through PT2E (torchao), checked for accuracy.

The backbone is captured with ``torch.export``, annotated by the x86 Inductor
quantizer (per-channel int8 weights, per-tensor int8 activations), calibrated on
meta-train episodes and converted. The result is a quantize/dequantize graph:
Inductor (``torch.compile``) fuses it into int8 oneDNN kernels on x86 CPUs; run
eagerly it is *not* faster. The quantized predictor is kept only if its accuracy
on the fixed validation episodes drops by at most ``max_accuracy_drop`` points.
"""

from __future__ import annotations

import copy
from typing import ClassVar

import torch
from pydantic import Field
from torch import nn

from autometa import (
    CompressionContext,
    PluginError,
    PluginOptions,
    Quantizer,
    RecipeError,
    StageOutput,
    episode_accuracy,
)


class Int8Options(PluginOptions):
    calibration_episodes: int = Field(16, ge=1, description="meta-train episodes used to calibrate activation ranges")
    max_accuracy_drop: float = Field(
        1.0, ge=0, description="keep the int8 predictor only if validation accuracy drops by at most this (points)"
    )


class Int8Quantizer(Quantizer):
    """Post-training static int8 for x86 CPUs via PT2E (torchao), kept only if accuracy holds."""

    name: ClassVar[str] = "int8"
    Options: ClassVar[type[Int8Options]] = Int8Options

    def check(self, predictor: nn.Module) -> None:
        if getattr(predictor, "adapts_backbone", False):
            raise RecipeError(
                "compression.quantizer int8 quantizes a backbone's fixed weights, but this predictor adapts its "
                "backbone's weights to every support set; drop the quantizer, or use a metric learner"
            )
        if any(isinstance(m, nn.modules.batchnorm._BatchNorm) and not m.track_running_stats
               for m in predictor.backbone.modules()):
            raise RecipeError(
                "compression.quantizer int8 folds batch norm into the convolutions, which needs running "
                "statistics, but this predictor normalises with each episode's own (as gradient learners do); "
                "drop the quantizer, or use a metric learner"
            )

    def quantize(self, predictor: nn.Module, context: CompressionContext) -> StageOutput:
        self.check(predictor)
        try:
            from torchao.quantization.pt2e import allow_exported_model_train_eval
            from torchao.quantization.pt2e.quantize_pt2e import (
                convert_pt2e,
                prepare_pt2e,
            )
            from torchao.quantization.pt2e.quantizer import (
                x86_inductor_quantizer as x86,
            )
        except ImportError:
            raise PluginError(
                "quantizer 'int8' needs torchao; install it with: pip install 'autometa[quantize]'"
            ) from None
        options = self.options
        support, _, query = context.example
        images = torch.export.Dim("images", min=1)
        captured = torch.export.export(
            copy.deepcopy(predictor.backbone).eval(), (torch.cat([support, query]),), dynamic_shapes=({0: images},)
        ).module()
        quantizer = x86.X86InductorQuantizer().set_global(x86.get_default_x86_inductor_quantization_config())
        prepared = prepare_pt2e(captured, quantizer)
        with torch.no_grad():
            for _ in range(options.calibration_episodes):
                support, _, query = context.sample_episode().predictor_inputs()
                prepared(torch.cat([support, query]))
        quantized = copy.deepcopy(predictor)
        # The backbone alone is captured: the predictor calls it twice (support, query),
        # which the quantizer's pattern matching does not accept in one graph.
        quantized.backbone = allow_exported_model_train_eval(convert_pt2e(prepared))
        before = 100 * episode_accuracy(predictor, context.val_episodes)
        after = 100 * episode_accuracy(quantized, context.val_episodes)
        drop = before - after
        check = (
            f"validation accuracy {before:.2f} -> {after:.2f} ({drop:+.2f} drop, limit {options.max_accuracy_drop:g})"
        )
        if drop > options.max_accuracy_drop:
            return StageOutput(predictor, notes=f"discarded: {check}", kept=False)
        return StageOutput(
            quantized,
            notes=f"{check}; int8 quantize/dequantize graph: fast once compiled by Inductor "
            "(torch.compile) on x86, not faster run eagerly; loading the .pt2 needs 'import torchao'",
        )
