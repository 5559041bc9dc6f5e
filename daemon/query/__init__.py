"""The query language: two syntaxes, one AST, compilers for each store."""
