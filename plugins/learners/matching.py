"""Matching Networks (Vinyals et al. 2016), without full-context embeddings.

A query attends over every support image with a softmax of cosine similarities;
the predicted distribution is the attention mass on each class,
``p(c | x) = sum_i a(x, x_i) [y_i = c]``. The head returns ``log p`` up to a
per-query constant, computed stably as a log-sum-exp over each class's support
images, so cross-entropy on it is exactly the paper's loss. Cosines are divided
by a temperature (Vinyals et al. used 1, which learns slowly; 0.1 is the default).
The full-context embeddings (bidirectional LSTM over the support set, attention
LSTM for queries) are not implemented.
"""

from __future__ import annotations

from pydantic import Field
from torch import Tensor, nn

from autometa import EmbeddingLearner, PluginOptions
from autometa_plugins.learners._distances import Temperature, cosine_similarity


class MatchingOptions(PluginOptions):
    temperature: float = Field(0.1, gt=0, description="cosine similarities are divided by this before the attention softmax")
    learn_temperature: bool = Field(False, description="meta-learn the temperature")


class MatchingNetwork(EmbeddingLearner):
    """Matching Networks: cosine attention over the support set (Vinyals et al. 2016)."""

    name = "matching"
    Options = MatchingOptions

    def make_head(self, features: int) -> nn.Module:
        return CosineAttentionHead(self.options.temperature, self.options.learn_temperature)


class CosineAttentionHead(nn.Module):
    """Logit of class c = log of the softmax-attention mass a query puts on c's support images."""

    def __init__(self, temperature: float, learn_temperature: bool):
        super().__init__()
        self.temperature = Temperature(temperature, learn_temperature)

    def forward(self, support: Tensor, onehot: Tensor, query: Tensor) -> Tensor:
        attention = self.temperature(cosine_similarity(query, support))  # [..., Q, S]
        # log sum_i exp(attention_i) over the supports of each class; log 0 = -inf masks the others.
        per_class = attention.unsqueeze(-1) + onehot.log().unsqueeze(-3)  # [..., Q, S, N]
        return per_class.logsumexp(-2)
