"""The package's public surface stays curated."""

import suanli


def test_the_public_names_are_exactly_those_in_all() -> None:
    public = {n for n in dir(suanli) if not n.startswith("_")} - {"errors", "model", "cli"}
    assert set(suanli.__all__) - {"__version__"} <= public


def test_test_modules_have_unique_basenames() -> None:
    # pytest imports test modules by basename (rootdir import mode): two test_x.py in different
    # folders stop the whole run at collection, which is how CI once failed.
    from collections import Counter
    from pathlib import Path

    def import_name(path: Path) -> str:
        parts = [path.stem]
        while (path.parent / "__init__.py").exists():
            path = path.parent
            parts.insert(0, path.name)
        return ".".join(parts)

    names = Counter(import_name(p) for p in Path(__file__).parent.rglob("test_*.py"))
    assert [n for n, c in names.items() if c > 1] == []
