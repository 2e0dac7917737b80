"""The ingest worker: RQ jobs that embed queued images with CLIP and index them."""
