"""Write knowledge/generated/catalog-cache.json: the parsed catalog and each pattern's required literal,
so `virtdiag explain` starts without parsing TOML or regexes. Run after editing knowledge/*.toml:

    python scripts/build_catalog_cache.py

virtdiag ignores a stale cache (it only starts slower); the test suite fails on one.
"""

from diagnose import catalog

if __name__ == "__main__":
    print(f"wrote {catalog.build_cache()}")
