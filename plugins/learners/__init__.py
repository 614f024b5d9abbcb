"""Built-in learners."""

from autometa import hookimpl


@hookimpl
def register_learners():
    # Imported lazily: keep `autometa --help` instant.
    from autometa_plugins.learners.anil import ANIL
    from autometa_plugins.learners.finetune import Finetune
    from autometa_plugins.learners.maml import MAML
    from autometa_plugins.learners.matching import MatchingNetwork
    from autometa_plugins.learners.metasgd import MetaSGDLearner
    from autometa_plugins.learners.protonet import ProtoNet
    from autometa_plugins.learners.reptile import Reptile
    from autometa_plugins.learners.siamese import SiameseNetwork
    from autometa_plugins.learners.task_conditioned import TaskConditionedNetwork

    return [ProtoNet, MatchingNetwork, SiameseNetwork, TaskConditionedNetwork, Finetune, MAML, ANIL, MetaSGDLearner, Reptile]
