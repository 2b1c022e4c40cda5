#!/usr/bin/env python3
"""Driver for conformance/caldav-tester.sh: run caldav-server-tester against davit.

caldav-server-tester (PyPI, python-caldav project) probes a CalDAV server and
grades each feature of caldav's `compatibility_hints.FeatureSet` as full,
quirk, fragile, ungraceful, broken, unsupported or unknown. Its CLI prints the
report but always exits 0 and has no notion of which features a server
advertises, so this driver runs the CLI in-process and grades the result:

  1. Asks davit what it advertises: the DAV header of OPTIONS on the DAV root,
     and DAV:supported-report-set of the principal and of a scratch calendar
     (MKCALENDAR, PROPFIND Depth 0, DELETE).
  2. Runs the CLI's own entry point (click command `check_server_compatibility`)
     with --caldav-url/--caldav-username/--caldav-password: every check, its
     cleanup, and its text report (the default, non-verbose one, which lists
     the deviations from the standard; this is "its summary").
  3. Runs it once more with `--run-checks CheckWellKnown` against the same
     server spelled http://127.1:PORT/: the checker skips RFC 6764 well-known
     discovery for the hosts localhost/127.0.0.1/::1 only.
  4. Grades every server-feature the checker recorded (a line each):
       ok   FEATURE: full
       ok   FEATURE: LEVEL (the checker's default, ...)   e.g. search.time-range.
            comp-type-optional: unsupported, which RFC 4791 §9.7 requires
       n/a  FEATURE: LEVEL -- not advertised by davit: REASON   (allow-list)
       FAIL FEATURE: LEVEL  behaviour=...                 anything else,
            including "unknown" (not probed) and "quirk"; every feature in
            REQUIRED must have been recorded at all.
     For a FAIL, the non-2xx exchanges of the check that graded it are shown;
     the full HTTP trace of the run is in --trace.

Only the hooks needed for that are added (none changes what a check sends or
how it grades): niquests.Session.request is wrapped to write the trace,
Check.run_check to tag the trace with the running check, the CLI's
_emit_report to keep the checker object after it printed its report, and the
CLI's get_davclient to pass auth_type="basic" (credentials from the first
request on; see probe_401_close for why). Before the checker runs, a
`warn http: ...` line reports if davit still drops a connection after a 401
without `Connection: close`; it is not counted as a failure (it is no CalDAV
feature, and the checker's own clients no longer run into it).

Exit status 0 if no FAIL line was printed and the checker did not crash.
The password is read from the environment variable CSC_PASSWORD.
"""

import argparse
import logging
import os
import re
import socket
import sys
import time
import traceback
import urllib.parse
import xml.etree.ElementTree as ET

import caldav
import click
import niquests
from caldav.compatibility_hints import FeatureSet

import caldav_server_tester.caldav_server_tester as cli
from caldav_server_tester import checks as checks_module
from caldav_server_tester.checks_base import Check

# ------------------------------------------------------------------ allow-list
#
# Checker features davit does not advertise, so a verdict other than "full" is
# not a failure. A feature matches an entry if it equals it or lies below it
# (entry "scheduling" covers "scheduling.mailbox", ...).
#
# Each entry is (reason, advertised): `advertised(adv)` says whether davit now
# DOES advertise the feature, judged from its DAV header and
# supported-report-set (see probe_advertised); if so, the entry no longer
# applies and the feature must pass like any other. So the day davit lists
# free-busy-query in a calendar's supported-report-set, freebusy-query becomes
# a required feature without an edit here.
NOT_ADVERTISED = {
    # RFC 6638 scheduling (inbox/outbox, iTIP delivery, Schedule-Tag, free-busy
    # POSTed to the outbox): davit's DAV header has no calendar-auto-schedule
    # and it has no scheduling collections. The checker grades "scheduling"
    # from that very header token and probes its sub-features only when set.
    "scheduling": (
        "RFC 6638 scheduling: no calendar-auto-schedule in davit's DAV header",
        lambda adv: "calendar-auto-schedule" in adv["dav"],
    ),
    # CALDAV:free-busy-query REPORT (RFC 4791 §7.10) on a calendar collection.
    # RFC 4791 §2 makes it part of calendar-access, but davit lists in a
    # calendar's supported-report-set only the REPORTs it implements, and
    # free-busy-query is not (yet) among them. Required as soon as it is.
    "freebusy-query": (
        "RFC 4791 §7.10 free-busy-query: not in a calendar's supported-report-set",
        lambda adv: "free-busy-query" in adv["calendar_reports"],
    ),
}

# Features davit advertises that the checker must have graded at all (and,
# like every feature not allow-listed, graded "full"): a checker upgrade that
# renames or stops probing one of them fails the step instead of passing it.
REQUIRED = {
    "get-current-user-principal": "principal discovery (RFC 5397)",
    "create-calendar": "MKCALENDAR (RFC 4791 §5.3.1)",
    "delete-calendar": "DELETE of a calendar collection (RFC 4918 §9.6)",
    "save-load.event": "PUT/GET of a VEVENT",
    "save-load.todo": "PUT/GET of a VTODO (task lists)",
    "save-load.journal": "PUT/GET of a VJOURNAL",
    "save.etag": "ETag on PUT (RFC 4791 §5.3.4)",
    "save.if-none-match": "PUT If-None-Match: * (RFC 9110 §13.1.2)",
    "search.comp-type": "calendar-query comp-filter (RFC 4791 §9.7.1)",
    "search.text.substring": "calendar-query text-match (RFC 4791 §9.7.5)",
    "search.time-range.event": "calendar-query time-range on VEVENT (RFC 4791 §9.9)",
    "search.time-range.todo": "calendar-query time-range on VTODO (RFC 4791 §9.9)",
    "search.recurrences.includes-implicit.event": "time-range on recurring events (RFC 4791 §9.9)",
    "search.recurrences.includes-implicit.todo": "time-range on recurring tasks (RFC 4791 §9.9)",
    "sync-token": "sync-collection REPORT (RFC 6578)",
    "sync-token.delete": "sync-collection reports deletions (RFC 6578 §3.5.2)",
    # The checker sends principal-property-search to the DAV root, by the user's display
    # name and (list-all) with no property-search at all; both must find the user.
    "principal-search": "principal-property-search REPORT (RFC 3744 §9.4)",
    "principal-search.by-name.self": "principal-property-search on DAV:displayname",
    "principal-search.list-all": "principal-property-search without criteria: the organization",
    "well-known": "/.well-known/caldav (RFC 6764 §5)",
}

DAV = "{DAV:}"
CALDAV_NS = "urn:ietf:params:xml:ns:caldav"

# ------------------------------------------------------------------- tracing

_check_stack = []
_exchanges = []  # (check, method, url, status, request body, response body)
_trace_file = None


def _clip(text, limit):
    text = text or ""
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more chars]"


def _body_text(body):
    if body is None:
        return ""
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")
    if isinstance(body, str):
        return body
    return f"<{type(body).__name__} body>"


def _headers_text(headers):
    lines = []
    for k, v in (headers or {}).items():
        if k.lower() in ("authorization", "cookie"):
            v = "<redacted>"
        lines.append(f"{k}: {v}")
    return "\n".join(lines)


def install_trace(path):
    global _trace_file
    _trace_file = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed at exit
    original = niquests.Session.request

    def traced(self, method, url, *args, **kwargs):
        check = _check_stack[-1] if _check_stack else "-"
        started = time.monotonic()
        try:
            response = original(self, method, url, *args, **kwargs)
        except Exception as exc:
            _trace_file.write(f"\n=== [{check}] {method} {url}\n!!! {type(exc).__name__}: {exc}\n")
            _trace_file.flush()
            raise
        took = (time.monotonic() - started) * 1000
        for hop in [*getattr(response, "history", []), response]:
            req = hop.request
            req_body = _body_text(req.body)
            try:
                resp_body = hop.text or ""
            except Exception as exc:  # undecodable body
                resp_body = f"<unreadable: {exc}>"
            _trace_file.write(
                f"\n=== [{check}] {req.method} {req.url} -> {hop.status_code} ({took:.0f} ms)\n"
                f"{_headers_text(req.headers)}\n\n{req_body}\n"
                f"--- response {hop.status_code} {hop.reason}\n{_headers_text(hop.headers)}\n\n{resp_body}\n"
            )
            _exchanges.append((check, req.method, req.url, hop.status_code, req_body, resp_body))
        _trace_file.flush()
        return response

    niquests.Session.request = traced

    original_run_check = Check.run_check

    def run_check(self, only_once=True):
        _check_stack.append(type(self).__name__)
        try:
            return original_run_check(self, only_once=only_once)
        finally:
            _check_stack.pop()

    Check.run_check = run_check


# ------------------------------------------------------- what davit advertises


def _reports(session, url, depth="0"):
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<D:propfind xmlns:D="DAV:"><D:prop><D:supported-report-set/></D:prop></D:propfind>'
    )
    r = session.request(
        "PROPFIND", url, data=body, headers={"Depth": depth, "Content-Type": "application/xml; charset=utf-8"}
    )
    if r.status_code != 207:
        raise RuntimeError(f"PROPFIND supported-report-set {url}: {r.status_code}")
    root = ET.fromstring(r.content)
    names = set()
    for report in root.iter(f"{DAV}report"):
        for child in report:
            names.add(child.tag.rsplit("}", 1)[-1])
    return names


def probe_advertised(base_url, user, password):
    """DAV header and supported-report-set of the root, principal and a calendar."""
    session = niquests.Session()
    session.auth = (user, password)
    adv = {}
    r = session.request("OPTIONS", base_url)
    adv["dav"] = {t.strip().lower() for t in r.headers.get("DAV", "").split(",") if t.strip()}
    adv["root_reports"] = _reports(session, base_url)
    root = urllib.parse.urlsplit(base_url)
    origin = f"{root.scheme}://{root.netloc}"
    adv["principal_reports"] = _reports(session, f"{origin}/dav/principals/{user}/")
    cal = f"{origin}/dav/calendars/{user}/caldav-server-checker-davit-advertised/"
    r = session.request("MKCALENDAR", cal)
    if r.status_code != 201:
        raise RuntimeError(f"MKCALENDAR {cal}: {r.status_code} {r.text[:300]}")
    try:
        adv["calendar_reports"] = _reports(session, cal)
    finally:
        session.request("DELETE", cal)
    session.close()
    return adv


def probe_401_close(base_url):
    """Does davit drop the connection after a 401 to a request whose body came
    in a TCP segment of its own, without saying `Connection: close`?

    niquests (like urllib3 and many clients) writes the headers and the body of
    a request separately. davit answers an unauthenticated request with 401
    without reading its body, and then closes the connection, but the 401
    carries no `Connection: close`, so the client may send its retry (with
    credentials) down that connection and get "Remote end closed connection
    without response" (RFC 9112 §9.3: without "close" an HTTP/1.1 connection
    persists; §9.6: a server closing should say so). A caldav client that
    negotiates auth from a 401 loses that race about one time in twenty, which
    is why run_cli sends credentials up front. Returns a warning or None.
    """
    parts = urllib.parse.urlsplit(base_url)
    body = (
        b'<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop>'
        b"<D:current-user-principal/></D:prop></D:propfind>"
    )
    head = (
        f"PROPFIND {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nDepth: 0\r\n"
        f"Content-Type: application/xml\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(head)
        time.sleep(0.05)
        sock.sendall(body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        status_line = data.split(b"\r\n", 1)[0].decode("latin-1")
        says_close = re.search(rb"(?im)^connection:[^\r\n]*\bclose\b", data) is not None
        sock.settimeout(1)
        closed = False
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    closed = True
                    break
        except (TimeoutError, socket.timeout):
            pass
        except ConnectionResetError:
            closed = True
    if closed and not says_close:
        return (
            f"PROPFIND {parts.path} without credentials, body sent 50 ms after the headers: "
            f"'{status_line}' without 'Connection: close', then the server closed the connection "
            "(RFC 9112 §9.3, §9.6); clients reusing it fail"
        )
    return None


# ---------------------------------------------------------------- the checker


def _get_davclient_basic(*args, **kwargs):
    """The CLI's get_davclient, with auth_type="basic" (a DAVClient parameter the
    CLI has no option for): the client then sends its credentials from the first
    request on, instead of first sending each new connection's opening request
    without them and retrying after the 401. See probe_401_close()."""
    kwargs.setdefault("auth_type", "basic")
    return _original_get_davclient(*args, **kwargs)


_original_get_davclient = cli.get_davclient


def run_cli(args, label):
    """Run the caldav-server-tester CLI in-process; return (checker, error)."""
    kept = {}
    original_emit = cli._emit_report
    cli.get_davclient = _get_davclient_basic

    def emit_and_keep(obj, *a, **kw):
        kept["obj"] = obj
        return original_emit(obj, *a, **kw)

    cli._emit_report = emit_and_keep
    shown = [a if not a.startswith("--caldav-password=") else "--caldav-password=<password>" for a in args]
    print(f"--> caldav-server-tester {' '.join(shown)}   ({label})", flush=True)
    error = None
    try:
        cli.check_server_compatibility.main(args=args, prog_name="caldav-server-tester", standalone_mode=False)
    except click.ClickException as exc:
        error = f"usage/click error: {exc.format_message()}"
    except Exception:
        error = traceback.format_exc()
    finally:
        cli._emit_report = original_emit
        cli.get_davclient = _original_get_davclient
        sys.stdout.flush()
    return kept.get("obj"), error


def failed_props(body):
    """'propstat 404: calendar-data' for the failed propstats of a multistatus.

    The speculative properties the library asks for alongside (schedule-tag)
    are left out; "" if there is nothing else.
    """
    if "multistatus" not in body[:400]:
        return ""
    try:
        root = ET.fromstring(body.encode("utf-8"))
    except ET.ParseError:
        return ""
    found = []
    for propstat in root.iter(f"{DAV}propstat"):
        status = propstat.findtext(f"{DAV}status") or ""
        code = status.split(" ")[1] if len(status.split(" ")) > 1 else ""
        if not code.startswith(("4", "5")):
            continue
        names = [p.tag.rsplit("}", 1)[-1] for prop in propstat.iter(f"{DAV}prop") for p in prop]
        names = [n for n in names if n != "schedule-tag"]
        if names:
            item = f"propstat {code}: {', '.join(names)}"
            if item not in found:
                found.append(item)
    return "; ".join(found)


def check_of(feature):
    """The check class that grades `feature` (or its nearest ancestor)."""
    f = feature
    while f:
        for name in dir(checks_module):
            obj = getattr(checks_module, name)
            if (
                isinstance(obj, type)
                and issubclass(obj, Check)
                and f in getattr(obj, "features_to_be_checked", set())
            ):
                return name
        f = f.rpartition(".")[0]
    return None


def allow_listed(feature, adv):
    for entry, (reason, advertised) in NOT_ADVERTISED.items():
        if feature == entry or feature.startswith(entry + "."):
            if advertised(adv):
                return None
            return reason
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True, help="DAV root, e.g. http://127.0.0.1:PORT/dav/")
    ap.add_argument("--user", required=True)
    ap.add_argument("--trace", required=True, help="file for the HTTP trace")
    args = ap.parse_args()
    password = os.environ["CSC_PASSWORD"]

    logging.basicConfig(level=logging.WARNING, format="    checker log: %(levelname)s %(message)s", stream=sys.stdout)
    install_trace(args.trace)
    print(f"--> caldav {caldav.__version__}, caldav-server-tester {cli.__version__}")

    failures = 0

    def fail(line, *details):
        nonlocal failures
        failures += 1
        print(f"FAIL {line}")
        for d in details:
            print(f"       {d}")

    _check_stack.append("advertised-probe")
    try:
        adv = probe_advertised(args.url, args.user, password)
    except Exception as exc:
        print(f"FAIL could not read what davit advertises: {exc}")
        return 1
    finally:
        _check_stack.pop()
    print(f"--> DAV header: {', '.join(sorted(adv['dav']))}")
    print(f"--> calendar supported-report-set: {', '.join(sorted(adv['calendar_reports']))}")
    print(f"--> principal supported-report-set: {', '.join(sorted(adv['principal_reports'])) or '(none)'}")
    print(f"--> DAV root supported-report-set: {', '.join(sorted(adv['root_reports'])) or '(none)'}")

    try:
        warning = probe_401_close(args.url)
    except OSError as exc:
        warning = f"the probe itself failed: {exc}"
    if warning:
        print(f"warn http: {warning}")

    common = [f"--caldav-username={args.user}", f"--caldav-password={password}"]
    print()
    print("--> the checker logs 'found something unexpected' for each verdict other than its all-'full'")
    print("    default expectation; those lines are information, the grading at the end decides.")
    print("---------------------- caldav-server-tester report ----------------------", flush=True)
    checker, error = run_cli([f"--caldav-url={args.url}", *common], "all checks")
    print("-------------------------------------------------------------------------")
    if error:
        fail("caldav-server-tester crashed (all checks)", *error.rstrip().splitlines())
    if checker is None:
        print("FAIL caldav-server-tester produced no report")
        return 1

    # RFC 6764 well-known: the checker refuses to probe a loopback host name.
    parts = urllib.parse.urlsplit(args.url)
    wk_url = urllib.parse.urlunsplit(parts._replace(netloc=re.sub(r"^127\.0\.0\.1", "127.1", parts.netloc)))
    print()
    print("----------------- caldav-server-tester report (well-known) --------------", flush=True)
    wk_checker, wk_error = run_cli(
        [f"--caldav-url={wk_url}", *common, "--run-checks=CheckWellKnown"], "well-known, host spelled 127.1"
    )
    print("-------------------------------------------------------------------------")
    if wk_error or wk_checker is None:
        fail("caldav-server-tester crashed (CheckWellKnown)", *(wk_error or "no report").rstrip().splitlines())
    else:
        wk = wk_checker.features_checked.is_supported("well-known", dict)
        checker.features_checked._server_features.pop("well-known", None)
        checker.features_checked.set_feature("well-known", wk)

    observed = checker.features_checked
    defaults = FeatureSet()
    listed = observed.dotted_feature_set_list(compact=False)
    print()
    print("caldav-server-tester verdicts, graded against what davit advertises:")
    passed = 0
    not_advertised = 0
    for feature in sorted(listed):
        ftype = FeatureSet.find_feature(feature).get("type", "server-feature")
        if ftype != "server-feature":
            continue  # observations, client hints, peculiarities: no support level
        level = observed.is_supported(feature, str)
        info = observed.is_supported(feature, dict)
        extra = "  ".join(f"{k}={v}" for k, v in info.items() if k != "support")
        extra = f"  [{extra}]" if extra else ""
        default = defaults.is_supported(feature, str)
        reason = allow_listed(feature, adv)
        if level == "full":
            passed += 1
            print(f"ok   {feature}: full{extra}")
        elif level == default and level != "unknown":
            passed += 1
            print(f"ok   {feature}: {level} (the checker's default for this feature){extra}")
        elif reason:
            not_advertised += 1
            print(f"n/a  {feature}: {level} -- not advertised by davit: {reason}{extra}")
        else:
            check = check_of(feature)
            details = []
            if feature in REQUIRED:
                details.append(f"davit advertises this: {REQUIRED[feature]}")
            details.append(f"graded by {check}; non-2xx exchanges of that check (full trace: {args.trace}):")
            bad = [e for e in _exchanges if e[0] == check and (not 200 <= e[3] < 300 or failed_props(e[5]))]
            for _, method, url, status, req_body, resp_body in bad[:6]:
                props = failed_props(resp_body)
                details.append(f"  {method} {url} -> {status}" + (f"; in the 207: {props}" if props else ""))
                if req_body.strip():
                    details.append("    request:  " + _clip(" ".join(req_body.split()), 600))
                if resp_body.strip():
                    details.append("    response: " + _clip(" ".join(resp_body.split()), 400))
            if not bad:
                details.append("  (none: every answer was 2xx without a failed propstat; see the trace)")
            fail(f"{feature}: {level}{extra}", *details)
    for feature, what in sorted(REQUIRED.items()):
        if feature not in listed:
            fail(f"{feature}: not graded by the checker ({what})")
    print()
    print(
        f"--> {passed} features ok, {failures} failed, {not_advertised} not advertised by davit "
        f"(allow-listed: {', '.join(sorted(NOT_ADVERTISED))})"
    )
    _trace_file.close()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
