"""The library: roots, scan and watch, file-name source parsers, safe decode, thumbnails."""
