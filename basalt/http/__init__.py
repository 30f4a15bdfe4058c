"""HTTP plumbing shared by the dialects: request ids, bounded body reads, event-stream responses."""
