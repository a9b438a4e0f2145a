"""`python -m r1eval ...` (what `accelerate launch -m r1eval` and `torchrun -m r1eval` run): the r1eval CLI."""

import sys

from r1eval.cli import main

sys.exit(main())
