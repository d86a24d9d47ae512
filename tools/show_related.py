#!/usr/bin/env python3
"""Prints the related items of a few products by name: `show_related.py CATALOG.csv RELATED.csv ID...`
(CATALOG has columns id,name; RELATED is `userec related` CSV output: id,rank,neighbor_id,score).
Standard library only."""
import csv
import sys


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    catalog, related, wanted = sys.argv[1], sys.argv[2], sys.argv[3:]
    with open(catalog, encoding="utf-8", newline="") as f:
        names = {row["id"]: row["name"] for row in csv.DictReader(f)}
    neighbours = {}
    with open(related, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            neighbours.setdefault(row["id"], []).append((int(row["rank"]), row["neighbor_id"], float(row["score"])))
    for item in wanted:
        print(f"\n{item}  {names.get(item, '?')}")
        for rank, other, score in sorted(neighbours.get(item, [])):
            print(f"   {rank}. {score:.3f}  {other}  {names.get(other, '?')}")


if __name__ == "__main__":
    main()
