"""LIST page (1000 keys) against HEAD on moto's S3 server: how many HEADs cost one LIST page.

Usage: python benchmarks/bench_list_head.py (moto in-process; 3,000 keys; median of 5).
What ``folio.remote.base.LIST_PAGE_COST`` is decided from.
"""

from __future__ import annotations

import logging
import os
import statistics
import time

BUCKET = "bench-list-head"
KEYS = 3000


def main() -> None:
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench-key", "AWS_SECRET_ACCESS_KEY": "bench-secret",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"})
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    import boto3
    from moto.server import ThreadedMotoServer

    from folio.remote import S3Backend

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        keys = [f"{i % 256:02x}/{i:062x}" for i in range(KEYS)]
        for key in keys:
            client.put_object(Bucket=BUCKET, Key=f"p/{key}", Body=b"x")
        backend = S3Backend(BUCKET, "p", endpoint=endpoint, allow_http=True)
        pages, heads = [], []
        for _ in range(5):
            start = time.perf_counter()
            assert sum(1 for _ in backend.list()) == KEYS
            pages.append((time.perf_counter() - start) / (KEYS / 1000))
            start = time.perf_counter()
            for key in keys[:200]:
                backend.head(key)
            heads.append((time.perf_counter() - start) / 200)
        page, head = statistics.median(pages), statistics.median(heads)
        print(f"LIST page of 1000 keys {page * 1000:.1f} ms, HEAD {head * 1000:.2f} ms: "
              f"one page = {page / head:.1f} HEADs")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
