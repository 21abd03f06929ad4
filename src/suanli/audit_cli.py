"""The ``suanli audit`` and ``suanli policy`` commands: thin layers over `suanli.ledger` and
`suanli.governance`.

Exit codes: 0 all checks pass; 1 a check failed (a tampered ledger, a proof that does not
verify); 2 bad input (a missing or malformed file, an unknown entry), named by place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from suanli.errors import InputError

audit_app = typer.Typer(
    help="Verify a ledger, prove an entry, explain a placement.", no_args_is_help=True
)
policy_app = typer.Typer(help="Validate a policy set and dry-run its effect.", no_args_is_help=True)

_err = Console(stderr=True)


def _fail(exc: InputError) -> typer.Exit:
    _err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def _key(value: str | None) -> bytes | None:
    """A public key given as 64 hex digits or as a file holding them."""
    if value is None:
        return None
    text = value
    if Path(value).is_file():
        try:
            text = Path(value).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as e:
            raise InputError("--key", f"cannot read {value}: {e}") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise InputError("--key", "must be 64 hex digits (or a file holding them)")
    return key


KeyOption = Annotated[
    str | None,
    typer.Option("--key", help="Pin the signer: its Ed25519 public key, 64 hex digits or a file."),
]


@audit_app.command("verify")
def verify(
    path: Annotated[Path, typer.Argument(help="The ledger (JSON Lines).")],
    heads: Annotated[
        Path | None, typer.Option(help="The heads file (default: beside the ledger).")
    ] = None,
    key: KeyOption = None,
) -> None:
    """Check a ledger end to end against its signed heads; exit 1 naming what fails."""
    from suanli.ledger import verify_ledger

    try:
        report = verify_ledger(path, heads, _key(key))
    except InputError as exc:
        raise _fail(exc) from None
    if not report.ok:
        for p in report.problems:
            typer.echo(f"FAIL {p}", err=True)
        if report.more:
            typer.echo(f"FAIL ... and {report.more} more problem(s)", err=True)
        raise typer.Exit(code=1)
    typer.echo(
        f"ok: {report.entries} entries, {report.heads} signed head(s), "
        f"key {report.public_key.hex()}" + ("" if key else " (not pinned: pass --key)")
    )


@audit_app.command("prove")
def prove(
    path: Annotated[Path, typer.Argument(help="The ledger (JSON Lines).")],
    entry: Annotated[int, typer.Argument(help="The entry's seq (0-based; line number - 1).")],
    size: Annotated[
        int | None, typer.Option(help="Tree size of the head to prove against (default: latest).")
    ] = None,
) -> None:
    """Print an inclusion proof (JSON) of one entry against a signed head."""
    from suanli.ledger import MerkleTree, leaf_hash
    from suanli.ledger.ledger import InclusionProof
    from suanli.ledger.verify import load_for_proof

    try:
        lines, heads = load_for_proof(path)
        sizes = [h.tree_size for h in heads.heads]
        if not sizes:
            raise InputError(str(path), "its heads file holds no signed head")
        n = sizes[-1] if size is None else size
        if n not in sizes:
            raise InputError("--size", f"no signed head has size {n}", f"heads: {sizes}")
        if n > len(lines):
            raise InputError(str(path), f"has {len(lines)} entries, the head signs {n}")
        if not 0 <= entry < n:
            raise InputError("ENTRY", f"must be in 0..{n - 1}, got {entry}")
    except InputError as exc:
        raise _fail(exc) from None
    tree = MerkleTree([leaf_hash(line) for line in lines[:n]])
    proof = InclusionProof(entry, n, lines[entry], tuple(tree.inclusion_proof(entry, n)))
    typer.echo(json.dumps(proof.to_json(), indent=1, ensure_ascii=False))


@audit_app.command("check-proof")
def check_proof_cmd(
    proof: Annotated[Path, typer.Argument(help="An inclusion proof from `suanli audit prove`.")],
    head: Annotated[
        Path, typer.Option("--head", help="A published heads file (or one head with publicKey).")
    ],
    key: KeyOption = None,
) -> None:
    """Check an inclusion proof against a published signed head; exit 1 if it fails."""
    from suanli.ledger import ProofError, check_proof
    from suanli.ledger.ledger import InclusionProof

    try:
        p = InclusionProof.from_json(_read_json(proof))
        signed, public_key = _find_head(_read_json(head), head, p.tree_size)
        pinned = _key(key)
    except (InputError, KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise _fail(exc) from None
        raise _fail(InputError(str(proof), f"not an inclusion proof: {exc}")) from None
    try:
        check_proof(p, signed, pinned or public_key)
    except ProofError as exc:
        typer.echo(f"FAIL entry {p.index}: {exc}", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(f"ok: entry {p.index} is in the signed tree of {p.tree_size} entries")


@audit_app.command("check-head")
def check_head_cmd(
    head: Annotated[Path, typer.Argument(help="A service's signed head (GET /v1/audit/head).")],
    keys: Annotated[
        Path, typer.Option("--keys", help="The service's key history (GET /v1/audit/keys).")
    ],
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            help="Pin the first key of the history: its Ed25519 public key, 64 hex digits or "
            "a file.",
        ),
    ] = None,
) -> None:
    """Check a signed head against the key history: every rotation endorsed by the key
    before it, from the pinned first key; the head's key valid at its tree size."""
    from suanli.ledger import KeyHistoryError, verify_head

    try:
        pinned = _key(key)
        k = verify_head(_read_json(head), _read_json(keys), pinned)
    except InputError as exc:
        raise _fail(exc) from None
    except KeyHistoryError as exc:
        typer.echo(f"FAIL {exc}", err=True)
        raise typer.Exit(code=1) from None
    doc = _read_json(head)
    typer.echo(
        f"ok: the head of {doc['treeSize']} entries is signed by key {k.key_id} (valid from "
        f"tree size {k.valid_from})" + ("" if key else "; first key not pinned: pass --key")
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(str(path), f"cannot read: {e.strerror or e}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(str(path), f"not JSON: {e}") from None


def _find_head(obj: Any, path: Path, size: int) -> tuple[Any, bytes]:
    """The head of ``size`` in a heads file or a single head object, and its public key."""
    from suanli.ledger import SignedHead
    from suanli.ledger.files import parse_heads

    if isinstance(obj, dict) and "heads" in obj:
        try:
            heads = parse_heads(obj)
        except ValueError as e:
            raise InputError(f"{path.name}", str(e)) from None
        for h in heads.heads:
            if h.tree_size == size:
                return h, heads.public_key
        raise InputError(str(path), f"no head of size {size}")
    if not isinstance(obj, dict) or "publicKey" not in obj:
        raise InputError(str(path), "not a heads file nor a head with publicKey")
    return SignedHead.from_json(obj), bytes.fromhex(obj["publicKey"])


@audit_app.command("explain")
def explain_cmd(
    job: Annotated[str, typer.Argument(help="The job id.")],
    ledger: Annotated[Path, typer.Option("--ledger", help="The ledger (JSON Lines).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the entries as JSON.")] = False,
) -> None:
    """Tell why a job went where it went, from the ledger's entries about it."""
    from suanli.ledger import explain
    from suanli.ledger.files import read_lines

    try:
        lines, _ = read_lines(ledger)
        story = explain(lines, job)
        if not story.entries:
            raise InputError(str(ledger), f"no entry about job {job!r}")
    except InputError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(json.dumps(list(story.entries), ensure_ascii=False))
        return
    for line in story.lines():
        typer.echo(line)


# ---------------------------------------------------------------- policy


@policy_app.command("validate")
def validate(
    policy: Annotated[Path, typer.Argument(help="A PolicySet YAML file.")],
    scenario: Annotated[str, typer.Option(help="Scenario name or file.")] = "china-edwc",
) -> None:
    """Check a policy file and compile it against a scenario; list its rules."""
    from suanli.governance import GovernanceEngine
    from suanli.scenario import load_scenario

    try:
        engine = GovernanceEngine.from_file(policy, load_scenario(scenario))
    except InputError as exc:
        raise _fail(exc) from None
    typer.echo(f"ok: {engine.name}, {len(engine.policy.spec.rules)} rule(s)")
    for r in engine.policy.spec.rules:
        typer.echo(f"  {r.id} ({r.kind}): {r.description}")


@policy_app.command("check")
def check(
    policy: Annotated[Path, typer.Argument(help="The new PolicySet YAML file.")],
    scenario: Annotated[str, typer.Option(help="Scenario name or file.")] = "china-edwc",
    workload: Annotated[
        Path | None, typer.Option(help="Workload file (default: generated).")
    ] = None,
    against: Annotated[
        Path | None,
        typer.Option(help="The current PolicySet (default: the interim residency rule)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the generated workload.")] = 7,
    days: Annotated[float, typer.Option(help="Days of generated arrivals.")] = 1.0,
    show: Annotated[int, typer.Option(help="Jobs listed per kind of change.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Dry run: which jobs a new policy set would deny, move or send for approval."""
    from suanli.core.cost import CostModel
    from suanli.core.rules import INTERIM_RULES, SiteRules
    from suanli.governance import GovernanceEngine
    from suanli.governance.check import Change, compare_rules
    from suanli.simulation import load_inputs

    try:
        if days <= 0:
            raise InputError("--days", f"must be > 0, got {days:g}")
        scn, jobs = load_inputs(scenario, workload, seed=seed, days=days)
        after = GovernanceEngine.from_file(policy, scn)
        before: SiteRules = (
            INTERIM_RULES if against is None else GovernanceEngine.from_file(against, scn)
        )
    except InputError as exc:
        raise _fail(exc) from None
    diff = compare_rules(jobs, CostModel(scn), before, after)
    if as_json:
        typer.echo(json.dumps(diff.to_json(), ensure_ascii=False))
        return
    console = Console(soft_wrap=True)
    was = "interim rules" if against is None else against.name
    table = Table(title=f"{after.name} vs {was}: {diff.jobs:,} jobs")
    table.add_column("change")
    table.add_column("jobs", justify="right")
    for kind, n in diff.count().items():
        table.add_row(kind.value, f"{n:,}")
    console.print(table)
    for rule, n in diff.by_rule().items():
        console.print(f"  rule {rule}: {n:,} (job, site) pair(s) newly excluded or held")
    for kind in Change:
        some = [c for c in diff.changes if c.change is kind][:show]
        for c in some:
            console.print(f"{kind.value} {c.job} ({c.tenant}): {c.before} -> {c.after}")
            for site, why in list(c.lost.items())[:3]:
                console.print(f"    {site}: {why}", highlight=False)
            for site, why in list(c.approval.items())[:2]:
                console.print(f"    {site} after approval: {why}", highlight=False)
