"""``trd-cds report`` / ``purge`` on a store that cannot be opened: one clear line, no traceback."""
from __future__ import annotations

import pytest

from cds_service.cli import main


@pytest.mark.parametrize("command", [["report"], ["purge", "--older-than", "30"]])
@pytest.mark.parametrize("url, cause", [("sqlite:////nonexistent-folder/x.db", "OperationalError"),
                                        ("not a database url", "ArgumentError")])
def test_a_store_that_cannot_be_opened_is_one_clear_line(command, url, cause):
    with pytest.raises(SystemExit, match=f"trd-cds: cannot open the store: {cause}"):
        main([*command, "--database-url", url])
