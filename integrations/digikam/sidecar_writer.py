"""Writing PxIMSE's keywords into images' XMP sidecars, and taking them out again.

Per batch of images: read every sidecar there is in one exiftool call, work out
in Python what each should hold, and have exiftool write only those that change
(a new version beside the old one, then one rename). A sidecar that is not
well-formed XMP is never written; it is reported instead.
"""

from __future__ import annotations

import glob
import logging
import os
import queue
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

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
DESCRIPTION = "XMP-dc:Description"
MARKER = "XMP-pximse:Sidecar"
IPTC_KEYWORDS = "IPTC:Keywords"
CAPTIONS = ("IPTC:Caption-Abstract", "IFD0:ImageDescription")

_SIDECAR_TAGS = (TAGS_LIST, HIERARCHICAL, SUBJECT, LAST_KEYWORDS, DESCRIPTION, MARKER)
_IMAGE_TAGS = (TAGS_LIST, HIERARCHICAL, SUBJECT, LAST_KEYWORDS, DESCRIPTION, IPTC_KEYWORDS,
               *CAPTIONS)
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
    )


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
            if plan.exists:
                assert plan.packet is not None
                plan.current = (plan.packet.keywords if plan.packet.exact
                                else keywords_of(records.get(plan.sidecar, {})))
                if not plan.current.tags_list:
                    plan.current = seed_keywords(plan.current, root=self.root)
                    # Nothing of the user's in the sidecar's lists: their keywords
                    # may be the image's IPTC ones, which the new TagsList would hide.
                    plan.needs_image = not plan.current.tags_list and bool(plan.job.keywords)
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
            problem = None
            if "\n" in job.image or "\r" in job.image:
                # exiftool takes one argument per line: such a name cannot be passed.
                problem = "the file name has a line break in it; exiftool cannot be given it"
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
                report.fail(job, sidecar, problem)
                continue
            plans.append(_Plan(job, sidecar, exists, read_stamp, packet))
        return plans

    def _write_command(
        self, plan: _Plan, image: dict[str, Any], report: SyncReport
    ) -> list[str] | None:
        job = plan.job
        caption = any(_text(image.get(tag)).strip() for tag in (DESCRIPTION, *CAPTIONS))
        if not plan.exists:
            own = keywords_of(image)
            current = seed_keywords(own, _texts(image.get(IPTC_KEYWORDS)), self.root)
            wanted = merge_keywords(current, job.keywords, self.root)
            description = job.ocr_text if job.ocr_text and not caption else ""
            if not job.keywords and not description:
                report.nothing += 1
                return None
            command = ["-tagsFromFile", job.image, "-xmp:all",
                       f"--{TAGS_LIST}", f"--{HIERARCHICAL}", f"--{SUBJECT}"]
            command += _list_args(TAGS_LIST, wanted.tags_list)
            command += _list_args(HIERARCHICAL, wanted.hierarchical)
            command += _list_args(SUBJECT, wanted.subjects)
            if description:
                command += [f"--{DESCRIPTION}", f"-{DESCRIPTION}={exiftool_value(description)}"]
            command.append(f"-{MARKER}=created")
            return _command(temp_path(plan.sidecar), command, job.image)
        assert plan.current is not None
        current = plan.current
        if plan.needs_image and not current.tags_list:
            current = seed_keywords(current, _texts(image.get(IPTC_KEYWORDS)), self.root)
        wanted = merge_keywords(current, job.keywords, self.root)
        args: list[str] = []
        if wanted.tags_list != plan.current.tags_list:
            args += _list_args(TAGS_LIST, wanted.tags_list)
        if wanted.hierarchical != plan.current.hierarchical:
            args += _list_args(HIERARCHICAL, wanted.hierarchical)
        if wanted.subjects != plan.current.subjects:
            args += _list_args(SUBJECT, wanted.subjects)
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
        for _plan, _command, temp in commands:
            if os.path.exists(temp):  # left by a crash
                os.unlink(temp)
        session.run_commands(command for _plan, command, _temp in commands)
        for plan, _command, temp in commands:
            if not os.path.exists(temp):
                report.fail(plan.job, plan.sidecar, _exiftool_error(session, plan.sidecar))
                continue
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
            plans.append(_Plan(job, sidecar, True, read_stamp, packet))
        records = session.read([p.sidecar for p in plans], ("XMP:all",))
        created = {p.sidecar for p in plans if records.get(p.sidecar, {}).get(MARKER) == "created"}
        images = session.read(
            [p.job.image for p in plans if p.sidecar in created], ("XMP:all", IPTC_KEYWORDS)
        )
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
            if plan.sidecar in created and _only_the_image_left(
                record, wanted, drop_description, images.get(plan.job.image, {}), self.root
            ):
                deletions.append(plan)
                continue
            args: list[str] = []
            if wanted.tags_list != current.tags_list:
                args += _list_args(TAGS_LIST, wanted.tags_list)
            if wanted.hierarchical != current.hierarchical:
                args += _list_args(HIERARCHICAL, wanted.hierarchical)
            if wanted.subjects != current.subjects:
                args += _list_args(SUBJECT, wanted.subjects)
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
                os.unlink(plan.sidecar)
                report.deleted += 1
        return report


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
    ):
        return False
    lists = {TAGS_LIST, HIERARCHICAL, SUBJECT}
    ignore = _PACKET_ONLY | lists | ({DESCRIPTION} if drop_description else set())
    rest = {k: v for k, v in record.items() if k not in ignore}
    own = {k: v for k, v in image.items()
           if k.startswith("XMP-") and k not in ignore and k not in lists}
    return rest == own


def _exiftool_error(session: ExiftoolSession, sidecar: str) -> str:
    errors = [line.strip() for line in session.last_errors.splitlines()
              if line.strip().startswith("Error")]
    mine = [e for e in errors if sidecar in e or os.path.basename(sidecar) in e]
    return (mine or errors or ["exiftool could not write it"])[0]


def _shared_short_sidecar(image: str) -> bool:
    """Whether another file has the same name but another extension, so that
    ``name.xmp`` would be the sidecar of both."""
    stem, _ext = os.path.splitext(image)
    for other in glob.iglob(glob.escape(stem) + ".*"):
        if other != image and not other.lower().endswith(".xmp"):
            return True
    return False

