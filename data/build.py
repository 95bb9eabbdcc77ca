#!/usr/bin/env python3
"""Build data/headlines/{train,dev,test}.jsonl and data/hard/hard.jsonl from data/src/.

Sources are plain text, one headline per line ('#' lines are comments):
  data/src/<SOURCE_FILE[path]>.txt : text [TAB second flat label]
  data/src/hard/<kind>.txt                    : path TAB text [TAB second flat label]

The split is deterministic and stratified by (path, single/two-label): inside each
stratum, items are ordered by the SHA-256 of their text, and 15 % go to dev, 15 % to
test, the rest to train. Re-running the script reproduces the same files byte for byte.

Usage: python3 data/build.py   (then: python3 scripts/data_stats.py to validate)
"""
import hashlib
import json
import os
import sys

DATA = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(DATA, "src")

TREE = {
    "国内": ["政治", "経済", "社会・地方"],
    "国際": ["政治", "経済", "紛争"],
    "スポーツ": [],
    "IT・科学": [],
    "エンタメ": [],
}
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
# ASCII file names keep the sources easy to handle on every OS and in every tool.
SOURCE_FILE = {
    "国内/政治": "domestic_politics",
    "国内/経済": "domestic_economy",
    "国内/社会・地方": "domestic_society",
    "国際/政治": "intl_politics",
    "国際/経済": "intl_economy",
    "国際/紛争": "intl_conflict",
    "スポーツ": "sports",
    "IT・科学": "it_science",
    "エンタメ": "entertainment",
}
HARD_KINDS = ["boundary", "omitted_subject", "very_short"]


def fail(msg):
    sys.exit(f"build.py: {msg}")


def read_lines(file):
    """Yields (line number, text) for each non-comment, non-empty line."""
    with open(file, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            if line != line.strip() or "\ufeff" in line:
                fail(f"{file}:{n}: stray whitespace or BOM")
            yield n, line


def make_item(path, text, second, where):
    label = PATH_TO_LABEL.get(path)
    if label is None:
        fail(f"{where}: unknown path {path!r}")
    labels = [label]
    if second:
        if second not in FLAT or second == label:
            fail(f"{where}: bad second label {second!r}")
        labels.append(second)
    if not text:
        fail(f"{where}: empty text")
    return {"text": text, "label": label, "path": path, "labels": labels}


def load_headlines():
    items = []
    for path in PATH_TO_LABEL:
        file = os.path.join(SRC, SOURCE_FILE[path] + ".txt")
        for n, line in read_lines(file):
            parts = line.split("\t")
            if len(parts) > 2:
                fail(f"{file}:{n}: too many fields")
            second = parts[1] if len(parts) == 2 else None
            items.append(make_item(path, parts[0], second, f"{file}:{n}"))
    return items


def load_hard():
    items = []
    for kind in HARD_KINDS:
        file = os.path.join(SRC, "hard", kind + ".txt")
        for n, line in read_lines(file):
            parts = line.split("\t")
            if len(parts) not in (2, 3):
                fail(f"{file}:{n}: expected path TAB text [TAB label]")
            second = parts[2] if len(parts) == 3 else None
            item = make_item(parts[0], parts[1], second, f"{file}:{n}")
            item["kind"] = kind
            items.append(item)
    return items


def digest(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def split(items):
    """Stratified 70/15/15 split by (path, number of labels)."""
    strata = {}
    for it in items:
        strata.setdefault((it["path"], len(it["labels"])), []).append(it)
    out = {"train": [], "dev": [], "test": []}
    for key in sorted(strata):
        group = sorted(strata[key], key=lambda it: digest(it["text"]))
        n_eval = round(len(group) * 0.15)
        out["dev"] += group[:n_eval]
        out["test"] += group[n_eval : 2 * n_eval]
        out["train"] += group[2 * n_eval :]
    # Mix classes inside each file; the order is still deterministic.
    for name in out:
        out[name].sort(key=lambda it: digest(name + it["text"]))
    return out


def write_jsonl(file, rows):
    tmp = file + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, file)


def main():
    headlines = load_headlines()
    hard = load_hard()
    seen = {}
    for it in headlines + hard:
        if it["text"] in seen:
            fail(f"duplicate text {it['text']!r}")
        seen[it["text"]] = True

    splits = split(headlines)
    next_id = 1
    for name in ("train", "dev", "test"):
        rows = []
        for it in splits[name]:
            rows.append({"id": f"h{next_id:04d}", **it})
            next_id += 1
        write_jsonl(os.path.join(DATA, "headlines", name + ".jsonl"), rows)
    rows = [{"id": f"x{i:04d}", **it} for i, it in enumerate(hard, 1)]
    write_jsonl(os.path.join(DATA, "hard", "hard.jsonl"), rows)

    with open(os.path.join(DATA, "hierarchy.json.tmp"), "w", encoding="utf-8") as f:
        json.dump(TREE, f, ensure_ascii=False, indent=2)
        f.write("\n")
    os.replace(os.path.join(DATA, "hierarchy.json.tmp"), os.path.join(DATA, "hierarchy.json"))
    print(f"wrote {len(headlines)} headlines and {len(hard)} hard items")


if __name__ == "__main__":
    main()
