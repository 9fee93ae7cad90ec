"""docker-py: Image.history() of an image berthd loaded; argv: NAME IMAGE-ID."""

import sys

from common import client, expect, ok

name, image_id = sys.argv[1], sys.argv[2]
steps = client().images.get(name).history()
expect("steps", len(steps), 6)
expect("newest step's id", steps[0]["Id"], image_id)
expect("newest step's tags", steps[0]["Tags"], [name])
expect("older ids", {s["Id"] for s in steps[1:]}, {"<missing>"})
expect("older tags", {s["Tags"] for s in steps[1:]}, {None})
expect("created by", [s["CreatedBy"] for s in steps], ["umoci config"] + ["umoci insert"] * 3 + ["umoci config", "umoci insert"])
if steps[-1]["Size"] < 1_000_000 or not isinstance(steps[0]["Created"], int):
    raise AssertionError(f"sizes or times look wrong: {steps!r}")
ok("history")
