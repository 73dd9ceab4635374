"""`python -m adapters.cli`: the `faxbridge` command."""

import sys

from adapters.cli.main import main

sys.exit(main())
