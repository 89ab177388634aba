"""``python -m lapse_dsl`` runs the ``lapse`` command."""

from .cli import run

run()
