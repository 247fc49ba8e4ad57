"""``python -m segrap_nb`` runs the ``segrap-nb`` command line."""

import sys

from segrap_nb.cli import main

sys.exit(main())
