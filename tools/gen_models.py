#!/usr/bin/python3
"""Turns AWS service models (botocore's service-2.json) into C++ tables.

Usage:
  gen_models.py --models DIR --out DIR SERVICE...

For every SERVICE it reads DIR/SERVICE/<latest version>/service-2.json and
writes OUT/model_<ident>.cc holding one `rampart::protocol::ServiceModel`
(see include/rampart/protocol/model.h). It also writes OUT/model_registry.cc
with the list of services and the pool of regular expressions, which is
shared by all services so the runtime can cache compiled patterns by index.

The tables are plain constexpr aggregates of string_views and integers so
that even Security Hub's 770 KB model compiles in a second or two.
Shapes and operations are sorted by name (the runtime binary-searches
them); members keep model order (the XML output order follows it).

Traits the runtime does not implement make the generator fail loudly
rather than silently produce a wrong table.
"""

import argparse
import json
import os
import sys

SHAPE_TYPES = {
    "structure": "kStructure", "list": "kList", "map": "kMap",
    "string": "kString", "integer": "kInteger", "long": "kLong",
    "float": "kFloat", "double": "kDouble", "boolean": "kBoolean",
    "timestamp": "kTimestamp", "blob": "kBlob",
}
LOCATIONS = {
    None: "kBody", "uri": "kUri", "querystring": "kQueryString",
    "header": "kHeader", "headers": "kHeaders", "statusCode": "kStatusCode",
}
TIMESTAMP_FORMATS = {
    None: "kDefault", "iso8601": "kIso8601", "unixTimestamp": "kUnix",
    "rfc822": "kRfc822",
}
PROTOCOLS = {"json": "kJson", "rest-json": "kRestJson", "query": "kQuery"}
UNSUPPORTED_SHAPE_TRAITS = ("payload", "eventstream", "event", "document")
UNSUPPORTED_MEMBER_TRAITS = ("jsonvalue", "hostLabel", "eventpayload", "xmlAttribute")

# Flag bits, mirrored in model.h.
MEMBER_REQUIRED = 1
MEMBER_FLATTENED = 2
SHAPE_SENSITIVE = 1
SHAPE_HAS_MIN = 2
SHAPE_HAS_MAX = 4
SHAPE_EXCEPTION = 8
SHAPE_SENDER_FAULT = 16
SHAPE_UNION = 32


def fail(msg):
    sys.stderr.write("gen_models.py: %s\n" % msg)
    sys.exit(1)


def latest_model(models_dir, service):
    base = os.path.join(models_dir, service)
    versions = sorted(v for v in os.listdir(base)
                      if os.path.exists(os.path.join(base, v, "service-2.json")))
    if not versions:
        fail("no service-2.json for %s under %s" % (service, base))
    return os.path.join(base, versions[-1], "service-2.json")


def cstr(s):
    """A C++ string literal usable as a string_view initialiser."""
    if s is None:
        return '""'
    out = ['"']
    for ch in s.encode("utf-8"):
        c = chr(ch)
        if c in '"\\':
            out.append("\\" + c)
        elif 32 <= ch < 127 and c != "?":  # '?' avoids trigraph warnings
            out.append(c)
        else:
            out.append("\\%03o" % ch)
    out.append('"')
    return "".join(out)


class PatternPool:
    """Regular expressions shared by every service, deduplicated."""

    def __init__(self):
        self.index = {}
        self.items = []

    def add(self, pattern):
        if pattern not in self.index:
            self.index[pattern] = len(self.items)
            self.items.append(pattern)
        return self.index[pattern]


class ServiceTables:
    """Flattened, index-linked tables of one service model."""

    def __init__(self, service, model, patterns):
        self.service = service
        self.model = model
        self.patterns = patterns
        self.shape_names = sorted(model["shapes"])
        self.shape_index = {n: i for i, n in enumerate(self.shape_names)}
        self.members = []   # C++ initialiser rows
        self.enums = []     # string literals
        self.shapes = []    # C++ initialiser rows
        for name in self.shape_names:
            self.shapes.append(self.shape_row(name, model["shapes"][name]))
        self.operations = [self.operation_row(model["operations"][n])
                           for n in sorted(model["operations"])]

    def member_row(self, name, ref, required):
        for trait in UNSUPPORTED_MEMBER_TRAITS:
            if ref.get(trait):
                fail("%s: member %s uses unsupported trait %s" % (self.service, name, trait))
        target = self.model["shapes"][ref["shape"]]
        flags = MEMBER_REQUIRED if required else 0
        if ref.get("flattened") or target.get("flattened"):
            flags |= MEMBER_FLATTENED
        location = ref.get("location")
        if location not in LOCATIONS:
            fail("%s: member %s has unknown location %s" % (self.service, name, location))
        ts_format = ref.get("timestampFormat", target.get("timestampFormat"))
        if ts_format not in TIMESTAMP_FORMATS:
            fail("%s: unknown timestampFormat %s" % (self.service, ts_format))
        return "{%s, %s, %s, %d, Location::%s, TimestampFormat::%s, %d}" % (
            cstr(name), cstr(ref.get("locationName")), cstr(ref.get("queryName")),
            self.shape_index[ref["shape"]], LOCATIONS[location],
            TIMESTAMP_FORMATS[ts_format], flags)

    def shape_members(self, shape):
        """Rows for a structure's members, a list's member or a map's key/value."""
        kind = shape["type"]
        if kind == "structure":
            required = set(shape.get("required", []))
            return [self.member_row(n, ref, n in required)
                    for n, ref in shape.get("members", {}).items()]
        if kind == "list":
            return [self.member_row("member", shape["member"], False)]
        if kind == "map":
            return [self.member_row("key", shape["key"], False),
                    self.member_row("value", shape["value"], False)]
        return []

    def shape_flags(self, shape):
        flags = 0
        if shape.get("sensitive"):
            flags |= SHAPE_SENSITIVE
        if "min" in shape:
            flags |= SHAPE_HAS_MIN
        if "max" in shape:
            flags |= SHAPE_HAS_MAX
        if shape.get("exception"):
            flags |= SHAPE_EXCEPTION
            error = shape.get("error", {})
            sender = error.get("senderFault")
            if sender is None:
                sender = not shape.get("fault", False)
            if sender:
                flags |= SHAPE_SENDER_FAULT
        if shape.get("union"):
            flags |= SHAPE_UNION
        return flags

    def shape_row(self, name, shape):
        for trait in UNSUPPORTED_SHAPE_TRAITS:
            if shape.get(trait):
                fail("%s: shape %s uses unsupported trait %s" % (self.service, name, trait))
        if shape["type"] not in SHAPE_TYPES:
            fail("%s: shape %s has unknown type %s" % (self.service, name, shape["type"]))
        for bound in ("min", "max"):
            if bound in shape and not isinstance(shape[bound], int):
                fail("%s: shape %s has a non-integer %s" % (self.service, name, bound))
        members_begin = len(self.members)
        self.members.extend(self.shape_members(shape))
        enum_begin = len(self.enums)
        self.enums.extend(cstr(v) for v in shape.get("enum", []))
        pattern = self.patterns.add(shape["pattern"]) if "pattern" in shape else -1
        error = shape.get("error", {})
        return "{%s, ShapeType::%s, %d, %dLL, %dLL, %d, %d, %d, %d, %d, %s, %d}" % (
            cstr(name), SHAPE_TYPES[shape["type"]], self.shape_flags(shape),
            shape.get("min", 0), shape.get("max", 0), pattern,
            members_begin, len(self.members) - members_begin,
            enum_begin, len(self.enums) - enum_begin,
            cstr(error.get("code")), error.get("httpStatusCode", 0))

    def operation_row(self, op):
        http = op.get("http", {})
        inp = op.get("input", {}).get("shape")
        out = op.get("output", {})
        return "{%s, %s, %s, %d, %d, %d, %s}" % (
            cstr(op["name"]), cstr(http.get("method", "POST")),
            cstr(http.get("requestUri", "/")),
            self.shape_index[inp] if inp else -1,
            self.shape_index[out["shape"]] if "shape" in out else -1,
            http.get("responseCode", 200), cstr(out.get("resultWrapper")))


def ident(service):
    return "".join(c if c.isalnum() else "_" for c in service)


def rows(items):
    return "".join("    %s,\n" % r for r in items) if items else "    {},\n"


def render_service(service, path, tables):
    md = tables.model["metadata"]
    if md.get("protocol") not in PROTOCOLS:
        fail("%s: unsupported protocol %s" % (service, md.get("protocol")))
    sid = ident(service)
    # Zero-length arrays are ill-formed: pad with one empty row, keep counts exact.
    return """// Generated by tools/gen_models.py from {path}. Do not edit.
#include "rampart/protocol/model.h"

namespace rampart::protocol::gen {{
namespace {{

constexpr MemberModel kMembers[] = {{
{members}}};

constexpr std::string_view kEnums[] = {{
{enums}}};

constexpr ShapeModel kShapes[] = {{
{shapes}}};

constexpr OperationModel kOperations[] = {{
{ops}}};

}}  // namespace

extern const ServiceModel kService_{sid};
constinit const ServiceModel kService_{sid} = {{
    Protocol::{protocol}, {signing}, {prefix}, {target}, {jsonver}, {apiver}, {xmlns},
    std::span<const OperationModel>(kOperations, {nops}),
    std::span<const ShapeModel>(kShapes, {nshapes}),
    std::span<const MemberModel>(kMembers, {nmembers}),
    std::span<const std::string_view>(kEnums, {nenums}),
}};

}}  // namespace rampart::protocol::gen
""".format(
        path=os.path.relpath(path, os.path.dirname(os.path.dirname(os.path.dirname(path)))),
        members=rows(tables.members), enums=rows(tables.enums),
        shapes=rows(tables.shapes), ops=rows(tables.operations), sid=sid,
        protocol=PROTOCOLS[md["protocol"]],
        signing=cstr(md.get("signingName") or md["endpointPrefix"]),
        prefix=cstr(md["endpointPrefix"]), target=cstr(md.get("targetPrefix")),
        jsonver=cstr(md.get("jsonVersion")), apiver=cstr(md["apiVersion"]),
        xmlns=cstr(md.get("xmlNamespace")),
        nops=len(tables.operations), nshapes=len(tables.shapes),
        nmembers=len(tables.members), nenums=len(tables.enums))


def render_registry(services, patterns):
    decls = "".join("extern const ServiceModel kService_%s;\n" % ident(s) for s in services)
    ptrs = "".join("    &kService_%s,\n" % ident(s) for s in services)
    pats = "".join("    %s,\n" % cstr(p) for p in patterns.items) or '    "",\n'
    return """// Generated by tools/gen_models.py. Do not edit.
#include "rampart/protocol/model.h"

namespace rampart::protocol::gen {{

{decls}
namespace {{
constexpr const ServiceModel* kServices[] = {{
{ptrs}}};
constexpr std::string_view kPatterns[] = {{
{pats}}};
}}  // namespace

std::span<const ServiceModel* const> Services() {{ return kServices; }}
std::span<const std::string_view> Patterns() {{
  return std::span<const std::string_view>(kPatterns, {npats});
}}

}}  // namespace rampart::protocol::gen
""".format(decls=decls, ptrs=ptrs, pats=pats, npats=len(patterns.items))


def write_if_changed(path, text):
    """Keeps timestamps of unchanged outputs so Ninja skips recompiling them."""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("services", nargs="+")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    patterns = PatternPool()
    for service in args.services:
        path = latest_model(args.models, service)
        with open(path, encoding="utf-8") as f:
            model = json.load(f)
        tables = ServiceTables(service, model, patterns)
        write_if_changed(os.path.join(args.out, "model_%s.cc" % ident(service)),
                         render_service(service, path, tables))
    write_if_changed(os.path.join(args.out, "model_registry.cc"),
                     render_registry(args.services, patterns))


if __name__ == "__main__":
    main()
