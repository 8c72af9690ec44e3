import sys

from stenod.cli import main

sys.exit(main())
