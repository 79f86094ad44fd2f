"""python -m benchmarks [--quick] [--reps N] [--only BENCH]: every benchmark, one table."""

import sys

from benchmarks.common import main

sys.exit(main())
