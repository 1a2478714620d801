#!/usr/bin/env python3
"""Health check: SeaweedFS is ready for Podium when its filer answers and its S3 gateway stops answering 5xx
(it answers 503 until the filer is up). Exit status 0 when ready."""
import os
import sys
import urllib.error
import urllib.request


def answers(port: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=3) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


try:
    filer = answers(os.environ.get("PODIUM_STACK_WEED_FILER_PORT", "18888"))
    s3 = answers(os.environ.get("PODIUM_STACK_S3_PORT", "18333"))
except OSError as error:
    sys.exit(f"not ready: {error}")
sys.exit(0 if filer < 500 and s3 < 500 else f"not ready: filer {filer}, S3 {s3}")
