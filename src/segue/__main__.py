"""``python -m segue`` runs the command line."""

from segue.cli import app

app()
