"""Built-in observers a recipe switches on under ``search.observers``: MLflow tracking."""

from autometa import hookimpl


@hookimpl
def register_observers():
    from autometa_plugins.observers.mlflow_tracking import MlflowTracking

    return [MlflowTracking]
