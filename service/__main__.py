"""``python -m service`` runs the axial command."""

from service.cli import app

app()
