"""Loads Aurora's schema as standard GraphQL tools do: graphql-core's introspection query (the
same one graphql-js and GraphiQL send), then a client schema built from the answer.

Usage: introspect.py URL TOKEN  -- prints the names of the Query fields; exits non-zero on failure.
"""
import json
import sys
import urllib.request

from graphql import build_client_schema, get_introspection_query


def main() -> int:
    url, token = sys.argv[1], sys.argv[2]
    body = json.dumps({"query": get_introspection_query(descriptions=True)}).encode()
    request = urllib.request.Request(
        url + "/graphql",
        data=body,
        headers={"Content-Type": "application/json", "Authorization": "Bearer " + token},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.load(response)
    if answer.get("errors"):
        print("introspection refused:", json.dumps(answer["errors"]), file=sys.stderr)
        return 1
    schema = build_client_schema(answer["data"])
    print(" ".join(sorted(schema.query_type.fields)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
