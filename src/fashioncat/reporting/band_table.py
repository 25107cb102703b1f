"""metrics/noise_band.md: the committed noise band as a table the docs include, written beside its JSON.

`make noise-band` writes both. To write the table again from a band file:
`python -m fashioncat.reporting.band_table metrics/noise_band.json metrics/noise_band.md`.
"""

from __future__ import annotations

import sys

from fashioncat.errors import FashionError
from fashioncat.io import read_json, write_text


def markdown(band: dict) -> str:
    """The runs the band came from, and every headline metric's band, widest first."""
    runs = ", ".join(f"`{r['rev']}` (seed {r['seed']}, commit {r['commit'][:7]})" for r in band["runs"])
    rows = sorted(band["band"].items(), key=lambda kv: (-kv[1], kv[0]))
    lines = [
        f"Measured from {len(band['runs'])} runs that differ only in `seed`: {runs}. Statistic: {band['statistic']}.",
        "",
        "| metrics file | metric | band |",
        "|---|---|---|",
    ]
    for key, width in rows:
        path, _, metric = key.partition(":")
        lines.append(f"| `{path}` | {metric} | {width:g} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m fashioncat.reporting.band_table BAND.json OUT.md", file=sys.stderr)
        return 2
    try:
        band = read_json(args[0])
        write_text(args[1], markdown(band))
    except (FashionError, OSError, KeyError, TypeError, ValueError) as exc:
        print(f"error: {args[0]}: not a noise band file ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
