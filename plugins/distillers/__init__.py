"""Built-in distillers: Hinton logit distillation and embedding distillation."""

from autometa import hookimpl


@hookimpl
def register_distillers():
    from autometa_plugins.distillers.embeddings import EmbeddingDistiller
    from autometa_plugins.distillers.logits import LogitDistiller

    return [LogitDistiller, EmbeddingDistiller]
