"""ROS 2 name rules (rcl/rmw): validation, topic/service name expansion and remapping.

Follows rcl's ``rcl_expand_topic_name``, ``rcl_remap_*`` and rmw's ``rmw_validate_*`` functions:

- node names: ``[A-Za-z_][A-Za-z0-9_]*``, at most 255 characters;
- namespaces: absolute (``/`` or ``/a/b``), tokens like node names, no trailing or repeated ``/``;
  ``""`` and relative namespaces are made absolute (``"" -> "/"``, ``"ns" -> "/ns"``) as ``rcl_node_init`` does;
- topic/service names: ``~`` (private, only first and followed by ``/``), relative (prefixed with the
  namespace), absolute; substitutions ``{node}``, ``{ns}``/``{namespace}``; the result is a fully qualified
  name that ``validate_full_topic_name`` accepts;
- remaps ``from:=to``: both sides are expanded for the node, the first rule whose expanded ``from`` equals the
  expanded name wins.
"""

from __future__ import annotations

import re

__all__ = [
    "NameError_",
    "apply_remaps",
    "expand_topic_name",
    "fully_qualified_node_name",
    "normalize_namespace",
    "resolve_topic_name",
    "validate_full_topic_name",
    "validate_namespace",
    "validate_node_name",
    "validate_topic_name",
]

NODE_NAME_MAX_LENGTH = 255
TOPIC_NAME_MAX_LENGTH = (
    255  # rmw's RMW_TOPIC_MAX_NAME_LENGTH (the DDS prefix room is not reserved by rmw_zenoh)
)

_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SUBSTITUTION = re.compile(r"\{([^{}]*)\}")


class NameError_(ValueError):
    """An invalid node name, namespace, topic/service name or remap rule."""


def validate_node_name(name: str) -> str:
    """Return ``name`` if it is a valid ROS node name, else raise :class:`NameError_` saying why."""
    if not isinstance(name, str) or not name:
        raise NameError_(f"invalid node name {name!r}: must be a non-empty string")
    if len(name) > NODE_NAME_MAX_LENGTH:
        raise NameError_(f"invalid node name {name!r}: longer than {NODE_NAME_MAX_LENGTH} characters")
    if name[0].isdigit():
        raise NameError_(f"invalid node name {name!r}: must not start with a number")
    if not _TOKEN.match(name):
        raise NameError_(
            f"invalid node name {name!r}: only letters, digits and '_' are allowed (no '/' or '~')"
        )
    return name


def normalize_namespace(ns: str | None) -> str:
    """Make a namespace absolute as ``rcl_node_init`` does (``None``/``""`` -> ``/``, ``ns`` -> ``/ns``) and validate it."""
    ns = ns or "/"
    if not ns.startswith("/"):
        ns = "/" + ns
    return validate_namespace(ns)


def validate_namespace(ns: str) -> str:
    """Return ``ns`` if it is a valid absolute namespace (``/`` or ``/a/b``), else raise :class:`NameError_`."""
    if not isinstance(ns, str) or not ns:
        raise NameError_(f"invalid namespace {ns!r}: must be a non-empty string starting with '/'")
    if not ns.startswith("/"):
        raise NameError_(f"invalid namespace {ns!r}: must be absolute (start with '/')")
    if ns == "/":
        return ns
    if ns.endswith("/"):
        raise NameError_(f"invalid namespace {ns!r}: must not end with '/'")
    if len(ns) > TOPIC_NAME_MAX_LENGTH:
        raise NameError_(f"invalid namespace {ns!r}: longer than {TOPIC_NAME_MAX_LENGTH} characters")
    for token in ns[1:].split("/"):
        _check_token(token, ns, "namespace")
    return ns


def fully_qualified_node_name(namespace: str, node_name: str) -> str:
    """``/ns/node`` (``/node`` in the root namespace)."""
    namespace = normalize_namespace(namespace)
    validate_node_name(node_name)
    return f"/{node_name}" if namespace == "/" else f"{namespace}/{node_name}"


def validate_topic_name(name: str) -> str:
    """Validate a topic or service name before expansion (``rcl_validate_topic_name``)."""
    if not isinstance(name, str) or not name:
        raise NameError_(f"invalid topic name {name!r}: must be a non-empty string")
    if name.endswith("/") and name != "/":
        raise NameError_(f"invalid topic name {name!r}: must not end with '/'")
    if "~" in name[1:]:
        raise NameError_(f"invalid topic name {name!r}: '~' is only allowed as the first character")
    if name.startswith("~") and len(name) > 1 and name[1] != "/":
        raise NameError_(f"invalid topic name {name!r}: '~' must be followed by '/'")
    depth = 0
    for ch in name:
        if ch == "{":
            depth += 1
            if depth > 1:
                raise NameError_(f"invalid topic name {name!r}: nested '{{'")
        elif ch == "}":
            depth -= 1
            if depth < 0:
                raise NameError_(f"invalid topic name {name!r}: unmatched '}}'")
        elif not (ch.isascii() and (ch.isalnum() or ch in "_/~")):
            raise NameError_(
                f"invalid topic name {name!r}: character {ch!r} is not allowed (letters, digits, '_', '/')"
            )
    if depth:
        raise NameError_(f"invalid topic name {name!r}: unmatched '{{'")
    for sub in _SUBSTITUTION.findall(name):
        if not _TOKEN.match(sub):
            raise NameError_(f"invalid topic name {name!r}: bad substitution {{{sub}}}")
    for token in name.lstrip("~").strip("/").split("/"):
        if token and token[0].isdigit():
            raise NameError_(f"invalid topic name {name!r}: token {token!r} must not start with a number")
    if "//" in name:
        raise NameError_(f"invalid topic name {name!r}: repeated '/'")
    return name


def validate_full_topic_name(name: str) -> str:
    """Validate a fully qualified topic or service name (``rmw_validate_full_topic_name``)."""
    if not isinstance(name, str) or not name.startswith("/"):
        raise NameError_(f"invalid fully qualified topic name {name!r}: must start with '/'")
    if name == "/":
        raise NameError_("invalid fully qualified topic name '/': it names no topic")
    if name.endswith("/"):
        raise NameError_(f"invalid fully qualified topic name {name!r}: must not end with '/'")
    if len(name) > TOPIC_NAME_MAX_LENGTH:
        raise NameError_(f"invalid fully qualified topic name {name!r}: longer than {TOPIC_NAME_MAX_LENGTH}")
    for token in name[1:].split("/"):
        _check_token(token, name, "topic name")
    return name


def expand_topic_name(
    name: str, node_name: str, namespace: str, substitutions: dict[str, str] | None = None
) -> str:
    """Expand a topic or service name to its fully qualified form for a node (``rcl_expand_topic_name``).

    ``~`` -> ``<ns>/<node>``; ``{node}`` -> node name; ``{ns}``/``{namespace}`` -> namespace; relative names are
    prefixed with the namespace. Extra ``substitutions`` may be given; an unknown ``{x}`` is an error.
    """
    validate_topic_name(name)
    validate_node_name(node_name)
    namespace = normalize_namespace(namespace)
    base = "" if namespace == "/" else namespace
    if name.startswith("~"):
        name = f"{base}/{node_name}{name[1:]}"
    table = {"node": node_name, "ns": namespace, "namespace": namespace, **(substitutions or {})}

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in table:
            raise NameError_(
                f"unknown substitution {{{key}}} in topic name {name!r} (known: {sorted(table)})"
            )
        return table[key]

    name = _SUBSTITUTION.sub(substitute, name)
    if not name.startswith("/"):
        name = f"{base}/{name}"
    name = name.replace("//", "/")  # a substituted '/' namespace next to a '/'
    return validate_full_topic_name(name)


def apply_remaps(fqn: str, remaps: list[tuple[str, str]], node_name: str, namespace: str) -> str:
    """Apply topic/service remap rules to an expanded name; the first matching rule wins (rcl semantics).

    ``remaps`` are ``(from, to)`` pairs as given on the command line (``-r from:=to``), already filtered for
    this node; both sides are expanded for the node before comparing. Rules for ``__node``/``__ns`` are ignored.
    """
    for source, target in remaps:
        if source in ("__node", "__name", "__ns"):
            continue
        if expand_topic_name(source, node_name, namespace) == fqn:
            return expand_topic_name(target, node_name, namespace)
    return fqn


def resolve_topic_name(name: str, node_name: str, namespace: str, remaps: list[tuple[str, str]] = ()) -> str:
    """Expand then remap: the name a node's publisher, subscription, service or client uses on the wire."""
    return apply_remaps(expand_topic_name(name, node_name, namespace), list(remaps), node_name, namespace)


def _check_token(token: str, whole: str, what: str) -> None:
    if not token:
        raise NameError_(f"invalid {what} {whole!r}: empty token (repeated '/')")
    if token[0].isdigit():
        raise NameError_(f"invalid {what} {whole!r}: token {token!r} must not start with a number")
    if not _TOKEN.match(token):
        raise NameError_(f"invalid {what} {whole!r}: token {token!r} may only hold letters, digits and '_'")
