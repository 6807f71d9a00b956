"""Helpers for tests/tempest/run.sh, run with the tempest venv's interpreter.

  helper.py fill TEMPLATE OUT KEY=VALUE...      write TEMPLATE with @KEY@ replaced
  helper.py include-list SELECTION OUT          anchored regexes, one per selected id
  helper.py summarize SELECTION SUBUNIT DETAILS  compare a run with the selection

`summarize` prints a summary, writes every failure's traceback (and captured
log) to DETAILS and exits 1 when a selected test failed, was skipped or did
not run at all (also when nothing ran), else 0.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# Tempest ids carry attributes: "tempest.api...test_foo[id-<uuid>,smoke]".
_ATTRS = re.compile(r"\[[^\]]*\]$")
# A class whose fixture failed: "setUpClass (tempest.api...SomeTest)".
_FIXTURE = re.compile(r"^(setUpClass|tearDownClass) \((.+)\)$")


def read_selection(path: str) -> list[str]:
    ids = []
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            ids.append(line)
    if len(set(ids)) != len(ids):
        sys.exit(f"{path}: duplicate test ids")
    return ids


def fill(template: str, out: str, pairs: list[str]) -> None:
    text = Path(template).read_text()
    for pair in pairs:
        key, _, value = pair.partition("=")
        marker = f"@{key}@"
        if marker not in text:
            sys.exit(f"{template}: no {marker} placeholder")
        text = text.replace(marker, value)
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        sys.exit(f"{template}: unfilled placeholders {sorted(set(left))}")
    Path(out).write_text(text)


def include_list(selection: str, out: str) -> None:
    # Exact ids: a bare id would also match longer test names sharing its prefix.
    ids = read_selection(selection)
    if not ids:  # an empty include list would select every tempest test
        sys.exit(f"{selection}: no test ids")
    lines = [f"^{re.escape(i)}(\\[.*\\])?$" for i in ids]
    Path(out).write_text("\n".join(lines) + "\n")


def _details_text(details: dict) -> str:
    parts = []
    for name, content in details.items():
        try:
            text = b"".join(content.iter_bytes()).decode("utf-8", "replace")
        except Exception as exc:  # noqa: BLE001 - best effort
            text = f"<unreadable: {exc}>"
        if text.strip():
            parts.append(f"--- {name} ---\n{text.rstrip()}")
    return "\n".join(parts)


def summarize(selection: str, subunit_path: str, details_path: str) -> int:
    import subunit
    import testtools

    wanted = read_selection(selection)
    status: dict[str, str] = {}
    fixture_failures: dict[str, str] = {}  # class -> traceback
    fixture_skips: dict[str, str] = {}  # class -> reason
    tracebacks: dict[str, str] = {}
    others: dict[str, str] = {}

    def on_test(test: dict) -> None:
        tid, st = test["id"], test["status"]
        m = _FIXTURE.match(tid)
        if m:
            if st == "skip":
                fixture_skips[m.group(2)] = _details_text(test["details"])
            elif st != "success":
                fixture_failures[m.group(2)] = _details_text(test["details"])
            return
        base = _ATTRS.sub("", tid)
        if st in ("fail", "uxsuccess"):
            tracebacks[base] = _details_text(test["details"])
        if base in wanted_set:
            status[base] = st
        else:
            others[base] = st

    wanted_set = set(wanted)
    with open(subunit_path, "rb") as fh:
        stream = subunit.ByteStreamToStreamResult(fh, non_subunit_name="stdout")
        result = testtools.StreamToDict(on_test)
        result.startTestRun()
        try:
            stream.run(result)
        finally:
            result.stopTestRun()

    ran = len(status)
    # Tests of a class whose setUpClass skipped or failed are not reported
    # one by one; count them as skipped / failed.
    for t in wanted:
        if t not in status:
            cls = t.rsplit(".", 1)[0]
            if cls in fixture_failures:
                status[t] = "fail"
                tracebacks[t] = f"(setUpClass of {cls} failed)"
            elif cls in fixture_skips:
                status[t] = "skip"
    passed = [t for t in wanted if status.get(t) in ("success", "xfail")]
    failed = [t for t in wanted if status.get(t) in ("fail", "uxsuccess")]
    skipped = [t for t in wanted if status.get(t) == "skip"]
    missing = [t for t in wanted if t not in status]

    with open(details_path, "w") as out:
        for cls, text in fixture_failures.items():
            out.write(f"=== FIXTURE FAILED: {cls}\n{text}\n\n")
        for cls, text in fixture_skips.items():
            out.write(f"=== FIXTURE SKIPPED: {cls}\n{text}\n\n")
        for t in failed:
            out.write(f"=== FAIL: {t}\n{tracebacks.get(t, '')}\n\n")

    print()
    print("=" * 70)
    print(f"tempest: {len(wanted)} selected, {ran} ran: "
          f"{len(passed)} passed, {len(failed)} failed, {len(skipped)} skipped, "
          f"{len(missing)} did not run")
    for label, ids in (("FAILED", failed), ("SKIPPED", skipped), ("DID NOT RUN", missing)):
        for t in ids:
            print(f"  {label:11} {t}")
    for cls in fixture_failures:
        print(f"  setUpClass FAILED: {cls}")
    for cls, text in fixture_skips.items():
        reason = text.strip().splitlines()[-1] if text.strip() else ""
        print(f"  setUpClass SKIPPED: {cls} {reason}")
    if others:
        print(f"  (also ran {len(others)} tests outside the selection)")
    if failed or fixture_failures or fixture_skips:
        print(f"tracebacks: {details_path}")
    ok = not failed and not skipped and not missing and not fixture_failures and passed
    print("tempest: OK" if ok else "tempest: FAILED")
    print("=" * 70)
    return 0 if ok else 1


def main(argv: list[str]) -> int:
    if len(argv) >= 3 and argv[0] == "fill":
        fill(argv[1], argv[2], argv[3:])
        return 0
    if len(argv) == 3 and argv[0] == "include-list":
        include_list(argv[1], argv[2])
        return 0
    if len(argv) == 4 and argv[0] == "summarize":
        return summarize(argv[1], argv[2], argv[3])
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
