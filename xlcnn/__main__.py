"""``python -m xlcnn``: the same as the ``xlcnn`` command."""

from .cli import main

main(prog_name="xlcnn")
