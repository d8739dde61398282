import sys

from legsense.cli import main

sys.exit(main())
