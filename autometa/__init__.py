"""autometa: AutoML for meta-learning.

Search few-shot learning strategies with Optuna, compress the winner, and ship a
self-contained few-shot predictor. The core names no algorithm: data sets,
backbones, meta-learners, inner optimizers, regularizers, pruners, distillers,
quantizers and exporters are all plugins (see :mod:`autometa.hookspecs`).
"""

__version__ = "0.1.0"
