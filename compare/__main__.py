"""``python -m tapeflow.compare`` is the ``tapeflow`` command."""

import sys

from .cli import main

sys.exit(main())
