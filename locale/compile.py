"""Compile each locale/*/LC_MESSAGES/*.po into its .mo, without GNU gettext.

Run it after editing a catalogue:

    .venv/bin/python locale/compile.py

The .mo files are committed, so a fresh clone shows every language without
any tool; tests/consent/test_landing_translations.py fails when a .mo no
longer matches its .po.
"""

import sys
from pathlib import Path

import polib


def main() -> int:
    root = Path(__file__).resolve().parent
    catalogues = sorted(root.glob("*/LC_MESSAGES/*.po"))
    for source in catalogues:
        catalogue = polib.pofile(str(source))
        catalogue.save_as_mofile(str(source.with_suffix(".mo")))
        sys.stdout.write(
            f"{source.relative_to(root.parent)}: "
            f"{catalogue.percent_translated()}% translated\n"
        )
    return 0 if catalogues else 1


if __name__ == "__main__":
    sys.exit(main())
