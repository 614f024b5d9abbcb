"""autometa's built-in plugins, registered through the `autometa` entry-point group."""
