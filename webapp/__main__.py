"""``python -m webapp`` is the ``sitetwin`` command."""

from webapp.cli import main

main()
