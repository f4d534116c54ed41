"""The working tree: stat cache, scanning and status, materializing files on checkout."""
