"""``python -m gradlab`` is ``gradlab``."""

import sys

from gradlab.cli.main import main

sys.exit(main())
