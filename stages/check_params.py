"""Stage `check_params`: validate the whole params.yaml before any other stage runs.

Every stage depends on this stage's output, so `dvc repro` runs it first whenever
params.yaml changes at all, even for a key no stage declares (a typo), and stops with
one line naming the key. Its output never changes, so a valid edit reruns only the
stages whose own params changed.
"""

from fashioncat import stage
from fashioncat.io import write_text

VALID = "params.yaml is valid\n"


def main(args, cfg):
    write_text(args.out, VALID)  # stage.run has loaded (so validated) the whole file before this line


if __name__ == "__main__":
    p = stage.parser(__doc__, metrics=False)
    p.add_argument("--out", required=True, help="the marker every stage depends on")
    stage.run(main, p)
