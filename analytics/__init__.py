"""The analytics of the console, the CLI and the API: engagement trends from the statistics
snapshots, tag usage and segments from the post records, their CSV export and server-made SVG
charts. Plain functions over a `store.Store`; imports only `store` (docs/analytics.md)."""
