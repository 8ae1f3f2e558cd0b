"""Page sizes of the lists the emulator pages for real: Route 53 ListHostedZones and
CloudFront ListDistributions.

AWS answers at most MaxItems items and says whether more follow (IsTruncated and
NextMarker); a client has to follow the markers rather than count items. With a forced
page size (`emulator.py --page-size N`, or MODU_EMULATOR_PAGE_SIZE=N) every page holds at
most N items whatever MaxItems says, so three resources are enough to walk a client's
pagination loop through three pages.
"""

from __future__ import annotations

# Set once by `moto_patches.apply(page_size=...)` before the server starts.
forced: int | None = None


def limit(requested: int | None, default: int, most: int) -> int:
    """Items on this page: the caller's MaxItems (or the service's default), at most the
    service's maximum, at most the forced page size, and at least one."""
    size = min(requested if requested is not None else default, most)
    if forced is not None:
        size = min(size, forced)
    return max(size, 1)


def page(items: list, start: int, size: int) -> tuple[list, bool]:
    """`size` items from `start`, and whether more follow."""
    chunk = items[start : start + size]
    return chunk, start + size < len(items)
