"""``python -m cds_service.cli``: the ``trd-cds`` command."""
import sys

from cds_service.cli import main

sys.exit(main())
