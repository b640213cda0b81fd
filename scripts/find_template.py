"""Which libvirt message templates a line of text holds (for writing a signature's `templates`):

    python scripts/find_template.py "error: Cannot get interface MTU on 'br0': No such device"
    python scripts/find_template.py --grep "interface MTU"      # templates whose msgid holds the words
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from diagnose import messages  # noqa: E402


def main() -> int:
    index = messages.loaded()
    if index is None:
        print("no knowledge/generated/templates.jsonl: run scripts/gen_templates.py")
        return 1
    args = sys.argv[1:]
    if args[:1] == ["--grep"]:
        words = " ".join(args[1:]).lower()
        for key, number in sorted(index.keys.items()):
            if words in key.lower():
                record = index.record(number)
                print(json.dumps(key), record["files"], f"{record['first']}..{record['last']}",
                      "langs:", len(record["forms"]))
        return 0
    for line in args or sys.stdin.read().splitlines():
        print(line)
        for m in index.recognise(line):
            print(f"   {json.dumps(m.key)}  [{m.lang}] letters={m.letters} values={dict(m.values)} "
                  f"tail={m.tail[:60]!r} files={list(m.files)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
