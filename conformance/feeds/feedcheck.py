"""Checks for conformance/feeds.sh, using the `icalendar` package (PyPI) as an independent
parser of davit's public feeds.

    feedcheck.py source FILE
        print "<number of VEVENTs> <1 if any VEVENT is CLASS:PRIVATE else 0> <UID>"
    feedcheck.py feed FILE --objects N --events M [--private UID,...] [--confidential UID,...]
        check a fetched feed; print one "ok ..." or "FAIL ..." line per check

Exits non-zero only when it cannot run at all (the shell script counts the lines).
"""

import argparse
import sys

import icalendar


def load(path):
    with open(path, "rb") as f:
        return icalendar.Calendar.from_ical(f.read())


def source(args):
    cal = load(args.file)
    events = list(cal.walk("VEVENT"))
    private = any(str(e.get("CLASS", "")).upper() == "PRIVATE" for e in events)
    uid = str(events[0].get("UID")) if events else "-"
    print(len(events), 1 if private else 0, uid)


class Checks:
    def __init__(self):
        self.failed = 0

    def check(self, ok, what, detail=""):
        if ok:
            print(f"ok   {what}")
        else:
            self.failed += 1
            print(f"FAIL {what}" + (f": {detail}" if detail else ""))


def feed(args):
    c = Checks()
    with open(args.file, "rb") as f:
        raw = f.read()
    try:
        cal = icalendar.Calendar.from_ical(raw)
    except Exception as e:  # noqa: BLE001 - any parser failure is the finding
        c.check(False, "the feed parses with icalendar", repr(e))
        return c
    c.check(True, f"the feed parses with icalendar {icalendar.__version__}")
    c.check(raw.count(b"BEGIN:VCALENDAR") == 1, "exactly one VCALENDAR")
    c.check(cal.name == "VCALENDAR", "the top component is VCALENDAR", cal.name)
    c.check(bool(str(cal.get("X-WR-CALNAME", ""))), "X-WR-CALNAME is set", str(cal.get("X-WR-CALNAME")))
    c.check("REFRESH-INTERVAL" in cal and "X-PUBLISHED-TTL" in cal, "REFRESH-INTERVAL and X-PUBLISHED-TTL")

    events = list(cal.walk("VEVENT"))
    uids = []
    for e in events:
        uid = str(e.get("UID"))
        if uid not in uids:
            uids.append(uid)
    c.check(len(uids) == args.objects, f"{args.objects} published objects (distinct VEVENT UIDs)", f"got {len(uids)}: {uids}")
    c.check(len(events) == args.events, f"{args.events} VEVENTs (masters and overrides)", f"got {len(events)}")

    private = [u for u in (args.private or "").split(",") if u]
    for uid in private:
        c.check(uid not in uids, f"CLASS:PRIVATE {uid} is absent")
    for uid in [u for u in (args.confidential or "").split(",") if u]:
        found = [e for e in events if str(e.get("UID")) == uid]
        if not found:
            c.check(False, f"CLASS:CONFIDENTIAL {uid} is published as busy time", "missing")
            continue
        e = found[0]
        extra = sorted(k for k in e.keys() if k in ("DESCRIPTION", "LOCATION", "ATTENDEE", "ORGANIZER", "CLASS"))
        c.check(
            str(e.get("SUMMARY")) == "Busy" and not extra and not e.subcomponents,
            f"CLASS:CONFIDENTIAL {uid} is published as busy time without details",
            f"SUMMARY={e.get('SUMMARY')!s} extra={extra} subcomponents={len(e.subcomponents)}",
        )
    attendees = [e for e in events if "ATTENDEE" in e or "ORGANIZER" in e]
    c.check(not attendees, "no ATTENDEE/ORGANIZER (e-mail addresses) published", f"{len(attendees)} events have them")

    defined = [str(tz.get("TZID")) for tz in cal.walk("VTIMEZONE")]
    dupes = sorted({t for t in defined if defined.count(t) > 1})
    c.check(not dupes, f"each VTIMEZONE once ({len(defined)} zones)", f"duplicated: {dupes}")
    used = set()
    for e in events:
        for name, value in e.property_items(recursive=False):
            params = getattr(value, "params", None)
            if params is not None and "TZID" in params:
                used.add(str(params["TZID"]))
    c.check(used <= set(defined), "every TZID used is defined", f"undefined: {sorted(used - set(defined))}")
    c.check(set(defined) <= used, "no VTIMEZONE that nothing uses", f"unused: {sorted(set(defined) - used)}")
    return c


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("source")
    s.add_argument("file")
    f = sub.add_parser("feed")
    f.add_argument("file")
    f.add_argument("--objects", type=int, required=True)
    f.add_argument("--events", type=int, required=True)
    f.add_argument("--private")
    f.add_argument("--confidential")
    args = parser.parse_args()
    if args.cmd == "source":
        source(args)
    else:
        feed(args)


if __name__ == "__main__":
    sys.exit(main())
