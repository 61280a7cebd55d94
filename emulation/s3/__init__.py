"""Amazon S3: object checksums checked on upload, as S3 checks them (``checksums.S3Checksums``)."""
