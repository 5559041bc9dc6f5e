"""The catalogue's schema, as a list of migrations applied in order.

``PRAGMA user_version`` records how many have run. A migration is never edited
once released: a change is a new entry at the end, so any older catalogue
upgrades in place on open.
"""

from __future__ import annotations

import sqlite3

from pximse.store.backends import SchemaError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "SchemaError", "migrate"]

MIGRATIONS: tuple[str, ...] = (
    # 1: the catalogue
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

    CREATE TABLE root (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        path TEXT NOT NULL,
        online INTEGER NOT NULL DEFAULT 1,
        last_scan_ns INTEGER
    );

    -- One row per distinct content (SHA-256). state: 1 present (a file is online),
    -- 0 offline (only files on a missing root), -1 gone (no file left; kept so that
    -- model results are reused if the content comes back).
    CREATE TABLE content (
        id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL UNIQUE,
        filesize INTEGER NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        ratio REAL NOT NULL,
        pixels INTEGER NOT NULL,
        format TEXT NOT NULL,
        frames INTEGER NOT NULL DEFAULT 1,
        animated INTEGER NOT NULL DEFAULT 0,
        phash INTEGER,
        date INTEGER NOT NULL,
        source TEXT NOT NULL DEFAULT 'other',
        user_id TEXT,
        user_name TEXT,
        post_id TEXT,
        page INTEGER,
        posted INTEGER,
        title TEXT,
        work_key TEXT,
        tagcount INTEGER NOT NULL DEFAULT 0,
        textlen INTEGER,
        state INTEGER NOT NULL DEFAULT 1,
        thumbnail INTEGER NOT NULL DEFAULT 0,
        added_ns INTEGER NOT NULL,
        gen INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX content_state_date ON content(state, date);
    CREATE INDEX content_filesize ON content(filesize);
    CREATE INDEX content_width ON content(width);
    CREATE INDEX content_height ON content(height);
    CREATE INDEX content_ratio ON content(ratio);
    CREATE INDEX content_pixels ON content(pixels);
    CREATE INDEX content_posted ON content(posted);
    CREATE INDEX content_source_post ON content(source, post_id, page);
    CREATE INDEX content_user_id ON content(user_id);
    CREATE INDEX content_user_name ON content(user_name COLLATE NOCASE);
    CREATE INDEX content_tagcount ON content(tagcount);
    CREATE INDEX content_textlen ON content(textlen);
    CREATE INDEX content_format ON content(format);
    CREATE INDEX content_work ON content(work_key);
    CREATE INDEX content_gen ON content(gen);

    -- One row per file found under a root. state: 'ok' (an image, content_id set),
    -- 'skipped' (not an image), 'error' (could not be read or decoded: reason and
    -- error say why), 'offline' (its root is missing).
    CREATE TABLE file (
        id INTEGER PRIMARY KEY,
        root_id INTEGER NOT NULL REFERENCES root(id),
        path TEXT NOT NULL UNIQUE,
        folder TEXT NOT NULL,
        name TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        content_id INTEGER REFERENCES content(id),
        state TEXT NOT NULL,
        reason TEXT,
        error TEXT,
        seen_ns INTEGER NOT NULL
    );
    CREATE INDEX file_root ON file(root_id);
    CREATE INDEX file_content ON file(content_id);
    CREATE INDEX file_folder ON file(folder);
    CREATE INDEX file_state ON file(state) WHERE state != 'ok';

    -- Tags: key is the normalised form queries match (case-folded, spaces as
    -- underscores); name is how it was first written.
    CREATE TABLE tag (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        count INTEGER NOT NULL DEFAULT 0,
        gen INTEGER NOT NULL DEFAULT 0
    );

    -- kind: 0 model (origin is the tagger's model id), 1 source (origin pixiv,
    -- yandere, danbooru, ...), 2 manual.
    CREATE TABLE image_tag (
        tag_id INTEGER NOT NULL,
        content_id INTEGER NOT NULL,
        origin TEXT NOT NULL,
        kind INTEGER NOT NULL,
        score REAL NOT NULL DEFAULT 1.0,
        PRIMARY KEY (tag_id, content_id, origin)
    ) WITHOUT ROWID;
    CREATE INDEX image_tag_content ON image_tag(content_id, kind);

    -- Per image, per model stage: which model produced the stored results, or the
    -- error it failed with (retried only when the file or the model changes).
    CREATE TABLE stage (
        content_id INTEGER NOT NULL,
        stage TEXT NOT NULL,
        model_id TEXT NOT NULL,
        status TEXT NOT NULL,
        error TEXT,
        updated_ns INTEGER NOT NULL,
        PRIMARY KEY (content_id, stage)
    ) WITHOUT ROWID;
    CREATE INDEX stage_status ON stage(stage, status, model_id);

    -- OCR text, one row per image (the models issue fills it).
    CREATE TABLE ocr_text (
        content_id INTEGER PRIMARY KEY,
        text TEXT NOT NULL
    );
    """,
    # 2: a write generation, so that in-memory indexes know what changed
    """
    INSERT INTO meta (key, value) VALUES ('gen', '0');
    """,
    # 3: indexes for the remaining filter and sort fields
    """
    CREATE INDEX content_date ON content(date);
    CREATE INDEX content_page ON content(page);
    CREATE INDEX content_frames ON content(frames);
    CREATE INDEX content_animated ON content(animated);
    """,
    # 4: folder signatures, so that a rescan compares only the folders that changed
    """
    CREATE TABLE folder_state (
        folder TEXT PRIMARY KEY,
        root_id INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        files INTEGER NOT NULL,
        stat_sum TEXT NOT NULL
    );
    CREATE INDEX folder_state_root ON folder_state(root_id);
    """,
    # 5: the OCR text index (see ocrindex.py): each image's folded text and lines
    # (JSON [[text, box, confidence], ...]), and one row per distinct 1-, 2- and
    # 3-character gram of the folded text. Text written before it is indexed on
    # the next open (the meta flag).
    """
    CREATE TABLE ocr_result (
        content_id INTEGER PRIMARY KEY,
        model_id TEXT NOT NULL,
        folded TEXT NOT NULL,
        lines TEXT NOT NULL
    );
    CREATE TABLE ocr_gram (
        gram INTEGER NOT NULL,
        content_id INTEGER NOT NULL,
        PRIMARY KEY (gram, content_id)
    ) WITHOUT ROWID;
    INSERT INTO meta (key, value) SELECT 'ocr_reindex', '1' WHERE EXISTS (SELECT 1 FROM ocr_text);
    """,
    # 6: Pixiv metadata (see pixivrows.py). pixiv_work keeps what Pixiv said about
    # each work, one row per illust id: state 'ok', 'deleted' or 'private'; a work
    # that disappeared keeps what was known before. The content columns copy it to
    # every image of the work so that queries filter and sort on plain columns;
    # name_filled marks a user_name taken from pixiv_user_name (the names seen for
    # each user id, with when they were seen) rather than from the file's own name.
    """
    ALTER TABLE content ADD COLUMN pixiv_state TEXT;
    ALTER TABLE content ADD COLUMN views INTEGER;
    ALTER TABLE content ADD COLUMN bookmarks INTEGER;
    ALTER TABLE content ADD COLUMN likes INTEGER;
    ALTER TABLE content ADD COLUMN comments INTEGER;
    ALTER TABLE content ADD COLUMN ai INTEGER;
    ALTER TABLE content ADD COLUMN r18 INTEGER;
    ALTER TABLE content ADD COLUMN name_filled INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX content_pixiv_state ON content(pixiv_state);
    CREATE INDEX content_views ON content(views);
    CREATE INDEX content_bookmarks ON content(bookmarks);
    CREATE INDEX content_likes ON content(likes);
    CREATE INDEX content_comments ON content(comments);

    CREATE TABLE pixiv_work (
        illust_id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        via TEXT NOT NULL,
        title TEXT,
        caption TEXT,
        created INTEGER,
        views INTEGER,
        bookmarks INTEGER,
        likes INTEGER,
        comments INTEGER,
        user_id TEXT,
        user_name TEXT,
        ai INTEGER,
        r18 INTEGER,
        x_restrict INTEGER,
        pages INTEGER,
        tags TEXT NOT NULL DEFAULT '[]',
        fetched_at INTEGER NOT NULL
    );
    CREATE INDEX pixiv_work_state ON pixiv_work(state, fetched_at);

    -- Failed attempts (network errors, 5xx, rate limits): never a verdict on the work.
    CREATE TABLE pixiv_error (
        illust_id TEXT PRIMARY KEY,
        message TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        last_at INTEGER NOT NULL
    );

    CREATE TABLE pixiv_user_name (
        user_id TEXT NOT NULL,
        name TEXT NOT NULL,
        seen INTEGER NOT NULL,
        PRIMARY KEY (user_id, name)
    ) WITHOUT ROWID;
    INSERT INTO meta (key, value) VALUES ('pixiv_names', '1');
    """,
    # 7: what a root is (see library/presence.py): the device id and mount point
    # of its folder as of its last scan, and why it is offline when it is.
    """
    ALTER TABLE root ADD COLUMN device INTEGER;
    ALTER TABLE root ADD COLUMN mount TEXT;
    ALTER TABLE root ADD COLUMN offline_reason TEXT;
    """,
    # 8: how each perceptual hash was taken (NULL: version 1, from before the column)
    """
    ALTER TABLE content ADD COLUMN phash_version INTEGER;
    """,
    # 9: an image's tags with their scores from the index alone. A page of results
    # reads every tag of each image; without the score in the index, each row was
    # a look-up in the table (8x slower for a page of 1,000 images).
    """
    DROP INDEX image_tag_content;
    CREATE INDEX image_tag_content ON image_tag(content_id, kind, score);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the catalogue up to ``SCHEMA_VERSION``; return the version found."""
    found = conn.execute("PRAGMA user_version").fetchone()[0]
    if found > SCHEMA_VERSION:
        raise SchemaError(
            f"the catalogue has schema version {found}, newer than this PxIMSE "
            f"understands ({SCHEMA_VERSION}); upgrade PxIMSE or use another data folder"
        )
    for version in range(found, SCHEMA_VERSION):
        try:
            conn.executescript(
                f"BEGIN; {MIGRATIONS[version]}; PRAGMA user_version = {version + 1}; COMMIT;"
            )
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise
    return int(found)
