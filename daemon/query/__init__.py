"""The query language: fields, two syntaxes, one AST and its printer; each store compiles it."""
