"""Writing PxIMSE's keywords into images' XMP sidecars, and taking them out again.

Per batch of images: read every sidecar there is in one exiftool call, work out
in Python what each should hold, and have exiftool write only those that change
(a new version beside the old one, then one rename). A sidecar that is not
well-formed XMP is never written; it is reported instead, as is anything that
goes wrong with one file (an image gone since the scan, a folder that cannot
be written): the rest of the batch goes on, and the report says which file and why.
"""

from __future__ import annotations

import glob
import html
import logging
import os
import queue
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from pximse.integrations.digikam.acdsee_categories import from_categories, to_categories
from pximse.integrations.digikam.exiftool_session import ExiftoolSession, exiftool_value
from pximse.integrations.digikam.keyword_merge import (
    Roots,
    SidecarKeywords,
    merge_keywords,
    seed_keywords,
    strip_keywords,
)
from pximse.integrations.digikam.sidecar_files import (
    FileStamp,
    commit_new,
    commit_replace,
    sidecar_for,
    stamp,
    temp_path,
)
from pximse.integrations.digikam.tag_paths import ImageKeywords
from pximse.integrations.digikam.xmp_packet import PacketRead, read_packet

__all__ = ["SidecarJob", "SidecarWriter", "SyncReport"]

log = logging.getLogger(__name__)

BATCH = 200

TAGS_LIST = "XMP-digiKam:TagsList"
HIERARCHICAL = "XMP-lr:HierarchicalSubject"
SUBJECT = "XMP-dc:Subject"
LAST_KEYWORDS = "XMP-microsoft:LastKeywordXMP"
CATALOG_SETS = "XMP-mediapro:CatalogSets"
ACDSEE = "XMP-acdsee:Categories"
DESCRIPTION = "XMP-dc:Description"
MARKER = "XMP-pximse:Sidecar"
IPTC_KEYWORDS = "IPTC:Keywords"
CAPTIONS = ("IPTC:Caption-Abstract", "IFD0:ImageDescription")

_KEYWORD_TAGS = (TAGS_LIST, HIERARCHICAL, SUBJECT, LAST_KEYWORDS, CATALOG_SETS, ACDSEE)
_SIDECAR_TAGS = (*_KEYWORD_TAGS, DESCRIPTION, MARKER)
_IMAGE_TAGS = (*_KEYWORD_TAGS, DESCRIPTION, IPTC_KEYWORDS, *CAPTIONS)
# What a sidecar's packet holds that says nothing about the image.
_PACKET_ONLY = {"XMP-x:XMPToolkit", MARKER}


@dataclass(frozen=True)
class SidecarJob:
    """One image file and what PxIMSE has to say about it."""

    image: str
    keywords: ImageKeywords
    ocr_text: str = ""  # for dc:description when it is empty; "" to leave it alone
    content_id: int = 0  # the catalogue's, so that a failure can be retried


@dataclass
class SyncReport:
    created: int = 0  # new sidecars
    updated: int = 0  # sidecars rewritten
    unchanged: int = 0  # sidecars already right
    deleted: int = 0  # sidecars PxIMSE created and removed again
    nothing: int = 0  # images with nothing to write and no sidecar
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file, why)
    retry: set[int] = field(default_factory=set)  # content ids of the failed jobs

    def fail(self, job: SidecarJob, path: str, why: str) -> None:
        self.failed.append((path, why))
        if job.content_id:
            self.retry.add(job.content_id)

    @property
    def changed(self) -> int:
        return self.created + self.updated + self.deleted

    def add(self, other: SyncReport) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.deleted += other.deleted
        self.nothing += other.nothing
        self.failed.extend(other.failed)
        self.retry |= other.retry

    def to_json(self) -> dict[str, Any]:
        return {
            "created": self.created, "updated": self.updated, "unchanged": self.unchanged,
            "deleted": self.deleted, "nothing": self.nothing, "failed": len(self.failed),
            "failures": [{"path": path, "reason": why} for path, why in self.failed[:100]],
        }


def _texts(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return (str(value),)


def _text(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return "" if value is None else str(value)


def keywords_of(record: dict[str, Any]) -> SidecarKeywords:
    """The keyword fields of one exiftool JSON record."""
    return SidecarKeywords(
        tags_list=_texts(record.get(TAGS_LIST)),
        hierarchical=_texts(record.get(HIERARCHICAL)),
        subjects=_texts(record.get(SUBJECT)),
        last_keywords=_texts(record.get(LAST_KEYWORDS)),
        description=_text(record.get(DESCRIPTION)),
        catalog_sets=_texts(record.get(CATALOG_SETS)),
        acdsee=from_categories(_text(record.get(ACDSEE))),
    )


def _keyword_args(current: SidecarKeywords, wanted: SidecarKeywords) -> list[str]:
    """exiftool assignments for the keyword fields that differ."""
    args: list[str] = []
    for tag, name in ((TAGS_LIST, "tags_list"), (HIERARCHICAL, "hierarchical"),
                      (SUBJECT, "subjects"), (LAST_KEYWORDS, "last_keywords"),
                      (CATALOG_SETS, "catalog_sets")):
        if getattr(wanted, name) != getattr(current, name):
            args += _list_args(tag, getattr(wanted, name))
    if wanted.acdsee != current.acdsee:
        args.append(f"-{ACDSEE}={exiftool_value(to_categories(wanted.acdsee))}")
    return args


_SEP = "\x1f"
"""Joins a list's items into one exiftool argument (``-sep``): one assignment
per list instead of one per item, which exiftool handles several times faster."""


def _list_args(tag: str, values: Sequence[str]) -> list[str]:
    if not values:
        return [f"-{tag}="]
    if any(_SEP in v or not v for v in values):
        return [f"-{tag}={exiftool_value(v)}" for v in values]
    return [f"-{tag}={_SEP.join(exiftool_value(v) for v in values)}"]


def _command(output: str, args: list[str], source: str) -> list[str]:
    return ["-E", "-sep", _SEP, "-o", output, *args, source]


_MARK = "==pximse command {}=="
"""Written to stderr at the start of each command of a round trip (``-echo2``),
so that each error is told apart and reported with its own file."""


@dataclass
class _Plan:
    job: SidecarJob
    sidecar: str
    exists: bool
    read_stamp: FileStamp | None = None
    packet: PacketRead | None = None
    current: SidecarKeywords | None = None
    needs_image: bool = False


class SidecarWriter:
    """Writes and removes PxIMSE's keywords (under ``root``: the tag root in
    use, or it and the roots used before, whose entries are removed too) in
    XMP sidecars.

    ``dry_run`` works everything out and counts it without touching a file
    (what ``pximse xmp status`` reports).
    """

    def __init__(
        self,
        session: ExiftoolSession | Sequence[ExiftoolSession],
        root: Roots,
        *,
        dry_run: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        # Several sessions work on several batches at once (exiftool does the
        # heavy part, in its own process, so threads are enough to drive them).
        self.sessions = [session] if isinstance(session, ExiftoolSession) else list(session)
        self.root = root
        self.dry_run = dry_run
        self.progress = progress

    # -- writing ----------------------------------------------------------------

    def write(self, jobs: Sequence[SidecarJob]) -> SyncReport:
        return self._batches(jobs, self._write_batch)

    def _batches(
        self,
        jobs: Sequence[SidecarJob],
        work: Callable[[ExiftoolSession, Sequence[SidecarJob]], SyncReport],
    ) -> SyncReport:
        report = SyncReport()
        batches = [jobs[start : start + BATCH] for start in range(0, len(jobs), BATCH)]
        free: queue.Queue[ExiftoolSession] = queue.Queue()
        for session in self.sessions:
            free.put(session)

        def run(batch: Sequence[SidecarJob]) -> SyncReport:
            session = free.get()
            try:
                return work(session, batch)
            finally:
                free.put(session)

        done = 0
        with ThreadPoolExecutor(len(self.sessions), thread_name_prefix="xmp") as pool:
            for batch, result in zip(batches, pool.map(run, batches), strict=True):
                report.add(result)
                done += len(batch)
                if self.progress is not None:
                    self.progress(done, len(jobs))
        return report

    def _write_batch(self, session: ExiftoolSession, jobs: Sequence[SidecarJob]) -> SyncReport:
        report = SyncReport()
        plans = self._locate(jobs, report)
        records = session.read(
            [p.sidecar for p in plans if p.packet is not None and not p.packet.exact],
            _SIDECAR_TAGS,
        )
        for plan in plans:
            if plan.exists and not _bare(plan):
                assert plan.packet is not None
                plan.current = (plan.packet.keywords if plan.packet.exact
                                else keywords_of(records.get(plan.sidecar, {})))
                if not plan.current.tags_list and plan.job.keywords:
                    seeded = seed_keywords(plan.current, root=self.root)
                    # Nothing of the user's in the sidecar's lists: their keywords
                    # may be the image's IPTC ones, which the new TagsList would hide.
                    plan.needs_image = not seeded.tags_list
                if plan.job.ocr_text and not plan.current.description.strip():
                    plan.needs_image = True
            elif plan.job.keywords or plan.job.ocr_text:
                plan.needs_image = True
        images = session.read([p.job.image for p in plans if p.needs_image], _IMAGE_TAGS)
        commands: list[tuple[_Plan, list[str], str]] = []
        for plan in plans:
            image = images.get(plan.job.image, {})
            command = self._write_command(plan, image, report)
            if command is not None:
                commands.append((plan, command, temp_path(plan.sidecar)))
        self._run(session, commands, report)
        return report

    def _locate(self, jobs: Sequence[SidecarJob], report: SyncReport) -> list[_Plan]:
        plans: list[_Plan] = []
        seen: set[str] = set()
        for job in jobs:
            sidecar, exists = sidecar_for(job.image)
            problem, where = None, sidecar
            if "\n" in job.image or "\r" in job.image:
                # exiftool takes one argument per line: such a name cannot be passed.
                problem = "the file name has a line break in it; exiftool cannot be given it"
            elif not exists and not os.path.exists(job.image):  # a new sidecar reads it
                problem, where = ("the image is gone (moved or deleted since the last scan); "
                                  "its sidecar follows at the next scan"), job.image
            elif sidecar in seen or (
                exists and sidecar != job.image + ".xmp" and _shared_short_sidecar(job.image)
            ):
                problem = (f"{os.path.basename(sidecar)} would be the sidecar of more than one "
                           "image (same name, another extension); it is left alone")
            seen.add(sidecar)
            packet, read_stamp = None, None
            if problem is None and exists:
                read_stamp = stamp(sidecar)
                packet = read_packet(sidecar)
                problem = packet.error
            if problem is not None:
                report.fail(job, where, problem)
                continue
            plans.append(_Plan(job, sidecar, exists, read_stamp, packet))
        return plans

    def _write_command(
        self, plan: _Plan, image: dict[str, Any], report: SyncReport
    ) -> list[str] | None:
        job = plan.job
        caption = any(_text(image.get(tag)).strip() for tag in (DESCRIPTION, *CAPTIONS))
        if not plan.exists or _bare(plan):
            # A new sidecar, or digiKam's bare one (no XMP in it: nothing to keep,
            # and exiftool cannot update it), made from the image.
            own = keywords_of(image)
            current = seed_keywords(own, _texts(image.get(IPTC_KEYWORDS)), self.root)
            wanted = merge_keywords(current, job.keywords, self.root)
            description = job.ocr_text if job.ocr_text and not caption else ""
            if not job.keywords and not description:
                if plan.exists:
                    report.unchanged += 1
                else:
                    report.nothing += 1
                return None
            command = ["-tagsFromFile", job.image, "-xmp:all",
                       *[f"--{tag}" for tag in _KEYWORD_TAGS]]
            command += _keyword_args(SidecarKeywords(), wanted)
            if description:
                command += [f"--{DESCRIPTION}", f"-{DESCRIPTION}={exiftool_value(description)}"]
            if not plan.exists:
                command.append(f"-{MARKER}=created")
            return _command(temp_path(plan.sidecar), command, job.image)
        assert plan.current is not None
        current = plan.current
        if not current.tags_list and job.keywords:
            current = seed_keywords(current, _texts(image.get(IPTC_KEYWORDS)), self.root)
        wanted = merge_keywords(current, job.keywords, self.root)
        args = _keyword_args(plan.current, wanted)
        if job.ocr_text and not current.description.strip() and not caption:
            args.append(f"-{DESCRIPTION}={exiftool_value(job.ocr_text)}")
        if not args:
            report.unchanged += 1
            return None
        return _command(temp_path(plan.sidecar), args, plan.sidecar)

    def _run(
        self,
        session: ExiftoolSession,
        commands: list[tuple[_Plan, list[str], str]],
        report: SyncReport,
    ) -> None:
        if self.dry_run:
            for plan, _command, _temp in commands:
                if plan.exists:
                    report.updated += 1
                else:
                    report.created += 1
            return
        runnable: list[tuple[_Plan, list[str], str]] = []
        for plan, command, temp in commands:
            try:
                if os.path.exists(temp):  # left by a crash
                    os.unlink(temp)
            except OSError as exc:
                report.fail(plan.job, plan.sidecar, _os_problem("cannot write here", exc))
                continue
            runnable.append((plan, command, temp))
        session.run_commands(["-echo2", _MARK.format(n), *command]
                             for n, (_plan, command, _temp) in enumerate(runnable))
        errors = _errors_by_command(session.last_errors, len(runnable))
        for (plan, _command, temp), exiftool_said in zip(runnable, errors, strict=True):
            if not os.path.exists(temp):
                report.fail(plan.job, plan.sidecar, _explain(exiftool_said, plan, temp))
                continue
            problem: str | None
            if plan.exists:
                problem = commit_replace(temp, plan.sidecar, plan.read_stamp)
                counter = "updated"
            else:
                problem = commit_new(temp, plan.sidecar)
                counter = "created"
            if problem is None:
                setattr(report, counter, getattr(report, counter) + 1)
            else:
                report.fail(plan.job, plan.sidecar, problem)

    # -- removing ---------------------------------------------------------------

    def remove(self, jobs: Sequence[SidecarJob]) -> SyncReport:
        """Take PxIMSE's entries out of these images' sidecars (and the OCR text
        PxIMSE put in an empty description, when ``ocr_text`` still matches it);
        delete a sidecar PxIMSE created when what is left in it is only what the
        image holds anyway."""
        return self._batches(jobs, self._remove_batch)

    def _remove_batch(self, session: ExiftoolSession, jobs: Sequence[SidecarJob]) -> SyncReport:
        report = SyncReport()
        plans: list[_Plan] = []
        for job in jobs:
            sidecar, exists = sidecar_for(job.image)
            if not exists:
                report.nothing += 1
                continue
            read_stamp = stamp(sidecar)
            packet = read_packet(sidecar)
            if packet.error is not None:
                report.fail(job, sidecar, packet.error)
                continue
            if packet.empty:  # digiKam's bare sidecar: nothing of PxIMSE's in it
                report.unchanged += 1
                continue
            plans.append(_Plan(job, sidecar, True, read_stamp, packet))
        records = session.read([p.sidecar for p in plans], ("XMP:all",))
        created = {p.sidecar for p in plans if records.get(p.sidecar, {}).get(MARKER) == "created"}
        images = session.read(
            [p.job.image for p in plans if p.sidecar in created and os.path.exists(p.job.image)],
            ("XMP:all", IPTC_KEYWORDS))
        commands: list[tuple[_Plan, list[str], str]] = []
        deletions: list[_Plan] = []
        for plan in plans:
            record = records.get(plan.sidecar, {})
            current = keywords_of(record)
            wanted = strip_keywords(current, self.root)
            drop_description = bool(
                plan.job.ocr_text and current.description.strip() == plan.job.ocr_text.strip()
            )
            if wanted == current and not drop_description:
                report.unchanged += 1
                continue
            if plan.sidecar in created and plan.job.image in images and _only_the_image_left(
                record, wanted, drop_description, images[plan.job.image], self.root
            ):
                deletions.append(plan)
                continue
            args = _keyword_args(current, wanted)
            if drop_description:
                args.append(f"-{DESCRIPTION}=")
            temp = temp_path(plan.sidecar)
            commands.append((plan, _command(temp, args, plan.sidecar), temp))
        self._run(session, commands, report)
        for plan in deletions:
            if self.dry_run:
                report.deleted += 1
            elif stamp(plan.sidecar) != plan.read_stamp:
                report.fail(plan.job, plan.sidecar, "the sidecar changed while it was being "
                                                    "updated; it is tried again later")
            else:
                try:
                    os.unlink(plan.sidecar)
                except OSError as exc:
                    report.fail(plan.job, plan.sidecar,
                                _os_problem("cannot delete it", exc))
                    continue
                report.deleted += 1
        return report


def _bare(plan: _Plan) -> bool:
    return plan.packet is not None and plan.packet.empty


def _os_problem(what: str, exc: OSError) -> str:
    why = exc.strerror or str(exc)
    if isinstance(exc, PermissionError):
        return f"{what}: {why} (is the folder read-only?)"
    return f"{what}: {why}"


def _errors_by_command(stderr: str, count: int) -> list[str]:
    """exiftool's error lines, one entry per command of the round trip."""
    found = [""] * count
    current: int | None = None
    for line in stderr.splitlines():
        text = line.strip()
        if text.startswith("==pximse command ") and text.endswith("=="):
            try:
                current = int(text[len("==pximse command "):-2])
            except ValueError:
                current = None
            continue
        if current is not None and 0 <= current < count and text:
            found[current] = f"{found[current]}\n{text}".strip()
    return found


def _explain(errors: str, plan: _Plan, temp: str) -> str:
    """exiftool's message about one file, in the user's terms: the sidecar's name
    instead of the hidden temporary one, names as they are (not HTML entities)."""
    lines = [html.unescape(line.strip()) for line in errors.splitlines() if line.strip()]
    text = next((line for line in lines if line.startswith("Error")), lines[0] if lines else "")
    if not text:
        return "exiftool could not write it"
    text = text.removeprefix("Error: ")
    for source in (plan.sidecar, plan.job.image):
        text = text.removesuffix(f" - {source}")
    text = text.replace(temp, plan.sidecar)
    if text.startswith("Error creating"):
        return f"cannot write the sidecar in {os.path.dirname(plan.sidecar)} ({text}); " \
               "is the folder read-only?"
    return f"exiftool: {text}"


def _only_the_image_left(
    record: dict[str, Any], wanted: SidecarKeywords, drop_description: bool,
    image: dict[str, Any], root: Roots,
) -> bool:
    """Whether a sidecar PxIMSE created holds, once PxIMSE's entries are out,
    nothing but what it was seeded with from the image (so deleting it loses
    nothing: the user added nothing to it since)."""
    seeded = seed_keywords(keywords_of(image), _texts(image.get(IPTC_KEYWORDS)), root)
    if (wanted.tags_list, wanted.hierarchical, wanted.subjects) != (
        seeded.tags_list, seeded.hierarchical, seeded.subjects
    ) or wanted.last_keywords or wanted.catalog_sets or wanted.acdsee:
        return False  # (a new sidecar gets none of digiKam's other fields)
    lists = set(_KEYWORD_TAGS)
    ignore = _PACKET_ONLY | lists | ({DESCRIPTION} if drop_description else set())
    rest = {k: v for k, v in record.items() if k not in ignore}
    own = {k: v for k, v in image.items()
           if k.startswith("XMP-") and k not in ignore and k not in lists}
    return rest == own


def _shared_short_sidecar(image: str) -> bool:
    """Whether another file has the same name but another extension, so that
    ``name.xmp`` would be the sidecar of both."""
    stem, _ext = os.path.splitext(image)
    for other in glob.iglob(glob.escape(stem) + ".*"):
        if other != image and not other.lower().endswith(".xmp"):
            return True
    return False

