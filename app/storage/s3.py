"""Artifacts in an S3 bucket (AWS, SeaweedFS, MinIO). The only module that imports boto3."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from app.storage.base import ObjectNotFound, StorageError, check_key, check_prefix

PART_BYTES = 16 * 1024 * 1024
NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound"}


class S3Store:
    """credentials: (access key id, secret access key) of this store's own identity (a site's storage,
    docs/sites.md); without them, boto3's usual chain (or SeaweedFS's default pair against an endpoint)."""

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None,
                 client: Any = None, credentials: tuple[str, str] | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        if client is None:
            keys: dict[str, str] = {}
            if credentials is not None:
                keys = {"aws_access_key_id": credentials[0], "aws_secret_access_key": credentials[1]}
            elif endpoint_url and not os.environ.get("AWS_ACCESS_KEY_ID"):
                keys = {"aws_access_key_id": "podium", "aws_secret_access_key": "podium"}
            client = boto3.client(
                "s3", endpoint_url=endpoint_url, region_name=os.environ.get("AWS_REGION", "us-east-1"),
                config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5, "mode": "standard"},
                              connect_timeout=10, read_timeout=120),
                **keys,
            )
        self.client = client

    def describe(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"S3 bucket {self.bucket}{where}"

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _strip(self, full_key: str) -> str:
        return full_key[len(self.prefix) + 1:] if self.prefix else full_key

    def _error(self, action: str, key: str, exc: Exception) -> StorageError:
        if isinstance(exc, ClientError) and str(exc.response.get("Error", {}).get("Code")) in NOT_FOUND_CODES:
            return ObjectNotFound(f"no object {key!r} in {self.describe()}")
        return StorageError(f"{action} {key!r} in {self.describe()} failed: {exc}")

    def ensure_bucket(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) not in NOT_FOUND_CODES | {"NoSuchBucket"}:
                raise StorageError(f"cannot reach {self.describe()}: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"cannot reach {self.describe()}: {exc}") from exc
        try:
            self.client.create_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code"))
            if code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise StorageError(f"cannot create {self.describe()}: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"cannot create {self.describe()}: {exc}") from exc

    def put_stream(self, key: str, stream: BinaryIO) -> int:
        """Multipart upload, one part in memory at a time (constant memory whatever the size)."""
        reader = _FillingReader(stream)
        full_key = self._key(key)
        first = reader.read(PART_BYTES)
        if len(first) < PART_BYTES:
            self.put_bytes(key, first)
            return len(first)
        try:
            upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=full_key)["UploadId"]
        except (ClientError, BotoCoreError) as exc:
            raise self._error("uploading", key, exc) from exc
        parts: list[dict[str, Any]] = []
        try:
            part = first
            while part:
                number = len(parts) + 1
                response = self.client.upload_part(Bucket=self.bucket, Key=full_key, UploadId=upload_id,
                                                   PartNumber=number, Body=part)
                parts.append({"PartNumber": number, "ETag": response["ETag"]})
                part = reader.read(PART_BYTES)
            self.client.complete_multipart_upload(Bucket=self.bucket, Key=full_key, UploadId=upload_id,
                                                  MultipartUpload={"Parts": parts})
        except BaseException as exc:
            with contextlib.suppress(ClientError, BotoCoreError):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=full_key, UploadId=upload_id)
            if isinstance(exc, ClientError | BotoCoreError):
                raise self._error("uploading", key, exc) from exc
            raise
        return reader.count

    def put_file(self, key: str, path: Path) -> int:
        with Path(path).open("rb") as handle:
            return self.put_stream(key, handle)

    def put_bytes(self, key: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        except (ClientError, BotoCoreError) as exc:
            raise self._error("writing", key, exc) from exc

    @contextmanager
    def open_read(self, key: str) -> Iterator[BinaryIO]:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except (ClientError, BotoCoreError) as exc:
            raise self._error("reading", key, exc) from exc
        try:
            yield body
        finally:
            body.close()

    def get_bytes(self, key: str) -> bytes:
        with self.open_read(key) as body:
            return body.read()

    def download_to(self, key: str, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out, self.open_read(key) as body:
                shutil.copyfileobj(body, out, 1 << 20)
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
            return True
        except ObjectNotFound:
            return False

    def size(self, key: str) -> int:
        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=self._key(key))["ContentLength"])
        except (ClientError, BotoCoreError) as exc:
            raise self._error("inspecting", key, exc) from exc

    def list(self, prefix: str) -> list[str]:
        check_prefix(prefix)
        full = f"{self.prefix}/{prefix}" if self.prefix else prefix
        keys = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
                keys += [self._strip(item["Key"]) for item in page.get("Contents", [])]
        except (ClientError, BotoCoreError) as exc:
            raise self._error("listing", prefix, exc) from exc
        return sorted(keys)

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (ClientError, BotoCoreError) as exc:
            raise self._error("deleting", key, exc) from exc

    def delete_prefix(self, prefix: str) -> int:
        keys = self.list(prefix)
        for start in range(0, len(keys), 1000):
            batch = [{"Key": self._key(k)} for k in keys[start:start + 1000]]
            try:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            except (ClientError, BotoCoreError) as exc:
                raise self._error("deleting under", prefix, exc) from exc
        return len(keys)


class _FillingReader:
    """Counts bytes and fills every read: read(n) loops until n bytes or the real end of the stream.

    Sockets, request bodies and decompressors return short reads; a short read is not the end.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            data = self.stream.read()
        else:
            parts = []
            wanted = size
            while wanted > 0:
                chunk = self.stream.read(wanted)
                if not chunk:
                    break
                parts.append(chunk)
                wanted -= len(chunk)
            data = b"".join(parts)
        self.count += len(data)
        return data
