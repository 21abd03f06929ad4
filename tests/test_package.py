"""The package's public surface stays curated."""

import suanli


def test_the_public_names_are_exactly_those_in_all() -> None:
    public = {n for n in dir(suanli) if not n.startswith("_")} - {"errors", "model", "cli"}
    assert set(suanli.__all__) - {"__version__"} <= public
