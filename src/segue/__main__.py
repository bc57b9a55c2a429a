"""``python -m segue`` runs the command line (named ``segue`` in its messages)."""

from segue.cli import app

app(prog_name="segue")
