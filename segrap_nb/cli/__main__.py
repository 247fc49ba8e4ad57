"""``python -m segrap_nb.cli`` runs the ``segrap-nb`` command line (as ``python -m segrap_nb``)."""

import sys

from segrap_nb.cli import main

sys.exit(main())
