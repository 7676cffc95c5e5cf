"""Synthetic, realistic import files for load tests, demos and bulk import (pure except ``write``).

People are generated household by household (a head, a spouse, children, sometimes the head's
parents, sometimes grandchildren whose parents live elsewhere), so relatives point at each
other's ID numbers. Every row passes :func:`registry.record.parse_record` as of :data:`TODAY`.
The output depends only on ``n`` and ``seed`` (one ``random.Random(seed)``), never on the run
date or the machine, and memory stays bounded however many rows are asked for: only the current
household and one counter per ID-number prefix are kept.

The modules, by what they draw: ``households`` (who lives together, births and deaths),
``naming`` (names as each group forms them), ``places`` (addresses, birth places, home towns),
``documents`` (ID numbers and cards), ``records`` (one person's row), ``generator`` (a run);
their statistical tables are the files of ``data/`` (``tables`` reads them).
"""

from registry.synthetic.dates import FIRST_BIRTH_YEAR, TODAY
from registry.synthetic.files import Format, write
from registry.synthetic.generator import generate

__all__ = ["FIRST_BIRTH_YEAR", "TODAY", "Format", "generate", "write"]
