"""Wire formats Basalt speaks both as a client and as a server, one module per format, holding both directions."""
