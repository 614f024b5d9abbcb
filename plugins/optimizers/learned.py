"""A coordinate-wise learned inner optimizer (Andrychowicz et al. 2016; Metz et al. features).

One small network, shared by every coordinate of every adapted tensor, reads
per-coordinate features and proposes a correction to the SGD step:

    update = -lr * (clip(g) + rms(g) * bound * tanh(net(features)))

* **Features** (Metz et al. 2022, "Practical tradeoffs between memory, compute,
  and performance in learned optimizers"): the clipped gradient, its running
  momenta at two timescales, the parameter value (each divided by its root mean
  square over the tensor, so the network sees unit-scale inputs whatever the
  layer), and ``tanh(step / tau)`` time features that do not depend on the total
  number of steps (a trained optimizer can be reused with another step count).
* **Stable by construction**: gradients are clipped coordinate-wise, and the
  learned correction is at most ``bound`` times the gradient's RMS, so one step
  can never move a coordinate more than ``lr * (clip + bound * rms(g))``.
* **Starts as SGD**: the network's last layer is zero-initialised, so before
  meta-training the rule is exactly plain SGD with the learner's ``inner_lr``.

The network is a submodule of the learner, so it is saved in every checkpoint;
``load:`` initialises it from a previous run's checkpoint (or any file holding its
state) so an optimizer meta-trained once can be reused, optionally ``freeze``-d.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field
from torch import nn

from autometa import InnerOptimizer, PluginError, PluginOptions

MOMENTUM_DECAYS = (0.5, 0.9)
TIME_SCALES = (1.0, 3.0, 10.0)
# gradient, one momentum per decay, parameter value, one time feature per scale
FEATURES = 2 + len(MOMENTUM_DECAYS) + len(TIME_SCALES)
_EPS = 1e-8


class LearnedOptimizer(InnerOptimizer):
    """Coordinate-wise learned update rule (MLP or LSTM shared across coordinates), meta-trained.

    Andrychowicz et al., "Learning to learn by gradient descent by gradient
    descent", NeurIPS 2016; input features and normalisation after Metz et al.
    2022. Starts as plain SGD and learns a bounded correction; see the module
    docstring.
    """

    name = "learned"

    class Options(PluginOptions):
        network: Literal["mlp", "lstm"] = Field("mlp", description="per-coordinate network: stateless MLP or LSTM")
        hidden: int = Field(16, ge=2, le=256, description="hidden units of the per-coordinate network")
        bound: float = Field(
            1.0, gt=0, description="largest learned correction, in units of the gradient's RMS over its tensor"
        )
        grad_clip: float = Field(10.0, gt=0, description="coordinate-wise gradient clipping inside the rule")
        load: Path | None = Field(
            None, description="initialise from this checkpoint.pt (or saved state) of an earlier run"
        )
        freeze: bool = Field(False, description="keep the (loaded) rule fixed instead of meta-training it")

    def __init__(self, options: Options, params: dict[str, torch.Tensor], steps: int, lr: float):
        super().__init__(options, params, steps, lr)
        hidden = options.hidden
        if options.network == "lstm":
            self.cell = nn.LSTMCell(FEATURES, hidden)
        else:
            self.body = nn.Sequential(nn.Linear(FEATURES, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.out = nn.Linear(hidden, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        if options.load is not None:
            self.load_state_dict(find_saved_state(options.load, self.state_dict(), self.describe()))
        if options.freeze:
            self.requires_grad_(False)

    def describe(self) -> str:
        return f"learned inner optimizer (network={self.options.network}, hidden={self.options.hidden})"

    def get_extra_state(self) -> dict[str, Any]:
        """Saved with the weights so a mismatched ``load:`` is reported by kind, not by shape."""
        return {"network": self.options.network, "hidden": self.options.hidden}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        mine = self.get_extra_state()
        if state != mine:
            raise PluginError(
                f"cannot load a learned inner optimizer saved with {state} into one built with {mine}; "
                "set the same 'network' and 'hidden' options as the run it came from"
            )

    def init_state(self, params: dict[str, torch.Tensor]) -> dict[str, Any]:
        return {"momenta": {name: [torch.zeros_like(p) for _ in MOMENTUM_DECAYS] for name, p in params.items()},
                "memory": None}

    def step(
        self, params: dict[str, torch.Tensor], grads: dict[str, torch.Tensor], step: int, state: Any
    ) -> tuple[dict[str, torch.Tensor], Any]:
        if state is None:
            state = self.init_state(params)
        names = list(params)
        clipped = {n: grads[n].clamp(-self.options.grad_clip, self.options.grad_clip) for n in names}
        momenta = {
            n: [beta * m + (1 - beta) * clipped[n] for beta, m in zip(MOMENTUM_DECAYS, state["momenta"][n])]
            for n in names
        }
        features = torch.cat([self._features(params[n], clipped[n], momenta[n], step) for n in names])
        correction, memory = self._network(features, state["memory"])
        correction = self.options.bound * torch.tanh(correction)
        updated, offset = {}, 0
        for n in names:
            size = params[n].numel()
            scale = _rms(clipped[n])
            learned = correction[offset:offset + size].view_as(params[n]) * scale
            updated[n] = params[n] - self.lr * (clipped[n] + learned)
            offset += size
        return updated, {"momenta": momenta, "memory": memory}

    def _features(self, param: torch.Tensor, grad: torch.Tensor, momenta: list[torch.Tensor], step: int) -> torch.Tensor:
        """``[numel, FEATURES]``: per-tensor RMS-normalised inputs plus time features."""
        columns = [_normalised(grad), *(_normalised(m) for m in momenta), _normalised(param)]
        flat = torch.stack([c.reshape(-1) for c in columns], dim=1)
        time = torch.tensor([math.tanh(step / tau) for tau in TIME_SCALES], dtype=flat.dtype, device=flat.device)
        return torch.cat([flat, time.expand(flat.shape[0], -1)], dim=1).to(self.out.weight.dtype)

    def _network(self, features: torch.Tensor, memory: Any) -> tuple[torch.Tensor, Any]:
        if self.options.network == "lstm":
            h, c = self.cell(features, memory)
            return self.out(h).squeeze(1), (h, c)
        return self.out(self.body(features)).squeeze(1), None


def _rms(x: torch.Tensor) -> torch.Tensor:
    return x.pow(2).mean().add(_EPS).sqrt()


def _normalised(x: torch.Tensor) -> torch.Tensor:
    return x / _rms(x)


def find_saved_state(path: Path, expected: dict[str, Any], what: str) -> dict[str, Any]:
    """The state of a saved learned optimizer inside ``path`` (a checkpoint or a bare state dict).

    Checkpoints nest the learner's state dict somewhere inside; the optimizer's
    entries are found by its ``_extra_state`` marker (which also names the network
    it was saved with), whatever the prefix.
    """
    if not Path(path).is_file():
        raise PluginError(f"learned optimizer load: {path} not found; point 'load' at an earlier run's checkpoint.pt")
    try:  # a checkpoint of the user's own earlier run: may hold more than tensors
        saved = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise PluginError(f"learned optimizer load: cannot read {path} ({exc}); is it a torch checkpoint?") from None
    marker = "_extra_state"
    for state in _state_dicts(saved):
        for key, value in state.items():
            if not (key.endswith(marker) and isinstance(value, dict) and "network" in value):
                continue
            prefix = key[: -len(marker)]
            if value != expected[marker]:
                raise PluginError(
                    f"learned optimizer load: {path} holds one saved with {value}, this recipe builds "
                    f"{expected[marker]}; set the same 'network' and 'hidden' options as the run it came from"
                )
            found = {name: state.get(prefix + name) for name in expected}
            for name, tensor in expected.items():
                if isinstance(tensor, torch.Tensor) and getattr(found[name], "shape", None) != tensor.shape:
                    raise PluginError(
                        f"learned optimizer load: {path} has {prefix + name} of shape "
                        f"{tuple(getattr(found[name], 'shape', ()))}, the {what} needs {tuple(tensor.shape)}"
                    )
            return found
    raise PluginError(
        f"learned optimizer load: {path} holds no learned inner optimizer; load the checkpoint of a run "
        "that used 'inner_optimizer: learned'"
    )


def _state_dicts(obj: Any, depth: int = 0) -> list[dict[str, Any]]:
    """Every string-keyed mapping inside ``obj`` (checkpoints nest state dicts a few levels deep)."""
    if depth > 4 or not isinstance(obj, dict):
        return []
    found = [obj] if all(isinstance(k, str) for k in obj) else []
    for value in obj.values():
        found.extend(_state_dicts(value, depth + 1))
    return found
