#!/usr/bin/env python3
"""Validate the bundled headline data and print its counts as Markdown tables.

Checks: every line parses as a JSON object with the schema fields, ids are unique,
`path` is in data/hierarchy.json, `label` agrees with `path`, `labels[0] == label`,
labels are distinct flat classes, no text repeats (also after NFKC normalization)
within or across files, hard items have a known `kind` and very_short ones are at
most 8 characters. Exits non-zero on the first problem, naming file and line.

Usage: python3 scripts/data_stats.py [DATA_DIR]   (default: data/ next to scripts/)
"""
import collections
import json
import os
import sys
import unicodedata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "data")

FLAT = ["政治", "経済", "国際", "社会", "スポーツ", "IT・科学", "エンタメ"]
PATH_TO_LABEL = {
    "国内/政治": "政治",
    "国内/経済": "経済",
    "国内/社会・地方": "社会",
    "国際/政治": "国際",
    "国際/経済": "国際",
    "国際/紛争": "国際",
    "スポーツ": "スポーツ",
    "IT・科学": "IT・科学",
    "エンタメ": "エンタメ",
}
SPLITS = ["train", "dev", "test"]
KINDS = ["boundary", "omitted_subject", "very_short"]


def fail(where, msg):
    sys.exit(f"{where}: {msg}")


def tree_paths():
    with open(os.path.join(DATA, "hierarchy.json"), encoding="utf-8") as f:
        tree = json.load(f)
    paths = set()
    for top, children in tree.items():
        if children:
            paths.update(f"{top}/{c}" for c in children)
        else:
            paths.add(top)
    return paths


def load(file, hard):
    rows = []
    with open(file, "rb") as f:
        raw = f.read()
    if raw.startswith(b"\xef\xbb\xbf"):
        fail(file, "starts with a BOM")
    for n, line in enumerate(raw.decode("utf-8").split("\n"), 1):
        if not line:
            continue
        where = f"{file}:{n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            fail(where, f"not JSON ({e})")
        want = {"id", "text", "label", "path", "labels"} | ({"kind"} if hard else set())
        if not isinstance(row, dict) or set(row) != want:
            fail(where, f"fields must be exactly {sorted(want)}")
        rows.append((where, row))
    return rows


def check(where, row, paths, hard):
    text, label, path, labels = row["text"], row["label"], row["path"], row["labels"]
    if not isinstance(text, str) or not text or text != text.strip():
        fail(where, "text empty or padded")
    if path not in paths:
        fail(where, f"path {path!r} not in hierarchy.json")
    if PATH_TO_LABEL[path] != label:
        fail(where, f"label {label!r} does not match path {path!r}")
    if not isinstance(labels, list) or not 1 <= len(labels) <= 2 or labels[0] != label:
        fail(where, "labels must be [label] or [label, second]")
    if len(set(labels)) != len(labels) or any(l not in FLAT for l in labels):
        fail(where, f"bad labels {labels}")
    if hard:
        if row["kind"] not in KINDS:
            fail(where, f"unknown kind {row['kind']!r}")
        if row["kind"] == "very_short" and len(text) > 8:
            fail(where, "very_short text longer than 8 characters")
        if not row["id"].startswith("x"):
            fail(where, "hard ids start with x")
    elif not row["id"].startswith("h"):
        fail(where, "headline ids start with h")


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def main():
    paths = tree_paths()
    if paths != set(PATH_TO_LABEL):
        fail("hierarchy.json", f"paths {sorted(paths)} differ from the schema")
    files = [(s, os.path.join(DATA, "headlines", s + ".jsonl"), False) for s in SPLITS]
    files.append(("hard", os.path.join(DATA, "hard", "hard.jsonl"), True))

    ids, texts, norm = {}, {}, {}
    data = {}
    for name, file, hard in files:
        data[name] = []
        for where, row in load(file, hard):
            check(where, row, paths, hard)
            for key, seen in ((row["id"], ids), (row["text"], texts)):
                if key in seen:
                    fail(where, f"{key!r} repeats {seen[key]}")
                seen[key] = where
            nfkc = unicodedata.normalize("NFKC", row["text"]).replace(" ", "")
            if nfkc in norm:
                fail(where, f"text repeats {norm[nfkc]} after NFKC")
            norm[nfkc] = where
            data[name].append(row)

    heads = [r for s in SPLITS for r in data[s]]
    print("## Headlines per path and split\n")
    rows = []
    for p in PATH_TO_LABEL:
        c = [sum(r["path"] == p for r in data[s]) for s in SPLITS]
        rows.append([p, PATH_TO_LABEL[p], *c, sum(c)])
    tot = [len(data[s]) for s in SPLITS]
    rows.append(["**total**", "", *tot, sum(tot)])
    print(table(["path", "label", *SPLITS, "all"], rows))

    print("\n## Headlines per flat label\n")
    rows = []
    for l in FLAT:
        c = [sum(r["label"] == l for r in data[s]) for s in SPLITS]
        second = sum(r["labels"][1:] == [l] for r in heads)
        rows.append([l, *c, sum(c), second])
    print(table(["label", *SPLITS, "all", "as 2nd label"], rows))

    two = [sum(len(r["labels"]) == 2 for r in data[s]) for s in SPLITS]
    print(f"\nTwo-label headlines: {sum(two)} of {len(heads)} "
          f"({100 * sum(two) / len(heads):.1f} %); per split {dict(zip(SPLITS, two))}.")
    lens = sorted(len(r["text"]) for r in heads)
    bands = collections.Counter(
        "≤10" if n <= 10 else "11–14" if n <= 14 else "15–35" if n <= 35 else "36+" for n in lens
    )
    print(f"Headline length in characters: min {lens[0]}, median {lens[len(lens) // 2]}, "
          f"max {lens[-1]}; " + ", ".join(f"{b}: {bands[b]}" for b in ["≤10", "11–14", "15–35", "36+"]) + ".")

    print("\n## Hard set per kind and path\n")
    hard = data["hard"]
    rows = []
    for p in PATH_TO_LABEL:
        c = [sum(r["path"] == p and r["kind"] == k for r in hard) for k in KINDS]
        rows.append([p, *c, sum(c)])
    c = [sum(r["kind"] == k for r in hard) for k in KINDS]
    rows.append(["**total**", *c, sum(c)])
    print(table(["path", *KINDS, "all"], rows))
    print(f"\nHard two-label items: {sum(len(r['labels']) == 2 for r in hard)}.")
    print("\nAll checks passed.")


if __name__ == "__main__":
    main()
