"""``python -m hall_display run --config display.yaml``."""

import sys

from hall_display.cli import main

sys.exit(main())
