#!/usr/bin/env python3
"""Checks for conformance/vdirsyncer.sh: compare the server and the local vdirs.

Standard library only. Reads the server with PROPFIND (Depth 1) and GET, and
the local side (vdirsyncer `filesystem` storages) from the files.

Environment: VDS_URL (server root, no trailing slash), VDS_USER, VDS_PASSWORD,
VDS_WORK (the work dir holding local/calendars/calendar/ and
local/addressbooks/contacts/).

Check commands print one line per check, "ok   <what>" or "FAIL <what>",
followed by indented detail lines, and exit 1 if a check failed:

  verify KIND --uids U,.. [--server-origin U,..]
                            item counts, UIDs (expected set, equal on both
                            sides, no duplicates) and byte-identical bodies
  text KIND UID VALUE       UID's SUMMARY (cal) / FN (card) is VALUE on both sides
  gone KIND UID             no item with UID on either side
  unchanged A.json B.json   two snapshots show no change on either side

Helpers (no check lines):

  snapshot OUT.json         server hrefs+ETags+sync-token, local files' hashes+mtimes
  href KIND UID             print the absolute URL of the server item with UID
  local-file KIND UID       print the path of the local file with UID
  setprop FILE PROP VALUE   rewrite the (first) PROP line of FILE in place,
                            keeping its line endings

KIND is `cal` (the calendar `calendar`, .ics, SUMMARY) or `card` (the address
book `contacts`, .vcf, FN).
"""

import base64
import difflib
import hashlib
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

DAV = "{DAV:}"
KINDS = {
    "cal": {
        "server": "/dav/calendars/{user}/calendar/",
        "local": "local/calendars/calendar",
        "ext": ".ics",
        "prop": "SUMMARY",
        "noun": "events",
    },
    "card": {
        "server": "/dav/addressbooks/{user}/contacts/",
        "local": "local/addressbooks/contacts",
        "ext": ".vcf",
        "prop": "FN",
        "noun": "cards",
    },
}

FAILED = 0


def env(name):
    try:
        return os.environ[name]
    except KeyError:
        sys.exit(f"vdcheck: {name} is not set")


def ok(what, details=()):
    print(f"ok   {what}")
    for d in details:
        print(f"       {d}")


def fail(what, details=()):
    global FAILED
    FAILED += 1
    print(f"FAIL {what}")
    for d in details:
        print(f"       {d}")


def check(cond, what, details=()):
    (ok if cond else fail)(what, details)
    return cond


# ---------------------------------------------------------------- server side


def request(method, url, body=None, headers=None):
    auth = base64.b64encode(f"{env('VDS_USER')}:{env('VDS_PASSWORD')}".encode()).decode()
    h = {"Authorization": f"Basic {auth}"}
    h.update(headers or {})
    req = urllib.request.Request(url, data=body, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers.items()), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers.items()), e.read()


def collection_url(kind):
    return env("VDS_URL") + KINDS[kind]["server"].format(user=urllib.parse.quote(env("VDS_USER")))


PROPFIND_ITEMS = b"""<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:"><D:prop>
<D:resourcetype/><D:getetag/><D:getcontenttype/><D:sync-token/>
</D:prop></D:propfind>"""


def propfind(url, depth):
    status, _, body = request(
        "PROPFIND",
        url,
        PROPFIND_ITEMS,
        {"Depth": str(depth), "Content-Type": "application/xml; charset=utf-8"},
    )
    if status != 207:
        raise RuntimeError(f"PROPFIND {url} (Depth {depth}) answered {status}: {body[:300]!r}")
    out = {}
    for resp in ET.fromstring(body).iter(DAV + "response"):
        href = resp.findtext(DAV + "href")
        props = {}
        for ps in resp.findall(DAV + "propstat"):
            if "200" not in (ps.findtext(DAV + "status") or ""):
                continue
            prop = ps.find(DAV + "prop")
            if prop is None:
                continue
            for p in prop:
                props[p.tag] = p
        out[urllib.parse.unquote(urllib.parse.urljoin(url, href))] = props
    return out


def server_items(kind):
    """{absolute url: {"etag", "body", "uids"}} for the items of KIND's collection."""
    url = collection_url(kind)
    items = {}
    for href, props in propfind(url, 1).items():
        if not href.endswith(KINDS[kind]["ext"]):
            continue
        status, headers, body = request("GET", href)
        if status != 200:
            raise RuntimeError(f"GET {href} answered {status}")
        etag = getattr(props.get(DAV + "getetag"), "text", None)
        items[href] = {"etag": etag, "get_etag": headers.get("ETag"), "body": body, "uids": uids_of(body)}
    return items


def sync_token(kind):
    props = propfind(collection_url(kind), 0).get(collection_url(kind), {})
    return getattr(props.get(DAV + "sync-token"), "text", None)


# ----------------------------------------------------------------- local side


def local_dir(kind):
    return os.path.join(env("VDS_WORK"), KINDS[kind]["local"])


def local_items(kind):
    d = local_dir(kind)
    items = {}
    for name in sorted(os.listdir(d)):
        path = os.path.join(d, name)
        if not name.endswith(KINDS[kind]["ext"]) or not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            body = f.read()
        st = os.stat(path)
        items[path] = {
            "body": body,
            "uids": uids_of(body),
            "sha256": hashlib.sha256(body).hexdigest(),
            "mtime_ns": st.st_mtime_ns,
            "inode": st.st_ino,
        }
    return items


# --------------------------------------------------------------- iCal / vCard


def unfolded_lines(body):
    text = body.decode("utf-8").replace("\r\n", "\n")
    lines = []
    for line in text.split("\n"):
        if line[:1] in (" ", "\t") and lines:
            lines[-1] += line[1:]
        elif line:
            lines.append(line)
    return lines


def props_named(body, name):
    out = []
    for line in unfolded_lines(body):
        head, sep, value = line.partition(":")
        if sep and head.split(";", 1)[0].upper() == name:
            out.append(value)
    return out


def uids_of(body):
    return props_named(body, "UID")


def by_uid(items):
    """{uid: [key, ...]} over items (server or local)."""
    out = {}
    for key, it in items.items():
        for uid in set(it["uids"]) or {"<no UID>"}:
            out.setdefault(uid, []).append(key)
    return out


def describe_diff(a, b, name_a, name_b):
    if a.replace(b"\r\n", b"\n") == b.replace(b"\r\n", b"\n"):
        return ["bodies differ only in line endings (CRLF vs LF)"]
    diff = difflib.unified_diff(
        a.decode("utf-8", "replace").splitlines(True),
        b.decode("utf-8", "replace").splitlines(True),
        name_a,
        name_b,
        n=1,
    )
    return [repr(line) for line in list(diff)[:20]]


# ------------------------------------------------------------------- commands


def csv(s):
    return [x for x in (s or "").split(",") if x]


def cmd_verify(kind, args):
    expected = []
    server_origin = []
    it = iter(args)
    for a in it:
        if a == "--uids":
            expected = csv(next(it))
        elif a == "--server-origin":
            server_origin = csv(next(it))
        else:
            sys.exit(f"vdcheck verify: unexpected argument {a}")
    noun = KINDS[kind]["noun"]
    n = len(expected)
    srv = server_items(kind)
    loc = local_items(kind)
    check(
        len(srv) == n,
        f"{kind}: server collection has {n} {noun} (PROPFIND Depth 1: {len(srv)})",
        sorted(srv),
    )
    check(len(loc) == n, f"{kind}: local vdir has {n} {noun} (files: {len(loc)})", sorted(loc))

    s_uids, l_uids = by_uid(srv), by_uid(loc)
    dups = [
        f"{side} UID {u!r} in {keys}"
        for side, m in (("server", s_uids), ("local", l_uids))
        for u, keys in sorted(m.items())
        if len(keys) > 1
    ]
    multi = [
        f"{k} has {len(i['uids'])} UID lines"
        for k, i in list(srv.items()) + list(loc.items())
        if len(i["uids"]) != 1
    ]
    check(not dups and not multi, f"{kind}: no duplicates (one UID per item, UIDs unique on each side)", dups + multi)

    want = set(expected)
    check(
        set(s_uids) == want and set(l_uids) == want,
        f"{kind}: both sides hold exactly the expected UIDs",
        [
            f"server missing {sorted(want - set(s_uids))}, unexpected {sorted(set(s_uids) - want)}",
            f"local  missing {sorted(want - set(l_uids))}, unexpected {sorted(set(l_uids) - want)}",
        ]
        if set(s_uids) != want or set(l_uids) != want
        else [],
    )

    for direction, group in (
        ("server->local", [u for u in expected if u in server_origin]),
        ("local->server", [u for u in expected if u not in server_origin]),
    ):
        if not group:
            continue
        bad = []
        for u in group:
            if len(s_uids.get(u, [])) != 1 or len(l_uids.get(u, [])) != 1:
                bad.append(f"{u}: not exactly once on each side")
                continue
            sk, lk = s_uids[u][0], l_uids[u][0]
            sb, lb = srv[sk]["body"], loc[lk]["body"]
            if sb != lb:
                bad.append(f"{u}: server GET body ({len(sb)} bytes) != local file ({len(lb)} bytes)")
                bad += ["  " + d for d in describe_diff(sb, lb, sk, lk)]
        check(
            not bad,
            f"{kind}: {direction} items byte-identical (server GET body == local file, "
            f"CRLF kept, no normalisation): {len(group)} {noun}",
            bad,
        )


def the_one(items, uid, side):
    keys = by_uid(items).get(uid, [])
    if len(keys) != 1:
        raise LookupError(f"{side}: {len(keys)} items with UID {uid!r}: {keys}")
    return keys[0]


def cmd_text(kind, uid, value):
    prop = KINDS[kind]["prop"]
    details, good = [], True
    for side, items in (("server", server_items(kind)), ("local", local_items(kind))):
        try:
            key = the_one(items, uid, side)
        except LookupError as e:
            details.append(str(e))
            good = False
            continue
        got = props_named(items[key]["body"], prop)
        details.append(f"{side}: {prop} = {got!r} ({key})")
        good &= got == [value]
    check(good, f"{kind}: edit of {uid} propagated: {prop} is {value!r} on both sides", details)


def cmd_gone(kind, uid):
    details = []
    for side, items in (("server", server_items(kind)), ("local", local_items(kind))):
        keys = by_uid(items).get(uid, [])
        if keys:
            details.append(f"{side} still has it: {keys}")
    check(not details, f"{kind}: deletion of {uid} propagated (absent on both sides)", details)


def snapshot():
    snap = {}
    for kind in KINDS:
        snap[kind] = {
            "sync_token": sync_token(kind),
            "server": {h: i["etag"] for h, i in server_items(kind).items()},
            "local": {p: [i["sha256"], i["mtime_ns"], i["inode"]] for p, i in local_items(kind).items()},
        }
    return snap


def cmd_unchanged(a_path, b_path):
    with open(a_path) as f:
        a = json.load(f)
    with open(b_path) as f:
        b = json.load(f)
    for kind in KINDS:
        for side, what in (
            ("server", "server unchanged (same hrefs, ETags and sync-token)"),
            ("local", "local vdir unchanged (same files, SHA-256, mtime and inode)"),
        ):
            before, after = a[kind][side], b[kind][side]
            details = [f"{k}: {before.get(k)} -> {after.get(k)}" for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]
            if side == "server" and a[kind]["sync_token"] != b[kind]["sync_token"]:
                details.append(f"sync-token: {a[kind]['sync_token']} -> {b[kind]['sync_token']}")
            check(not details, f"{kind}: {what}", details)


def cmd_setprop(path, prop, value):
    with open(path, "rb") as f:
        body = f.read()
    eol = b"\r\n" if b"\r\n" in body else b"\n"
    lines = body.split(eol)
    for i, line in enumerate(lines):
        head, sep, _ = line.partition(b":")
        if sep and head.split(b";", 1)[0].upper() == prop.encode():
            j = i + 1
            while j < len(lines) and lines[j][:1] in (b" ", b"\t"):
                j += 1
            lines[i:j] = [head + b":" + value.encode("utf-8")]
            break
    else:
        sys.exit(f"vdcheck setprop: no {prop} line in {path}")
    tmp = path + ".vdcheck-tmp"
    with open(tmp, "wb") as f:
        f.write(eol.join(lines))
    os.replace(tmp, path)


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd in ("verify", "text", "gone", "href", "local-file") and (not args or args[0] not in KINDS):
        sys.exit(f"vdcheck {cmd}: first argument must be one of {sorted(KINDS)}")
    try:
        if cmd == "verify":
            cmd_verify(args[0], args[1:])
        elif cmd == "text" and len(args) == 3:
            cmd_text(*args)
        elif cmd == "gone" and len(args) == 2:
            cmd_gone(*args)
        elif cmd == "unchanged" and len(args) == 2:
            cmd_unchanged(*args)
        elif cmd == "snapshot" and len(args) == 1:
            with open(args[0], "w") as f:
                json.dump(snapshot(), f, indent=1, sort_keys=True)
        elif cmd == "href" and len(args) == 2:
            print(the_one(server_items(args[0]), args[1], "server"))
        elif cmd == "local-file" and len(args) == 2:
            print(the_one(local_items(args[0]), args[1], "local"))
        elif cmd == "setprop" and len(args) == 3:
            cmd_setprop(*args)
        else:
            sys.exit(__doc__)
    except (RuntimeError, LookupError, OSError, ET.ParseError) as e:
        if cmd in ("snapshot", "href", "local-file", "setprop"):
            print(f"vdcheck {cmd}: {e}", file=sys.stderr)
            return 2
        fail(f"vdcheck {cmd} {' '.join(args)}: could not run", [str(e)])
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
