"""Fuzz: a long mutational run over every parser, the XML checks, `explain`, the log streamer, the
archive reader and `scan` of small trees (issue 7). Prints how many inputs were tried per target,
the slowest input, and every crash (an exception other than base.Unreadable), saved for replay.

Seeds are the sample pastes, the catalog's examples, tests/hostile/fixtures and small generated
tarballs; mutations flip, insert, delete, repeat and splice bytes and drop in tokens libvirt output
is made of. Runs in a temporary directory; nothing is written elsewhere unless --out is given.

Run: .venv/bin/python bench/fuzz.py [--seconds 300] [--seed 1] [--out DIR] [--hypothesis N]
(--hypothesis N also runs tests/test_properties.py with N examples per property.)
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "hostile"))

import corpus  # noqa: E402

from diagnose import engine, xmlchecks  # noqa: E402
from diagnose.host import archive, base, reader  # noqa: E402

TOKENS = [b"\0", b"\n", b"\r\n", b"\r", b"\xff", b"\xc3", b"'", b'"', b"<", b">", b"&", b";", b"]", b"[", b"=",
          b"\\n", b"virError(Code=1, Domain=2, Message='", b"<domain type='kvm'>", b"</domain>", b"<network>",
          b"</network>", b"<!DOCTYPE d [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>", b"&e;", b"<![CDATA[", b"]]>",
          b"error : ", b": error : ", b"2024-05-02 09:00:00.000+0000: 1: ", b"\x1b[2J", b"\xef\xbb\xbf",
          b"\xff\xfe", b"listen_tls = ", b"[", b'"a",', b"flags : vmx", b"../", b"/", b"\x00" * 64]


def seeds() -> list[bytes]:
    found = [path.read_bytes() for path in sorted((ROOT / "samples" / "pastes").glob("*.txt"))]
    found += [path.read_bytes() for path in sorted(corpus.FIXTURES.rglob("*")) if path.is_file()]
    catalog, _ = engine.loaded()
    found += [example.text.encode() for sig in catalog.signatures for example in sig.examples]
    found += list(corpus.BASE_FILES.values())
    return [seed[:20000] for seed in found if seed]


def tar_seeds() -> list[bytes]:
    out = []
    for name, members in sorted(corpus.archive_cases().items()):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
            for info, data in members:
                tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
        out.append(buffer.getvalue())
        del name
    return out


def mutate(data: bytes, rng: random.Random, pool: list[bytes]) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        choice = rng.randrange(8)
        at = rng.randint(0, len(buf))
        if choice == 0 and buf:
            buf[min(at, len(buf) - 1)] ^= 1 << rng.randrange(8)
        elif choice == 1:
            buf[at:at] = rng.choice(TOKENS)
        elif choice == 2 and buf:
            end = min(len(buf), at + rng.randint(1, 64))
            del buf[at:end]
        elif choice == 3 and buf:
            end = min(len(buf), at + rng.randint(1, 32))
            buf[at:at] = bytes(buf[at:end]) * rng.randint(2, 200)
        elif choice == 4:
            other = rng.choice(pool)
            start = rng.randint(0, len(other))
            buf[at:at] = other[start : start + rng.randint(1, 400)]
        elif choice == 5:
            del buf[at:]
        elif choice == 6:
            buf[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        else:
            buf[at:at] = rng.choice(TOKENS) * rng.randint(1, 500)
    return bytes(buf[: 256 * 1024])


def t_parsers(data: bytes) -> None:
    text = base.decode(data)
    corpus.run_every_parser(text)
    base.looks_binary(data)


def t_xml(data: bytes) -> None:
    xmlchecks.check(xmlchecks.parse(base.decode(data), "domain-xml", "/etc/libvirt/qemu/f.xml"))


def t_explain(data: bytes) -> None:
    engine.explain(data.decode("utf-8", errors="replace"))


def t_stream(data: bytes) -> None:
    host = archive.ArchiveHost(label="fuzz", kind="tree")
    host.members["f"] = tarfile.TarInfo("f")
    host.contents["f"] = data
    chunk, max_line = random.randint(1, 64), random.randint(1, 40)
    with mock.patch.object(base, "CHUNK", chunk), mock.patch.object(base, "MAX_LINE", max_line):
        try:
            got = list(host.iter_raw_lines("/f"))
        except base.Unreadable:
            return
    pieces = data.split(b"\n")
    if pieces[-1] == b"":
        pieces.pop()
    want = [(n, raw[:max_line] + base.CUT_MARK if len(raw) > max_line else raw.rstrip(b"\r"))
            for n, raw in enumerate(pieces, start=1)]
    if got != want:
        raise AssertionError(f"streamed lines differ (chunk {chunk}, cut {max_line})")


def t_archive(data: bytes, work: Path) -> None:
    path = work / "fuzz.tar"
    path.write_bytes(data)
    try:
        host = reader.open_host(str(path))
    except base.Unreadable:
        return
    for name in list(host.members)[:40] if isinstance(host, archive.ArchiveHost) else []:
        host.stat(name)
        host.listdir(name)
        with contextlib.suppress(base.Unreadable):
            host.read_text(name)
    engine.scan(str(path))


def t_scan(data: bytes, work: Path, rng: random.Random) -> None:
    root = work / f"tree{rng.randrange(1 << 30)}"
    corpus.write_base(root)
    corpus.plant(root, data, tuple(rng.sample(corpus.PLANT_AT, 3)))
    try:
        engine.scan(str(root))
    finally:
        subprocess.run(["rm", "-rf", str(root)], check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="save crashing inputs here")
    parser.add_argument("--hypothesis", type=int, default=0, help="also run the property tests with N examples")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    random.seed(args.seed)
    pool = seeds()
    tars = tar_seeds()
    engine.loaded()
    tried: Counter[str] = Counter()
    crashes: list[tuple[str, str, bytes]] = []
    slowest = (0.0, "", b"")
    with tempfile.TemporaryDirectory(prefix="virtdiag-fuzz-") as tmp:
        work = Path(tmp)
        targets: list[tuple[str, int, Callable[[bytes], None], list[bytes]]] = [
            ("parsers", 30, t_parsers, pool),
            ("xml", 20, t_xml, pool),
            ("explain", 10, t_explain, pool),
            ("stream", 20, t_stream, pool),
            ("archive", 8, lambda d: t_archive(d, work), tars),
            ("scan", 2, lambda d: t_scan(d, work, rng), pool),
        ]
        weights = [weight for _, weight, _, _ in targets]
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            name, _, target, source = rng.choices(targets, weights)[0]
            data = mutate(rng.choice(source), rng, pool)
            started = time.monotonic()
            try:
                target(data)
            except base.Unreadable:
                pass
            except Exception:  # noqa: BLE001 - a fuzzer records every other failure
                crashes.append((name, traceback.format_exc(limit=6), data))
            took = time.monotonic() - started
            if took > slowest[0]:
                slowest = (took, name, data)
            tried[name] += 1
    total = sum(tried.values())
    print(f"fuzz: {total} inputs in {args.seconds:.0f} s (seed {args.seed}): "
          + ", ".join(f"{name} {count}" for name, count in sorted(tried.items())))
    print(f"slowest input: {slowest[0]:.2f} s ({slowest[1]}, {len(slowest[2])} bytes)")
    for name, trace, data in crashes[:20]:
        print(f"\nCRASH in {name} ({len(data)} bytes):\n{trace}")
    if crashes and args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for index, (name, _, data) in enumerate(crashes):
            (args.out / f"crash-{index:03d}-{name}.bin").write_bytes(data)
        print(f"{len(crashes)} crashing inputs saved under {args.out}")
    print(f"crashes: {len(crashes)}")
    status = 1 if crashes else 0
    if args.hypothesis:
        env = {**os.environ, "VIRTDIAG_HYPOTHESIS_EXAMPLES": str(args.hypothesis)}
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "--hypothesis-show-statistics", str(ROOT / "tests" / "test_properties.py")],
                              env=env, cwd=ROOT, check=False, capture_output=True, text=True)
        cases = [line.strip() for line in done.stdout.splitlines() if "passing" in line]
        examples = sum(int(line.split()[1]) for line in cases if line.split()[1].isdigit())
        print(f"hypothesis: {examples} examples over {len(cases)} properties; exit {done.returncode}")
        if done.returncode:
            print(done.stdout[-4000:])
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
