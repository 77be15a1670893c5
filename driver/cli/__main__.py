"""`python -m driver.cli`: the `needlepen` command."""

import sys

from driver.cli import main

sys.exit(main())
