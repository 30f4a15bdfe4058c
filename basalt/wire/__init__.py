"""Wire formats, one codec module per format, each holding both directions (what a client sends and what an
upstream takes), so the dialect and the provider of one format share a single mapping."""
