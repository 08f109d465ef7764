"""Card catalog (decision-rules.md §0) and the shared card builders.

Rules return ``Finding``s; ``build_card`` turns one into a CDS Hooks 2.0 card dict. Cards never
carry empty strings, lists or nulls (CDS Hooks JSON rule) and the same input always gives the
same uuids (UUID5 of hook instance, order and topic).
"""
from __future__ import annotations

import base64
import copy
import re
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Iterable, Sequence

TOPIC_SYSTEM = "urn:trd-cds:card-topic"
OVERRIDE_SYSTEM = "urn:trd-cds:override-reason"
UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:trd-cds:card")
SUMMARY_LIMIT = 139  # CDS Hooks: summary under 140 characters
INDICATOR_RANK = {"critical": 0, "warning": 1, "info": 2}

TOPICS = {
    "trd-criteria-met": "TRD criteria met",
    "trd-criteria-not-met": "TRD criteria not met",
    "trd-criteria-insufficient-data": "TRD criteria: insufficient data",
    "contraindication": "Contraindication",
    "rems-prerequisites": "SPRAVATO REMS prerequisites",
    "blood-pressure": "Blood pressure",
    "dose-check": "Dose check",
    "diagnosis-caution": "Diagnosis caution",
    "pregnancy": "Pregnancy",
    "substance-use": "Substance use disorder",
    "drug-interaction": "Drug interaction",
    "data-unavailable": "Data unavailable",
    "pediatric": "Pediatric patient",
    "lactation": "Breastfeeding",
    "hepatic-impairment": "Hepatic impairment",
    "duplicate-therapy": "Duplicate therapy",
    "treatment-course": "Esketamine treatment course",
}

SOURCES = {
    "label": ("SPRAVATO US Prescribing Information",
              "https://dailymed.nlm.nih.gov/dailymed/drugInfo.cfm?setid=d81a6a79-a74a-44b7-822c-0dfa3036eaed"),
    "rems": ("SPRAVATO REMS", "https://www.spravatorems.com/"),
    "apa": ("APA consensus statement on ketamine (2017)", "https://doi.org/10.1001/jamapsychiatry.2017.0080"),
    "delphi": ("Sforzini et al. 2022 Delphi consensus on TRD", "https://doi.org/10.1038/s41380-021-01381-x"),
    "cds-hooks": ("CDS Hooks 2.0: optional data not obtained", "https://cds-hooks.hl7.org/2.0/"),
    # No label addresses combining esketamine with ketamine: the rule is the project's own (§7 v2).
    "contract": ("trd-cds decision rules v2 (no label guidance on combining esketamine and ketamine)", None),
}

_CLINICAL_JUDGEMENT = ("clinical-judgement", "Benefit outweighs risk (clinical judgement)")
OVERRIDE_REASONS = {
    "trd-criteria-met": (("diagnosis-not-current", "Bipolar diagnosis not current / entered in error"),
                         _CLINICAL_JUDGEMENT),  # a warning only with bipolar disorder (§2.10 v2)
    "trd-criteria-not-met": (("trials-documented-elsewhere", "Failed trials documented outside this record"),
                             _CLINICAL_JUDGEMENT),
    "trd-criteria-insufficient-data": (("trials-documented-elsewhere", "Failed trials documented outside this record"),
                                       _CLINICAL_JUDGEMENT),
    "contraindication": (("condition-resolved", "Condition resolved / entered in error"),
                         ("specialist-cleared", "Specialist cleared"), _CLINICAL_JUDGEMENT),
    "rems-prerequisites": (("rems-documented-elsewhere", "Enrolment / certification documented elsewhere"),),
    "blood-pressure": (("bp-rechecked", "Blood pressure rechecked and acceptable"), _CLINICAL_JUDGEMENT),
    "dose-check": (("dose-intended", "Dose intended (protocol or clinical judgement)"),
                   ("weight-documented-elsewhere", "Weight documented elsewhere")),
    "diagnosis-caution": (("diagnosis-not-current", "Diagnosis not current / entered in error"),
                          _CLINICAL_JUDGEMENT),
    "pregnancy": (("not-pregnant", "Not pregnant / entered in error"), _CLINICAL_JUDGEMENT),
    "substance-use": (("monitoring-in-place", "Enhanced monitoring in place"), _CLINICAL_JUDGEMENT),
    "drug-interaction": (("monitoring-in-place", "Enhanced monitoring in place"),
                         ("medication-stopped", "Medication no longer taken")),
    "data-unavailable": (("checked-manually", "Checked manually"),),
    "pediatric": (("age-incorrect", "Age recorded incorrectly"), _CLINICAL_JUDGEMENT),
    "lactation": (("not-breastfeeding", "Not breastfeeding / entered in error"), _CLINICAL_JUDGEMENT),
    "hepatic-impairment": (("condition-resolved", "Condition resolved / entered in error"), _CLINICAL_JUDGEMENT),
    "duplicate-therapy": (("course-ended", "Other course ended / switching drug"),
                          ("order-replaced", "One of the orders will be removed")),
    "treatment-course": (("benefit-documented-elsewhere", "Benefit documented elsewhere"),
                         ("schedule-intended", "Schedule intended (clinical judgement)")),
}


@dataclass(frozen=True)
class ProposedRequest:
    """A ServiceRequest the card suggests creating (status draft, intent proposal)."""

    label: str
    description: str
    code: dict  # FHIR CodeableConcept


@dataclass(frozen=True)
class Finding:
    """One card's content before it is bound to an order and a hook instance."""

    topic: str
    indicator: str
    summary: str
    detail: str
    source: str  # key of SOURCES
    request: ProposedRequest | None = None
    document: str | None = None  # markdown to offer as a DocumentReference (decision-rules §10)


@dataclass(frozen=True)
class Item:
    """One finding line of a card that gathers several (dose-check, contraindication, ...)."""

    indicator: str
    summary: str
    detail: str
    about: frozenset[str] = frozenset()  # what the summary names (drugs, conditions); empty: the item itself


def merge_items(topic: str, items: Sequence[Item], source: str, intro: str = "",
                request: ProposedRequest | None = None) -> Finding | None:
    """One Finding for ``items``: the most severe indicator and summary, every item in the detail.

    The summary's "(+N more)" counts the other items it does not already name (an item whose
    ``about`` the first item's covers adds nothing), and is never cut.
    """
    if not items:
        return None
    ranked = sorted(items, key=lambda item: INDICATOR_RANK[item.indicator])
    first = ranked[0]
    more = sum(1 for item in ranked[1:] if not item.about or not item.about <= first.about)
    tail = f" (+{more} more)" if more else ""
    summary = clip(first.summary, SUMMARY_LIMIT - len(tail)) + tail
    lines = [f"- **{item.indicator}**: {item.detail}" for item in ranked]
    detail = "\n\n".join(part for part in (intro, "\n".join(lines)) if part)
    return Finding(topic, ranked[0].indicator, summary, detail, source, request)


def build_card(finding: Finding, seed: str, order_ref: str, patient_id: str, user: str | None = None,
               as_of: date | None = None) -> dict:
    """The CDS Hooks card for ``finding`` about the order ``order_ref``.

    ``user`` (the hook's ``context.userId``) and ``as_of`` author and date the evidence document.
    """
    label, url = SOURCES[finding.source]
    card = {
        "uuid": _uuid(seed, order_ref, finding.topic),
        "summary": clip(finding.summary, SUMMARY_LIMIT),
        "indicator": finding.indicator,
        "detail": finding.detail,
        "source": {"label": label, **({"url": url} if url else {}),
                   "topic": {"system": TOPIC_SYSTEM, "code": finding.topic, "display": TOPICS[finding.topic]}},
    }
    if finding.indicator != "info":
        card["overrideReasons"] = [{"system": OVERRIDE_SYSTEM, "code": code, "display": display}
                                   for code, display in OVERRIDE_REASONS[finding.topic]]
    suggestions = []
    if finding.request is not None:
        suggestions.append(_suggestion(finding.request, seed, order_ref, finding.topic, patient_id))
    if finding.document is not None:
        suggestions.append(_document_suggestion(finding.document, seed, order_ref, finding.topic, patient_id,
                                                user, as_of))
    if suggestions:
        card["selectionBehavior"] = "at-most-one"
        card["suggestions"] = suggestions
    return card


def _suggestion(request: ProposedRequest, seed: str, order_ref: str, topic: str, patient_id: str) -> dict:
    resource = {"resourceType": "ServiceRequest", "status": "draft", "intent": "proposal",
                "code": copy.deepcopy(request.code), "subject": {"reference": f"Patient/{patient_id}"}}
    return {
        "label": request.label,
        "uuid": _uuid(seed, order_ref, topic, request.label),
        "isRecommended": True,  # optional in CDS Hooks 2.0, required by HealthChain's models (real-clients.md)
        "actions": [{"type": "create", "description": request.description, "resource": resource}],
    }


# §10 (v2): no LOINC term names a TRD evidence summary (reference.md §5.4, UNVERIFIED choice): LOINC
# 51851-4 "Administrative note", the type the HL7 US Medication REMS IG uses for its REMS
# DocumentReference example, with the TRD meaning in type.text.
EVIDENCE_TYPE = {"coding": [{"system": "http://loinc.org", "code": "51851-4", "display": "Administrative note"}],
                 "text": "Treatment-resistant depression evidence summary"}
EVIDENCE_LABEL = "Save the TRD evidence summary to the chart"


def _document_suggestion(markdown: str, seed: str, order_ref: str, topic: str, patient_id: str,
                         user: str | None, as_of: date | None) -> dict:
    """A suggestion creating a current DocumentReference with the markdown and its HTML rendering."""
    html = f"<!DOCTYPE html><html><body>{to_html(markdown)}</body></html>"
    attachments = [{"attachment": {"contentType": content_type, "language": "en",
                                   "data": base64.b64encode(body.encode("utf-8")).decode("ascii"),
                                   "title": EVIDENCE_TYPE["text"]}}
                   for content_type, body in (("text/markdown", markdown), ("text/html", html))]
    resource = {
        "resourceType": "DocumentReference", "status": "current", "type": copy.deepcopy(EVIDENCE_TYPE),
        "subject": {"reference": f"Patient/{patient_id}"},
        **({"date": f"{as_of.isoformat()}T00:00:00Z"} if as_of else {}),
        **({"author": [{"reference": user}]} if user else {}),
        "description": EVIDENCE_TYPE["text"], "content": attachments,
    }
    return {
        "label": EVIDENCE_LABEL,
        "uuid": _uuid(seed, order_ref, topic, EVIDENCE_LABEL),
        "isRecommended": False,
        "actions": [{"type": "create", "description": "Create a DocumentReference holding the TRD evidence "
                                                      "table (markdown and HTML)", "resource": resource}],
    }


# A backslash escape (as md writes them) or the stars of **strong** / *emphasis*.
_ESCAPE_OR_STARS = re.compile(r"\\([!-/:-@\[-`{-~])|\*\*?")
_HTML_TEXT = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("\0", "\ufffd"))


def to_html(markdown: str) -> str:
    """The HTML markdown-it (CommonMark with tables, raw HTML off) renders from the markdown the
    cards write, without parsing markdown: tests/test_rules_document.py holds markdown-it as the oracle.

    Blocks: paragraphs, ``- `` lists (alone or after one paragraph line) and ``table`` tables.
    Inline: ``**strong**``, ``*emphasis*`` and text escaped by ``md`` (so nothing else is markdown).
    HTML-special characters are escaped first (the markdown the cards write uses none as syntax).
    """
    for special, entity in _HTML_TEXT:
        markdown = markdown.replace(special, entity)
    parts = []
    for block in re.split(r"\n\n+", markdown):  # blank lines separate blocks
        lines = block.split("\n")
        if lines[0].startswith("| "):
            parts.append(_table(lines[0], lines[2:]))  # lines[1] is the |---| row
            continue
        text = "\n".join(line for line in lines if not line.startswith("- "))
        items = [line[2:] for line in lines if line.startswith("- ")]
        if text:
            parts.append(f"<p>{_inline(text)}</p>\n")
        if items:
            parts.append("<ul>\n" + "".join(f"<li>{_inline(item)}</li>\n" for item in items) + "</ul>\n")
    return "".join(parts)


def _table(header: str, rows: list[str]) -> str:
    body = f"<tbody>\n{''.join(_row(row, 'td') for row in rows)}</tbody>\n" if rows else ""
    return f"<table>\n<thead>\n{_row(header, 'th')}</thead>\n{body}</table>\n"


def _row(line: str, tag: str) -> str:
    """One ``table`` row: cells between " | " (md escapes every | in data)."""
    return "<tr>\n" + "".join(f"<{tag}>{_inline(cell)}</{tag}>\n" for cell in line[2:-2].split(" | ")) + "</tr>\n"


def _inline(text: str) -> str:
    """``text`` with its escapes resolved and its stars as <strong> / <em>, each opening then closing."""
    if "\\" not in text and "*" not in text:
        return text
    opened = set()

    def tag(found: re.Match) -> str:
        if found[1]:
            return found[1]
        name = "strong" if found[0] == "**" else "em"
        opened.symmetric_difference_update({name})
        return f"<{name}>" if name in opened else f"</{name}>"

    return _ESCAPE_OR_STARS.sub(tag, text)


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(UUID_NAMESPACE, "|".join(parts)))


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending with an ellipsis when cut; the cut
    falls between words unless the first word alone is too long."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if text[limit - 1] != " " and " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:") + "…"


# Characters with a markdown meaning, and an & that would start an entity reference (&amp; &#60;).
_MARKDOWN = re.compile(r"([\\`*_{}\[\]<>#|~]|&(?=#?[0-9A-Za-z]+;))")
_LIST_MARKER = re.compile(r"^([-+]|[0-9]{1,9}[.)])(?= |$)")  # CommonMark list item markers


def md(value: object) -> str:
    """Data-derived text escaped for GitHub markdown (tables included); never empty.

    A leading list marker ("-", "+", "1.", "1)") is escaped too: the value may begin a list item.
    """
    text = " ".join(str(value).split())
    if not text:
        return "—"
    text = _MARKDOWN.sub(r"\\\1", text)
    return _LIST_MARKER.sub(lambda marker: marker[0][:-1] + "\\" + marker[0][-1], text)


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A GitHub markdown table; cells must already be escaped with ``md``."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def day(value: date | None) -> str:
    return value.isoformat() if value else "unknown"


def names(values: Sequence[str], limit: int) -> str:
    """Comma-separated ``values`` shortened to ``limit`` characters with a '+N more' tail."""
    shown = list(values)
    while len(shown) > 1 and len(", ".join(shown)) + len(f", +{len(values)} more") > limit:
        shown.pop()
    text = ", ".join(shown) + (f", +{len(values) - len(shown)} more" if len(shown) < len(values) else "")
    return clip(text, limit)
