#!/usr/bin/env python3
"""validate-schema.py FILE... - check every record of socktrace recordings
against docs/schema.json (JSON Schema draft 2020-12).

Each line of each FILE (JSON Lines, `socktrace --json`) is one record; a line
that is not JSON, or a record the schema rejects, is a failure, printed with
its file, line and what is wrong. Ends on "N passed, N failed" (records);
exits 1 on any failure or when no record was read at all.
Needs Python's jsonschema (Debian python3-jsonschema, scripts/setup.sh).
"""
import json
import os
import sys

import jsonschema

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "schema.json")


def main(paths):
    if not paths:
        print("usage: validate-schema.py FILE...", file=sys.stderr)
        return 2
    with open(SCHEMA_PATH, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    passed = failed = 0
    for path in paths:
        with open(path, encoding="utf-8", errors="strict") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError as error:
                    failed += 1
                    print(f"FAIL {path}:{number}: not JSON: {error}")
                    continue
                errors = sorted(validator.iter_errors(record), key=lambda e: list(e.path))
                if errors:
                    failed += 1
                    for error in errors[:3]:
                        print(f"FAIL {path}:{number}: {error.json_path}: {error.message}"[:400])
                else:
                    passed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
