"""``python -m archlab`` runs the CLI (``torchrun -m archlab train ...`` too)."""

from archlab.cli import main

raise SystemExit(main())
