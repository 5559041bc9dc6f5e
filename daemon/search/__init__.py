"""Plans a search: the query language's AST and its vector or text parts, run on the stores.

The layer above the query language and the stores: it may load the CLIP text
model and open the vector store, which the query language never does.
"""
