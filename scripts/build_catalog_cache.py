"""Write knowledge/generated/catalog-cache.jsonl: the parsed catalog, each pattern's required literal and the
matcher's index, so `virtdiag explain` starts without parsing TOML or regexes. Run after editing knowledge/*.toml:

    python scripts/build_catalog_cache.py

virtdiag ignores a stale cache (it only starts slower); the test suite fails on one.
"""

from diagnose import catalog, match
from diagnose.probes import PROBES

if __name__ == "__main__":
    print(f"wrote {catalog.build_cache(index_of=match.cache_index, facts=PROBES)}")
