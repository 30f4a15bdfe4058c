"""Wire formats, one codec module per format, each holding both directions: decoding what a client sends or an
upstream answers, and encoding what an upstream takes or a client reads. A dialect (server side) and the provider of
the same format (client side) import the same module, so they never keep inverse copies of one mapping."""
