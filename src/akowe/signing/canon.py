"""Safe, bounded RDF Dataset Canonicalization (RDFC-1.0) of JSON-LD documents, over pyld.

pyld is the JSON-LD processor; this module closes the gaps that make it unsafe for signing:

- **Algorithm named.** `jsonld.normalize` defaults to URGNA2012. We never call it: the RDFC-1.0
  algorithm class (pyld's `URDNA2015`, which RDFC-1.0 standardised unchanged for SHA-256) is
  used by name.
- **Safe mode.** pyld silently drops a property its contexts do not define (and so leaves it
  unsigned) and turns an undefined type into a relative IRI that `toRdf` then drops too (or,
  with a base IRI, into `http://example.org/base/...`). We expand with no base IRI and with a
  dropped-property callback, then check the expanded document: every property, type, `@id` and
  datatype must be an absolute IRI (or a blank node where RDF allows one), or it is refused.
  Only pinned context URLs may appear in `@context`; inline context objects are refused, since
  they could define anything and would grow pyld's context cache without bound.
- **Control characters.** pyld's N-Quads writer escapes only `\\ \\t \\n \\r "`, and writes the
  other C0 controls and DEL raw, where RDFC-1.0 requires `\\b`, `\\f` and `\\uXXXX` (W3C
  rdf-canon test060). `strip_control_characters` removes exactly those characters from
  recipient-supplied text before signing; safe mode refuses documents that still carry them,
  because another implementation would canonicalise them differently.
- **Bounds.** Untrusted input is limited in size (compact JSON bytes), in blank nodes, and in
  canonicalisation work: `_BoundedRDFC10` counts calls to Hash N-Degree Quads, and checks a
  wall-clock deadline on every call of the hashing steps, so a "poison" graph (test074) is
  refused within the limit. A counter hook, rather than a worker process, because it runs in
  the signing thread at no cost (a process would add milliseconds to every 3 ms signature),
  the count is deterministic on any machine, and RDFC-1.0 section 4.4 itself asks
  implementations to bound these calls; the deadline catches what the count does not.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from frozendict import frozendict
from pyld import jsonld  # type: ignore[import-untyped]
from pyld.canon import URDNA2015  # type: ignore[import-untyped]
from pyld.nquads import parse_nquads  # type: ignore[import-untyped]

from akowe.errors import ServiceError
from akowe.signing.exceptions import (
    CanonicalizationLimitExceeded,
    DocumentTooLarge,
    SigningInputError,
    UnknownContext,
    UnsafeDocument,
)
from akowe.signing.loader import StaticDocumentLoader, default_loader

ALGORITHM: Final = "RDFC-1.0"

# The characters pyld's N-Quads writer leaves raw but RDFC-1.0 escapes: C0 controls other than
# TAB, LF and CR (which pyld escapes correctly), and DEL.
_UNESCAPED_CONTROLS: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Characters that may not appear in an IRI in N-Quads (pyld writes IRIs unescaped).
_BAD_IRI_CHARACTERS: Final = re.compile('[\x00-\x20<>"{}|^`\\\\\x7f]')
_ABSOLUTE_IRI: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_VALUE_KEYWORDS: Final = frozenset({"@language", "@direction", "@index"})
# What pyld raises on input it cannot process: its own error, or a Python error on odd shapes
# (a number where it expects a string, nesting deeper than the interpreter allows).
_PYLD_FAILURES: Final = (
    jsonld.JsonLdError,
    TypeError,
    ValueError,
    KeyError,
    AttributeError,
    IndexError,
    RecursionError,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on canonicalising one document (defaults suit certificates, with headroom)."""

    max_document_bytes: int = 256 * 1024
    max_depth: int = 32
    max_blank_nodes: int = 512
    max_deep_iterations: int = 1000
    max_seconds: float = 1.0


DEFAULT_LIMITS: Final = Limits()


def strip_control_characters(value: str) -> str:
    """Remove the control characters that pyld would serialise differently from RDFC-1.0."""
    return _UNESCAPED_CONTROLS.sub("", value)


def strip_controls(data: T) -> T:
    """`strip_control_characters` applied to every string (keys too) in JSON-like data."""
    if isinstance(data, str):
        return strip_control_characters(data)  # type: ignore[return-value]
    if isinstance(data, Mapping):
        return {strip_controls(k): strip_controls(v) for k, v in data.items()}  # type: ignore[return-value]
    if isinstance(data, list | tuple):
        return [strip_controls(item) for item in data]  # type: ignore[return-value]
    return data


def check_size(document: Any, limits: Limits = DEFAULT_LIMITS) -> None:
    """Refuse a document whose compact JSON is larger than the limit."""
    size = len(json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode())
    if size > limits.max_document_bytes:
        raise DocumentTooLarge(
            f"The document is {size} bytes; at most {limits.max_document_bytes} are accepted."
        )


def expand(
    document: Mapping[str, Any],
    *,
    loader: StaticDocumentLoader | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> list[dict[str, Any]]:
    """Expand a JSON-LD document in safe mode (refusing what pyld would silently drop)."""
    loader = loader or default_loader()
    _check_contexts(document, loader, limits)
    check_size(document, limits)
    options = dict(loader.options(), base=None)
    try:
        result: list[dict[str, Any]] = _SafeProcessor(loader.processed).expand(document, options)
    except _PYLD_FAILURES as error:
        raise _unwrap(error) from error
    return result


def to_dataset(
    document: Mapping[str, Any],
    *,
    loader: StaticDocumentLoader | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> dict[str, list[dict[str, Any]]]:
    """The RDF dataset of a document, expanded in safe mode (pyld's dataset shape)."""
    loader = loader or default_loader()
    _check_contexts(document, loader, limits)
    check_size(document, limits)
    options = dict(loader.options(), base=None, produceGeneralizedRdf=False)
    try:
        dataset: dict[str, list[dict[str, Any]]] = _SafeProcessor(loader.processed).to_rdf(
            document, options
        )
    except _PYLD_FAILURES as error:
        raise _unwrap(error) from error
    return dataset


def canonicalize(
    document: Mapping[str, Any],
    *,
    loader: StaticDocumentLoader | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> str:
    """RDFC-1.0 canonical N-Quads of a JSON-LD document, in safe mode and within `limits`."""
    dataset = to_dataset(document, loader=loader, limits=limits)
    return canonicalize_dataset(dataset, limits=limits)[0]


def canonicalize_dataset(
    dataset: dict[str, list[dict[str, Any]]],
    *,
    limits: Limits = DEFAULT_LIMITS,
    hash_algorithm: str = "sha256",
) -> tuple[str, dict[str, str]]:
    """Canonical N-Quads of a pyld dataset and the issued identifiers map (input -> c14n id)."""
    _check_blank_nodes(dataset, limits)
    canonicalizer = _BoundedRDFC10(limits, hash_algorithm)
    nquads: str = canonicalizer.main(dataset, {"format": "application/n-quads"})
    issued: dict[str, str] = dict(canonicalizer.canonical_issuer.existing)
    return nquads, issued


def canonicalize_nquads(
    nquads: str, *, limits: Limits = DEFAULT_LIMITS, hash_algorithm: str = "sha256"
) -> tuple[str, dict[str, str]]:
    """Canonicalise an N-Quads document (as the W3C rdf-canon test suite does)."""
    if len(nquads.encode()) > limits.max_document_bytes:
        raise DocumentTooLarge(
            f"The N-Quads input exceeds {limits.max_document_bytes} bytes; refusing it."
        )
    try:
        dataset = parse_nquads(nquads)
    except Exception as error:
        raise SigningInputError(f"The N-Quads input cannot be parsed: {error}") from error
    return canonicalize_dataset(dataset, limits=limits, hash_algorithm=hash_algorithm)


class _SafeProcessor(jsonld.JsonLdProcessor):  # type: ignore[misc]
    """A pyld processor whose expansion refuses dropped properties and relative IRIs.

    It also memoises context processing in the loader (`StaticDocumentLoader.processed`).
    pyld caches a processed context per parent context, but a type-scoped context (OB 3.0 has
    one per class: Profile, Achievement, AchievementSubject, IdentityObject, Result...) is
    applied to a fresh clone of its parent with a fresh id each time, so it is reprocessed for
    every node of every document. Keyed by the parent's id and the context itself, the memo
    makes those hits; the result is pyld's own frozen context, so nothing else changes.
    """

    def __init__(self, memo: MutableMapping[Any, Any] | None = None) -> None:
        self.dropped: list[str | None] = []
        self._memo = memo
        super().__init__(on_property_dropped=self.dropped.append)

    def expand(self, input_: Any, options: dict[str, Any]) -> Any:
        """pyld expansion, then the safe-mode checks on its result (also used by `to_rdf`)."""
        expanded = super().expand(input_, options)
        if self.dropped:
            names = ", ".join(sorted({repr(name) for name in self.dropped}))
            raise UnsafeDocument(
                f"The document uses properties its contexts do not define ({names}); "
                "they would be dropped and left unsigned."
            )
        _check_expanded(expanded)
        return expanded

    def _process_context(
        self,
        active_ctx: Any,
        local_ctx: Any,
        options: Any,
        override_protected: bool = False,
        propagate: bool = True,
        validate_scoped: bool = True,
        cycles: Any = None,
    ) -> Any:
        """pyld's context processing, memoised per (parent context, local context, flags)."""
        parent = active_ctx.get("_uuid") if self._memo is not None else None
        local_key = _context_key(local_ctx)
        if self._memo is None or parent is None or local_key is None or cycles:
            return super()._process_context(
                active_ctx,
                local_ctx,
                options,
                override_protected=override_protected,
                propagate=propagate,
                validate_scoped=validate_scoped,
                cycles=cycles,
            )
        key = (parent, local_key, override_protected, propagate, validate_scoped)
        hit = self._memo.get(key)
        if hit is not None:
            return hit[0]
        result = super()._process_context(
            active_ctx,
            local_ctx,
            options,
            override_protected=override_protected,
            propagate=propagate,
            validate_scoped=validate_scoped,
            cycles=cycles,
        )
        if isinstance(result, frozendict):
            # Keep local_ctx alive with the entry, so an id() in the key is never reused.
            self._memo[key] = (result, local_ctx)
        return result


def _context_key(local_ctx: Any) -> Any:
    """A hashable key for a local context: URLs by value, context objects by identity."""
    items = local_ctx if isinstance(local_ctx, list) else [local_ctx]
    key: list[Any] = []
    for item in items:
        if isinstance(item, str):
            key.append(item)
        elif isinstance(item, Mapping):
            key.append(("object", id(item)))
        else:
            return None
    return tuple(key)


class _BoundedRDFC10(URDNA2015):  # type: ignore[misc]
    """pyld's RDFC-1.0 with a limit on Hash N-Degree Quads calls and a wall-clock deadline."""

    def __init__(self, limits: Limits, hash_algorithm: str) -> None:
        super().__init__()
        self._limits = limits
        self._hash_algorithm = hash_algorithm
        self._calls = 0
        self._deadline = time.monotonic() + limits.max_seconds

    def hash_n_degree_quads(self, id_: str, issuer: Any) -> Any:
        """Hash N-Degree Quads, refusing past the call budget or the deadline."""
        self._calls += 1
        if self._calls > self._limits.max_deep_iterations:
            raise CanonicalizationLimitExceeded(
                "Canonicalisation needs more than "
                f"{self._limits.max_deep_iterations} Hash N-Degree Quads steps; "
                "refusing a graph this complex."
            )
        self._check_deadline()
        return super().hash_n_degree_quads(id_, issuer)

    def hash_related_blank_node(self, related: str, quad: Any, issuer: Any, position: str) -> Any:
        """Hash Related Blank Node, checking the deadline (it runs inside every permutation)."""
        self._check_deadline()
        return super().hash_related_blank_node(related, quad, issuer, position)

    def create_hash(self) -> Any:
        """The hash function named by the caller (RDFC-1.0 allows SHA-384 as well)."""
        return hashlib.new(self._hash_algorithm)

    def _check_deadline(self) -> None:
        if time.monotonic() > self._deadline:
            raise CanonicalizationLimitExceeded(
                f"Canonicalisation took longer than {self._limits.max_seconds:g} s; "
                "refusing a graph this complex."
            )


def _check_contexts(document: Any, loader: StaticDocumentLoader, limits: Limits) -> None:
    """Every `@context` must be a pinned URL this loader serves; nesting is bounded."""
    stack = [(document, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > limits.max_depth:
            raise DocumentTooLarge(
                f"The document is nested more than {limits.max_depth} levels deep."
            )
        if isinstance(node, Mapping):
            if "@context" in node:
                contexts = node["@context"]
                for context in contexts if isinstance(contexts, list) else [contexts]:
                    if not isinstance(context, str):
                        raise UnsafeDocument(
                            "Inline @context objects are not accepted; use the published "
                            "context URLs."
                        )
                    if context not in loader.urls:
                        raise UnknownContext(
                            f"The JSON-LD context {context!r} is not supported; contexts are "
                            "pinned and never fetched."
                        )
            stack.extend((value, depth + 1) for value in node.values())
        elif isinstance(node, list):
            stack.extend((item, depth + 1) for item in node)


def _check_iri(value: Any, what: str, *, blank_ok: bool) -> None:
    if not isinstance(value, str):
        raise UnsafeDocument(f"The {what} {value!r} is not a string.")
    if blank_ok and value.startswith("_:"):
        return
    if not _ABSOLUTE_IRI.match(value) or value.startswith("_:"):
        raise UnsafeDocument(
            f"The {what} {value!r} is not an absolute IRI: it is undefined in the document's "
            "contexts and would be dropped or rewritten, so it is refused."
        )
    if _BAD_IRI_CHARACTERS.search(value):
        raise UnsafeDocument(f"The {what} {value!r} contains characters not allowed in an IRI.")


def _check_expanded(element: Any) -> None:
    """Walk an expanded document; refuse anything that would not survive into RDF intact."""
    if isinstance(element, list):
        for item in element:
            _check_expanded(item)
        return
    if not isinstance(element, dict):
        return
    is_value = "@value" in element
    for key, value in element.items():
        if key == "@id":
            _check_iri(value, "identifier", blank_ok=True)
        elif key == "@type":
            if is_value:
                if value != "@json":
                    _check_iri(value, "datatype", blank_ok=False)
            else:
                for type_ in value if isinstance(value, list) else [value]:
                    _check_iri(type_, "type", blank_ok=False)
        elif key == "@value":
            if isinstance(value, str) and _UNESCAPED_CONTROLS.search(value):
                raise UnsafeDocument(
                    "A text value contains control characters that canonicalisation cannot "
                    "represent consistently; remove them before signing."
                )
        elif key in _VALUE_KEYWORDS:
            continue
        elif key.startswith("@"):
            _check_expanded(value)
        else:
            _check_iri(key, "property", blank_ok=False)
            _check_expanded(value)


def _check_blank_nodes(dataset: Mapping[str, list[dict[str, Any]]], limits: Limits) -> None:
    blank_nodes: set[str] = set()
    for graph_name, triples in dataset.items():
        if graph_name.startswith("_:"):
            blank_nodes.add(graph_name)
        for triple in triples:
            for position in ("subject", "object"):
                component = triple[position]
                if component["type"] == "blank node":
                    blank_nodes.add(component["value"])
    if len(blank_nodes) > limits.max_blank_nodes:
        raise CanonicalizationLimitExceeded(
            f"The document has {len(blank_nodes)} blank nodes; at most "
            f"{limits.max_blank_nodes} are accepted."
        )


def _unwrap(error: BaseException) -> ServiceError:
    """Our own error if pyld wrapped one (e.g. a refused context), else a clear input error."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ServiceError):
            return cause
        cause = cause.__cause__ or cause.__context__
    message = error.args[0] if error.args else str(error)
    return UnsafeDocument(f"The document is not valid JSON-LD: {message}")


# ---------------------------------------------------------------- documents of one shape
#
# A bulk job signs thousands of credentials that differ only in their text: names, ids,
# dates, attribute values. Expanding each through pyld and turning it into RDF was three
# quarters of a signature; canonicalising the resulting quads is the rest. So for documents
# we build ourselves (`canonicalize_built`), the dataset of a *shape* is learned once, from a
# twin of the document whose strings are replaced by unique placeholders, and each later
# document of that shape gets its dataset by putting its own strings back in place of the
# placeholders; RDFC-1.0 then runs on it as always.
#
# Why that is the dataset pyld would make: JSON-LD turns a string into an RDF term by where
# it stands (the property's term definition), never by what it says, with three exceptions,
# each part of the shape or checked: an IRI position expands a compact IRI by its prefix (so
# the placeholder keeps the value's scheme, which is part of the shape); a `@vocab` position
# or a `@json` literal transforms the string (the placeholder then shows up inside a longer
# term, and that string is pinned: its real value becomes part of the shape); and equal
# identifiers merge nodes (so which strings are equal is part of the shape, and equal strings
# share one placeholder; no identifier comes from the fixed part). Values the full path would
# refuse (control characters, characters not allowed in an IRI) go the full way, to be refused.
# tests/signing/test_canon_shapes.py compares both paths on many documents.

_FIXED_KEYS: Final = frozenset({"@context", "@type", "type", "@language", "@direction"})
_SHAPES_KEPT: Final = 256
_shapes: OrderedDict[Any, _Shape | None] = OrderedDict()
_pinned: OrderedDict[Any, frozenset[int] | None] = OrderedDict()
_shapes_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class _Shape:
    """The dataset of a shape, and where each string goes back in."""

    dataset: dict[str, list[dict[str, Any]]]
    # (graph, quad index, component, class): a component whose value is a placeholder.
    places: tuple[tuple[str, int, str, int], ...]
    iri_classes: frozenset[int]  # classes that stand as an IRI somewhere


def canonicalize_built(
    document: Mapping[str, Any],
    *,
    loader: StaticDocumentLoader | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> str:
    """`canonicalize`, for documents akowe builds (the credentials it signs): the same
    result, with the JSON-LD expansion done once per shape of document instead of once per
    document (see above)."""
    loader = loader or default_loader()
    strings: list[str] = []
    shape = _shape_of(document, "", strings)
    firsts: dict[str, int] = {}
    classes = tuple(firsts.setdefault(value, i) for i, value in enumerate(strings))
    base = (shape, classes, loader, limits)
    with _shapes_lock:
        known = base in _pinned
        pinned = _pinned.get(base)
    if not known:
        pinned = _learn_pinned(document, strings, classes, loader, limits)
        _remember(_pinned, base, pinned)
    if pinned is None:
        return canonicalize(document, loader=loader, limits=limits)
    key = (base, tuple(strings[c] for c in sorted(pinned)))
    with _shapes_lock:
        known = key in _shapes
        learned = _shapes.get(key)
    if not known:
        learned = _learn(document, strings, classes, pinned, loader, limits)
        _remember(_shapes, key, learned)
    if learned is None or not _fits(learned, strings):
        return canonicalize(document, loader=loader, limits=limits)
    check_size(document, limits)
    return canonicalize_dataset(_fill(learned, strings), limits=limits)[0]


def _remember(cache: OrderedDict[Any, Any], key: Any, value: Any) -> None:
    with _shapes_lock:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > _SHAPES_KEPT:
            cache.popitem(last=False)


def _shape_of(value: Any, key: str, strings: list[str]) -> Any:
    """A hashable shape of JSON `value`, its free strings appended to `strings` in order."""
    if isinstance(value, str):
        if not _is_free(key, value):
            return ("s", value)
        strings.append(value)
        return ("?", _prefix(value))
    if isinstance(value, Mapping):
        return ("o", tuple((k, _shape_of(v, k, strings)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return ("a", tuple(_shape_of(item, key, strings) for item in value))
    return ("v", type(value).__name__, value)


def _is_free(key: str, value: str) -> bool:
    """Whether a string may vary within its shape: not a keyword, a type or a context."""
    return key not in _FIXED_KEYS and bool(value) and value[0] != "@"


def _prefix(value: str) -> str:
    """What an IRI expansion looks at: the scheme (or compact IRI prefix) and a `//`."""
    match = _ABSOLUTE_IRI.match(value)
    if match is None:
        return ""
    end = match.end()
    return value[:end] + ("//" if value.startswith("//", end) else "")


def _placeholders(
    strings: list[str], classes: tuple[int, ...], pinned: frozenset[int]
) -> tuple[str, list[str], dict[str, int]]:
    """A placeholder per class (the real string where pinned), keeping each one's prefix:
    the nonce, the replacements in order, and each placeholder's class."""
    nonce = secrets.token_hex(6)
    replacements = [
        strings[i] if c in pinned else f"{_prefix(strings[i])}akowe{nonce}s{c}z"
        for i, c in enumerate(classes)
    ]
    owners = {
        replacement: c
        for replacement, c in zip(replacements, classes, strict=True)
        if c not in pinned
    }
    return nonce, replacements, owners


def _twin(document: Any, key: str, replacements: Iterator[str]) -> Any:
    """`document` with its free strings replaced, in `_shape_of`'s order."""
    if isinstance(document, str):
        return next(replacements) if _is_free(key, document) else document
    if isinstance(document, Mapping):
        return {k: _twin(v, k, replacements) for k, v in document.items()}
    if isinstance(document, list | tuple):
        return [_twin(item, key, replacements) for item in document]
    return document


def _trial(
    document: Any,
    strings: list[str],
    classes: tuple[int, ...],
    pinned: frozenset[int],
    loader: StaticDocumentLoader,
    limits: Limits,
) -> tuple[dict[str, list[dict[str, Any]]], dict[int, list[tuple[str, int, str]]], set[int]] | None:
    """The dataset of the document's twin (placeholders for the free strings, the pinned
    ones real), where each placeholder stands whole, and the classes found elsewhere; None
    if the twin is refused (the full path then says why, for the real document)."""
    nonce, replacements, owners = _placeholders(strings, classes, pinned)
    twin = _twin(document, "", iter(replacements))
    try:
        dataset = to_dataset(twin, loader=loader, limits=limits)
    except ServiceError:
        return None
    return dataset, *_scan(dataset, nonce, owners)


def _scan(
    dataset: dict[str, list[dict[str, Any]]], nonce: str, owners: dict[str, int]
) -> tuple[dict[int, list[tuple[str, int, str]]], set[int]]:
    """Where each class's placeholder stands whole, exactly as written; the classes found
    anywhere else (inside a longer term, rewritten, naming a graph)."""
    anywhere = re.compile(f"akowe{nonce}s([0-9]+)z")
    places: dict[int, list[tuple[str, int, str]]] = {}
    broken: set[int] = set()
    for graph, quads in dataset.items():
        broken.update(int(c) for c in anywhere.findall(graph))
        for index, quad in enumerate(quads):
            for component, term in quad.items():
                for field in ("value", "datatype", "language"):
                    text = term.get(field)
                    if not isinstance(text, str):
                        continue
                    found = anywhere.findall(text)
                    if not found:
                        continue
                    owner = owners.get(text) if field == "value" else None
                    if owner is not None and len(found) == 1:
                        places.setdefault(owner, []).append((graph, index, component))
                    else:
                        broken.update(int(c) for c in found)
    return places, broken


def _learn_pinned(
    document: Any,
    strings: list[str],
    classes: tuple[int, ...],
    loader: StaticDocumentLoader,
    limits: Limits,
) -> frozenset[int] | None:
    """The classes whose strings JSON-LD transforms (their real values join the shape), or
    None when the document's shape cannot be reused."""
    trial = _trial(document, strings, classes, frozenset(), loader, limits)
    if trial is None:
        return None
    _, places, broken = trial
    return frozenset(broken | (set(classes) - set(places)))


def _learn(
    document: Any,
    strings: list[str],
    classes: tuple[int, ...],
    pinned: frozenset[int],
    loader: StaticDocumentLoader,
    limits: Limits,
) -> _Shape | None:
    """The shape's dataset with the pinned strings real and the others placeholders."""
    trial = _trial(document, strings, classes, pinned, loader, limits)
    if trial is None:
        return None
    dataset, places, broken = trial
    free = set(classes) - pinned
    if broken or set(places) != free:
        return None
    flat = tuple(
        (graph, index, component, c)
        for c, where in places.items()
        for graph, index, component in where
    )
    iri_classes = frozenset(
        c
        for graph, index, component, c in flat
        if dataset[graph][index][component]["type"] != "literal"
    )
    return _Shape(dataset, flat, iri_classes)


def _fits(shape: _Shape, strings: list[str]) -> bool:
    """Whether the real strings go in as they are: no text the full path refuses (control
    characters, an IRI it would not accept), no IRI that could turn into a blank node."""
    for value in strings:
        if _UNESCAPED_CONTROLS.search(value):
            return False
    for c in shape.iri_classes:
        value = strings[c]
        if value.startswith("_:") or _BAD_IRI_CHARACTERS.search(value):
            return False
    return True


def _fill(shape: _Shape, strings: list[str]) -> dict[str, list[dict[str, Any]]]:
    """A fresh copy of the shape's dataset with the real strings in place (the canonicaliser
    rewrites blank node labels in the quads it is given)."""
    dataset = {
        graph: [{part: dict(term) for part, term in quad.items()} for quad in quads]
        for graph, quads in shape.dataset.items()
    }
    for graph, index, component, c in shape.places:
        dataset[graph][index][component]["value"] = strings[c]
    return dataset
