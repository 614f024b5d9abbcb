"""Backward ops rewritten as forward ops, so an inner loop's gradient steps export to any runtime.

A gradient learner's predictor differentiates its support loss at inference
(``torch.func.grad``). Traced to ATen ops, that gradient is a chain of backward
ops (``convolution_backward``, ``native_batch_norm_backward``, ...), which no
ONNX translation and few runtimes know. :func:`backward_decompositions` is the
table :mod:`autometa.deploy.tracing` traces with: PyTorch's own decompositions of
backward ops, plus two written here that PyTorch lacks (a convolution's and an
average pool's gradient as transposed convolutions), so the traced graph holds
forward ops only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

aten = torch.ops.aten


def convolution_backward(
    grad_output: Tensor, input: Tensor, weight: Tensor, bias_sizes: Any, stride: list[int], padding: list[int],
    dilation: list[int], transposed: bool, output_padding: list[int], groups: int, output_mask: list[bool],
) -> Any:
    """``aten.convolution_backward`` as forward convolutions (any dimension, stride, padding, dilation, groups).

    grad_input: the transposed convolution of ``grad_output`` with the same weight
    (output padding restores the rows lost to stride rounding). grad_weight: the
    input (batch and channel axes swapped) convolved with ``grad_output`` as the
    kernel, stride and dilation swapped, cropped to the kernel size, per group.
    grad_bias: a sum. Transposed convolutions are left to PyTorch (``NotImplemented``).
    """
    if transposed:
        return NotImplemented
    spatial = input.dim() - 2
    kernel = weight.shape[2:]
    grad_input = grad_weight = grad_bias = None
    if output_mask[0]:
        lost = [
            input.shape[2 + i] + 2 * padding[i] - dilation[i] * (kernel[i] - 1) - 1
            - (grad_output.shape[2 + i] - 1) * stride[i]
            for i in range(spatial)
        ]
        grad_input = aten.convolution.default(grad_output, weight, None, stride, padding, dilation, True, lost, groups)
    if output_mask[1]:
        in_per_group, out_per_group = input.shape[1] // groups, weight.shape[0] // groups
        crop = (slice(None), slice(None)) + tuple(slice(0, k) for k in kernel)
        parts = []
        for g in range(groups):
            x = input if groups == 1 else input[:, g * in_per_group:(g + 1) * in_per_group]
            dy = grad_output if groups == 1 else grad_output[:, g * out_per_group:(g + 1) * out_per_group]
            w = aten.convolution.default(
                x.transpose(0, 1), dy.transpose(0, 1), None, dilation, padding, stride, False, [0] * spatial, 1
            )
            parts.append(w[crop].transpose(0, 1))
        grad_weight = parts[0] if groups == 1 else torch.cat(parts, 0)
    if output_mask[2]:
        grad_bias = grad_output.sum([0, *range(2, grad_output.dim())])
    return grad_input, grad_weight, grad_bias


def avg_pool2d_backward(
    grad_output: Tensor, input: Tensor, kernel_size: list[int], stride: list[int], padding: list[int],
    ceil_mode: bool, count_include_pad: bool, divisor_override: int | None,
) -> Any:
    """``aten.avg_pool2d_backward`` as a depthwise transposed convolution with a constant kernel,
    where every window has the same divisor (else ``NotImplemented``: no rewrite, named by the export)."""
    kh, kw = kernel_size if len(kernel_size) == 2 else (kernel_size[0],) * 2
    sh, sw = (stride if len(stride) == 2 else (stride[0],) * 2) if stride else (kh, kw)
    ph, pw = padding if len(padding) == 2 else (padding[0],) * 2
    h, w = input.shape[-2:]
    oh, ow = grad_output.shape[-2:]
    overhang = (oh - 1) * sh + kh > h + 2 * ph or (ow - 1) * sw + kw > w + 2 * pw
    if overhang or (not count_include_pad and (ph or pw)):
        return NotImplemented
    divisor = divisor_override or kh * kw
    kernel = torch.full((1, 1, kh, kw), 1.0 / divisor, dtype=grad_output.dtype, device=grad_output.device)
    lost = [h + 2 * ph - kh - (oh - 1) * sh, w + 2 * pw - kw - (ow - 1) * sw]
    flat = grad_output.reshape(-1, 1, oh, ow)
    grad = aten.convolution.default(flat, kernel, None, [sh, sw], [ph, pw], [1, 1], True, lost, 1)
    return grad.reshape(*input.shape[:-2], h, w)


#: Forward-op rewrites of backward ops PyTorch has no decomposition for.
WRITTEN_HERE: dict[Any, Callable[..., Any]] = {
    aten.convolution_backward.default: convolution_backward,
    aten.avg_pool2d_backward.default: avg_pool2d_backward,
}

#: Forward ops decomposed on purpose: onnxscript's translation of ``nll_loss_forward`` fakes its
#: ``total_weight`` output (1 for a mean), which only the backward reads, so the cross-entropy
#: gradient of an inner step came out S times too large in ONNX while the .pt2 was exact.
FORWARD_OPS_WITH_UNRELIABLE_AUX_OUTPUTS = (aten.nll_loss_forward.default, aten.nll_loss2d_forward.default)


def backward_decompositions() -> dict[Any, Callable[..., Any]]:
    """Every decomposition of a backward op into forward ops: PyTorch's full table (batch norm,
    max pooling, ReLU, log-softmax, ... backward) plus :data:`WRITTEN_HERE`."""
    from torch._decomp import decomposition_table

    table = {op: fn for op, fn in decomposition_table.items() if "backward" in op.name()}
    table.update(WRITTEN_HERE)
    for op in FORWARD_OPS_WITH_UNRELIABLE_AUX_OUTPUTS:
        table[op] = decomposition_table[op]
    return table


def backward_ops(graph: torch.fx.Graph) -> list[str]:
    """The backward ops left in a traced graph, e.g. ``['aten.adaptive_max_pool2d_backward.default']``."""
    return sorted({
        str(node.target) for node in graph.nodes
        if node.op == "call_function" and "backward" in str(node.target)
    })
