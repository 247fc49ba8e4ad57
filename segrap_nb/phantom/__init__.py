"""The synthetic SegRap-like phantom: shapes, anatomy (one builder per region), writer."""
