"""The wire dialects: each decodes its requests into the canonical form and encodes canonical events back."""
