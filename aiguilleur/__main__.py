"""``python -m aiguilleur``."""

from aiguilleur.cli import main

main()
