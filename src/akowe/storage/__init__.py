"""The file store: content-addressed blobs (logos, template backgrounds) served by this service."""
