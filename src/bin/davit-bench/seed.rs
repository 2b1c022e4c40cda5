//! Deterministic test data: calendar events and vCards that look like a real organization's.
//!
//! Events span 2024–2027. Every fifth one recurs (weekly, sometimes biweekly, or daily; with
//! COUNT, UNTIL or open-ended) and has one EXDATE and one overridden instance (a second
//! VEVENT with RECURRENCE-ID). Time zones: Europe/Berlin, America/New_York, Asia/Tokyo and
//! the Outlook-style "W. Europe Standard Time", each with its VTIMEZONE, plus UTC and
//! all-day (VALUE=DATE) events. vCards are 3.0 with names (some non-ASCII), e-mail
//! addresses, phone numbers, organizations, addresses and birthdays.
//!
//! The same seed always gives the same bytes, so davit and Radicale get identical data.

use std::fmt::Write as _;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Weekday};

/// SplitMix64: small, fast and good enough to pick names.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn range(&mut self, lo: u64, hi_inclusive: u64) -> u64 {
        lo + self.below(hi_inclusive - lo + 1)
    }
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    pub fn pick_str(&mut self, items: &[&'static str]) -> &'static str {
        items[self.below(items.len() as u64) as usize]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    Berlin,
    NewYork,
    Tokyo,
    WEurope,
    Utc,
}

impl Zone {
    fn tzid(self) -> Option<&'static str> {
        match self {
            Zone::Berlin => Some("Europe/Berlin"),
            Zone::NewYork => Some("America/New_York"),
            Zone::Tokyo => Some("Asia/Tokyo"),
            Zone::WEurope => Some("W. Europe Standard Time"),
            Zone::Utc => None,
        }
    }
    fn vtimezone(self) -> &'static str {
        match self {
            Zone::Berlin => VTZ_BERLIN,
            Zone::NewYork => VTZ_NEW_YORK,
            Zone::Tokyo => VTZ_TOKYO,
            Zone::WEurope => VTZ_WEUROPE,
            Zone::Utc => "",
        }
    }
    const ALL_TZ: [Zone; 4] = [Zone::Berlin, Zone::NewYork, Zone::Tokyo, Zone::WEurope];
}

const VTZ_BERLIN: &str = "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nX-LIC-LOCATION:Europe/Berlin\r\n\
BEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\nDTSTART:19700329T020000\r\n\
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\n\
BEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\nDTSTART:19701025T030000\r\n\
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n";

const VTZ_NEW_YORK: &str = "BEGIN:VTIMEZONE\r\nTZID:America/New_York\r\nX-LIC-LOCATION:America/New_York\r\n\
BEGIN:DAYLIGHT\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\nTZNAME:EDT\r\nDTSTART:19700308T020000\r\n\
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\nEND:DAYLIGHT\r\n\
BEGIN:STANDARD\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nTZNAME:EST\r\nDTSTART:19701101T020000\r\n\
RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n";

const VTZ_TOKYO: &str = "BEGIN:VTIMEZONE\r\nTZID:Asia/Tokyo\r\nX-LIC-LOCATION:Asia/Tokyo\r\n\
BEGIN:STANDARD\r\nTZOFFSETFROM:+0900\r\nTZOFFSETTO:+0900\r\nTZNAME:JST\r\nDTSTART:19700101T000000\r\n\
END:STANDARD\r\nEND:VTIMEZONE\r\n";

/// As Outlook (and Outlook CalDav Synchronizer) write it: a Windows zone name, 1601 epochs.
const VTZ_WEUROPE: &str = "BEGIN:VTIMEZONE\r\nTZID:W. Europe Standard Time\r\n\
BEGIN:STANDARD\r\nDTSTART:16011028T030000\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\n\
TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\n\
BEGIN:DAYLIGHT\r\nDTSTART:16010325T020000\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\n\
TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n";

const PRODID: &str = "-//davit//davit-bench seed 1//EN";

const GIVEN: &[&str] = &[
    "Anna",
    "Lukas",
    "Sophie",
    "Jonas",
    "Marie",
    "Leon",
    "Emma",
    "Paul",
    "Mia",
    "Felix",
    "Hannah",
    "Elias",
    "Lena",
    "Noah",
    "Lea",
    "Ben",
    "Clara",
    "Finn",
    "Laura",
    "Jan",
    "Sarah",
    "Tim",
    "Julia",
    "David",
    "Olivia",
    "James",
    "Emily",
    "Michael",
    "Jessica",
    "Daniel",
    "Ashley",
    "Matthew",
    "Yuki",
    "Haruto",
    "Sakura",
    "Ren",
    "Aoi",
    "Sota",
    "Chloé",
    "Léa",
    "Mathéo",
    "Zoë",
    "José",
    "Lucía",
    "Mateo",
    "Sofía",
    "Björn",
    "Åsa",
    "Søren",
    "Ingrid",
    "Piotr",
    "Agnieszka",
    "Mehmet",
    "Ayşe",
    "Priya",
    "Arjun",
    "Wei",
    "Mei",
    "Olga",
    "Dmitri",
];

const SURNAMES: &[&str] = &[
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Braun",
    "Krüger",
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Wilson",
    "Anderson",
    "Taylor",
    "Thomas",
    "Moore",
    "Sato",
    "Suzuki",
    "Takahashi",
    "Tanaka",
    "Watanabe",
    "Ito",
    "Yamamoto",
    "Nakamura",
    "Dubois",
    "Lefèvre",
    "Moreau",
    "García",
    "Fernández",
    "López",
    "Kowalski",
    "Nowak",
    "Andersson",
    "Johansson",
    "Nielsen",
    "Jørgensen",
    "Yılmaz",
    "Patel",
    "Sharma",
    "Chen",
    "Ivanova",
];

/// Terms for the addressbook-query workload: surnames and given names, in varying case.
pub const NAME_TERMS: &[&str] = &[
    "müller",
    "Smith",
    "tanaka",
    "GARCIA",
    "kowalski",
    "Nguyen",
    "anna",
    "Sophie",
    "yuki",
    "jørgensen",
    "schmidt",
    "Brown",
    "lefèvre",
    "Patel",
    "chen",
    "Lukas",
    "olga",
    "Weber",
    "ito",
    "Moore",
];

const COMPANIES: &[&str] = &[
    "Acme GmbH",
    "Globex Corporation",
    "Initech",
    "Umbrella AG",
    "Stark Industries",
    "Wayne Enterprises",
    "Nakatomi Trading",
    "Soylent Foods",
    "Hooli",
    "Vandelay Industries",
    "Müller & Söhne KG",
    "Tyrell Corporation",
    "Cyberdyne Systems",
    "Wonka Industries",
    "Oceanic Airlines",
];

const TITLES: &[&str] = &[
    "Account Manager",
    "Software Engineer",
    "Head of Sales",
    "CFO",
    "Project Manager",
    "Designer",
    "Office Manager",
    "Consultant",
    "Product Owner",
    "Team Lead",
    "Procurement",
    "Legal Counsel",
];

const CITIES: &[(&str, &str, &str, &str)] = &[
    ("Berlin", "10115", "Germany", "Invalidenstraße"),
    ("München", "80331", "Germany", "Marienplatz"),
    ("Hamburg", "20095", "Germany", "Mönckebergstraße"),
    ("New York", "10001", "USA", "Broadway"),
    ("Boston", "02108", "USA", "Beacon Street"),
    ("Tokyo", "100-0005", "Japan", "Marunouchi"),
    ("Paris", "75001", "France", "Rue de Rivoli"),
    ("Madrid", "28013", "Spain", "Gran Vía"),
    ("Warszawa", "00-001", "Poland", "Nowy Świat"),
    ("Stockholm", "111 22", "Sweden", "Drottninggatan"),
];

const SUMMARIES: &[&str] = &[
    "Team standup",
    "Weekly sync",
    "1:1",
    "Sprint planning",
    "Sprint review",
    "Retrospective",
    "Customer call",
    "Lunch",
    "Dentist",
    "Board meeting",
    "Budget review",
    "Interview",
    "All hands",
    "Design review",
    "Release planning",
    "Workshop: onboarding",
    "Quarterly business review",
    "Training: security awareness",
    "Coffee chat",
    "Yoga",
    "Flight to Berlin",
    "Kick-off meeting",
    "Architecture discussion",
    "Call with supplier",
    "Offsite preparation",
    "Doctor's appointment",
    "Pick up kids",
    "Parent–teacher meeting",
    "Car service",
    "Birthday party",
    "Team dinner",
    "Performance review",
    "Vendor demo",
    "Webinar",
    "Hackathon",
    "Town hall",
    "Code review session",
    "Tax advisor",
    "Gym",
    "Conference call (APAC)",
];

const LOCATIONS: &[&str] = &[
    "Room 4.12, HQ",
    "Meeting room Paris",
    "Zoom",
    "Microsoft Teams",
    "Café Einstein, Unter den Linden",
    "Main office, 3rd floor",
    "Conference room B",
    "Kantine",
    "Online",
    "Tokyo office, 17F",
    "Customer site",
    "Hotel Adlon, Berlin",
    "Gate B22, BER",
    "Room 1.01",
    "Home office",
];

const DESCRIPTIONS: &[&str] = &[
    "Agenda:\n1. Status of open items\n2. Risks and blockers\n3. Next steps\n\nPlease prepare your updates in advance.",
    "Dial-in: +49 30 1234567, PIN 8812#\nJoin online: https://meet.example.com/abc-defg-hij",
    "Bring the signed contract and the Q3 figures; the customer wants to discuss renewal terms, discounts and the SLA.",
    "Reminder: the room is booked until the full hour. Catering is ordered for 12 people (vegetarian options included).",
    "Notes from last time are in the shared folder \"Meetings/2025\". Action items: Anna (budget), Jonas (hiring).",
];

const CATEGORIES: &[&str] = &["Work", "Personal", "Meetings", "Travel", "Customers", "Holiday", "Family"];

/// Transliterates for e-mail local parts.
fn ascii(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        match c {
            'ä' | 'Ä' => out.push_str("ae"),
            'ö' | 'Ö' => out.push_str("oe"),
            'ü' | 'Ü' => out.push_str("ue"),
            'ß' => out.push_str("ss"),
            'å' | 'Å' | 'á' | 'à' => out.push('a'),
            'ø' | 'Ø' | 'ó' => out.push('o'),
            'é' | 'è' | 'ë' => out.push('e'),
            'í' | 'ı' => out.push('i'),
            'ş' => out.push('s'),
            'ç' => out.push('c'),
            c if c.is_ascii_alphanumeric() => out.push(c.to_ascii_lowercase()),
            _ => {}
        }
    }
    out
}

/// Escapes TEXT values (RFC 5545 §3.3.11, RFC 2426 §4).
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ',' => out.push_str("\\,"),
            ';' => out.push_str("\\;"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Appends one content line, folded at 75 octets on character boundaries, with CRLF.
fn line(out: &mut String, content: &str) {
    let mut width = 0;
    for c in content.chars() {
        let n = c.len_utf8();
        if width + n > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += n;
    }
    out.push_str("\r\n");
}

fn fmt_local(t: NaiveDateTime) -> String {
    t.format("%Y%m%dT%H%M%S").to_string()
}

fn fmt_date(d: NaiveDate) -> String {
    d.format("%Y%m%d").to_string()
}

fn dt_prop(name: &str, zone: Zone, t: NaiveDateTime) -> String {
    match zone.tzid() {
        Some(tzid) => format!("{name};TZID={tzid}:{}", fmt_local(t)),
        None => format!("{name}:{}Z", fmt_local(t)),
    }
}

fn byday(w: Weekday) -> &'static str {
    match w {
        Weekday::Mon => "MO",
        Weekday::Tue => "TU",
        Weekday::Wed => "WE",
        Weekday::Thu => "TH",
        Weekday::Fri => "FR",
        Weekday::Sat => "SA",
        Weekday::Sun => "SU",
    }
}

pub fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 1, 1).expect("valid date")
}

/// One calendar object resource: its UID, member name and VEVENT(s).
#[derive(Debug, Clone)]
pub struct Event {
    pub segment: String,
    pub recurring: bool,
    zone: Option<Zone>,
    components: String,
}

impl Event {
    /// The resource as PUT to davit: VCALENDAR, the VTIMEZONE it uses, its VEVENT(s).
    pub fn ics(&self) -> String {
        let mut s = String::with_capacity(self.components.len() + 700);
        s.push_str("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n");
        line(&mut s, &format!("PRODID:{PRODID}"));
        s.push_str("CALSCALE:GREGORIAN\r\n");
        if let Some(z) = self.zone {
            s.push_str(z.vtimezone());
        }
        s.push_str(&self.components);
        s.push_str("END:VCALENDAR\r\n");
        s
    }
}

/// The whole calendar as one iCalendar object (Radicale's bulk import).
pub fn whole_calendar(events: &[Event]) -> String {
    let mut s = String::with_capacity(events.iter().map(|e| e.components.len()).sum::<usize>() + 4096);
    s.push_str("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n");
    line(&mut s, &format!("PRODID:{PRODID}"));
    s.push_str("CALSCALE:GREGORIAN\r\n");
    for z in Zone::ALL_TZ {
        s.push_str(z.vtimezone());
    }
    for e in events {
        s.push_str(&e.components);
    }
    s.push_str("END:VCALENDAR\r\n");
    s
}

pub fn events(n: usize) -> Vec<Event> {
    (0..n).map(event).collect()
}

fn pick_zone(rng: &mut Rng) -> Zone {
    match rng.below(100) {
        0..35 => Zone::Berlin,
        35..55 => Zone::NewYork,
        55..68 => Zone::Tokyo,
        68..83 => Zone::WEurope,
        _ => Zone::Utc,
    }
}

fn person(rng: &mut Rng) -> (String, String) {
    let g = *rng.pick(GIVEN);
    let s = *rng.pick(SURNAMES);
    (format!("{g} {s}"), format!("{}.{}@example.com", ascii(g), ascii(s)))
}

fn event(i: usize) -> Event {
    let mut rng = Rng::new(0x5EED_0000_0000 + i as u64);
    let uid = format!("{:08x}-{:04x}-4bench-{i:06}@davit.bench", rng.next_u64() as u32, i % 65536);
    let segment = format!("ev-{i:06}.ics");
    let recurring = i.is_multiple_of(5);
    let all_day = !recurring && rng.chance(0.12);
    let zone = pick_zone(&mut rng);
    let day = epoch() + Duration::days(rng.below(4 * 365 + 1) as i64);
    let start =
        day.and_hms_opt(rng.range(7, 18) as u32, *rng.pick(&[0u32, 15, 30, 45]), 0).expect("valid time");
    let minutes = *rng.pick(&[15i64, 30, 30, 45, 60, 60, 60, 90, 120, 180]);
    let end = start + Duration::minutes(minutes);
    let summary = *rng.pick(SUMMARIES);
    let stamp = "20240101T090000Z";
    let modified = epoch() + Duration::days(rng.below(700) as i64);

    let mut c = String::with_capacity(1200);
    c.push_str("BEGIN:VEVENT\r\n");
    line(&mut c, &format!("UID:{uid}"));
    line(&mut c, &format!("DTSTAMP:{stamp}"));
    line(&mut c, &format!("CREATED:{}T080000Z", fmt_date(modified)));
    line(&mut c, &format!("LAST-MODIFIED:{}T081500Z", fmt_date(modified)));
    let mut zone_used = None;
    let mut exdate_and_override = None;
    if all_day {
        let days = rng.range(1, 3) as i64;
        line(&mut c, &format!("DTSTART;VALUE=DATE:{}", fmt_date(day)));
        line(&mut c, &format!("DTEND;VALUE=DATE:{}", fmt_date(day + Duration::days(days))));
        line(&mut c, "TRANSP:TRANSPARENT");
    } else {
        if zone != Zone::Utc {
            zone_used = Some(zone);
        }
        line(&mut c, &dt_prop("DTSTART", zone, start));
        line(&mut c, &dt_prop("DTEND", zone, end));
        if recurring {
            let (rule, step) = if rng.chance(0.35) {
                (format!("FREQ=DAILY;COUNT={}", rng.range(5, 30)), Duration::days(1))
            } else {
                let interval = if rng.chance(0.2) { 2 } else { 1 };
                let step = Duration::weeks(interval);
                let mut rule = format!("FREQ=WEEKLY;BYDAY={}", byday(start.weekday()));
                if interval > 1 {
                    write!(rule, ";INTERVAL={interval}").ok();
                }
                match rng.below(10) {
                    0..2 => {} // open-ended standing meeting
                    2..6 => write!(rule, ";COUNT={}", rng.range(4, 52)).unwrap_or(()),
                    _ => {
                        let until = start.date() + Duration::weeks(4 * rng.range(3, 12) as i64);
                        write!(rule, ";UNTIL={}T235959Z", fmt_date(until)).unwrap_or(())
                    }
                }
                (rule, step)
            };
            line(&mut c, &format!("RRULE:{rule}"));
            // The third occurrence is cancelled, the second one moved by an hour.
            line(&mut c, &dt_prop("EXDATE", zone, start + step * 2));
            exdate_and_override = Some(start + step);
        }
    }
    line(&mut c, &format!("SUMMARY:{}", esc(summary)));
    if rng.chance(0.6) {
        line(&mut c, &format!("LOCATION:{}", esc(rng.pick_str(LOCATIONS))));
    }
    if rng.chance(0.3) {
        line(&mut c, &format!("DESCRIPTION:{}", esc(rng.pick_str(DESCRIPTIONS))));
    }
    if rng.chance(0.25) {
        let (name, mail) = person(&mut rng);
        line(&mut c, &format!("ORGANIZER;CN=\"{name}\":mailto:{mail}"));
        for _ in 0..rng.range(1, 4) {
            let (name, mail) = person(&mut rng);
            let partstat = *rng.pick(&["ACCEPTED", "NEEDS-ACTION", "TENTATIVE", "DECLINED"]);
            line(
                &mut c,
                &format!(
                    "ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT={partstat};CN=\"{name}\":mailto:{mail}"
                ),
            );
        }
    }
    if rng.chance(0.2) {
        line(&mut c, &format!("CATEGORIES:{}", rng.pick(CATEGORIES)));
    }
    line(&mut c, "STATUS:CONFIRMED");
    line(&mut c, "SEQUENCE:0");
    if rng.chance(0.4) {
        c.push_str(
            "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Reminder\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\n",
        );
    }
    c.push_str("END:VEVENT\r\n");
    if let Some(orig) = exdate_and_override {
        c.push_str("BEGIN:VEVENT\r\n");
        line(&mut c, &format!("UID:{uid}"));
        line(&mut c, &format!("DTSTAMP:{stamp}"));
        line(&mut c, &dt_prop("RECURRENCE-ID", zone, orig));
        line(&mut c, &dt_prop("DTSTART", zone, orig + Duration::hours(1)));
        line(&mut c, &dt_prop("DTEND", zone, orig + Duration::hours(1) + Duration::minutes(minutes)));
        line(&mut c, &format!("SUMMARY:{} (moved)", esc(summary)));
        line(&mut c, "STATUS:CONFIRMED");
        line(&mut c, "SEQUENCE:1");
        c.push_str("END:VEVENT\r\n");
    }
    Event { segment, recurring, zone: zone_used, components: c }
}

/// A new, realistic single event for the PUT workload (Europe/Berlin, in 2026).
pub fn new_event(uid: &str, seq: u64) -> String {
    let mut rng = Rng::new(0xB0D1_0000_0000 ^ seq);
    let day = NaiveDate::from_ymd_opt(2026, 1, 1).expect("valid") + Duration::days(rng.below(365) as i64);
    let start = day.and_hms_opt(rng.range(8, 17) as u32, 0, 0).expect("valid");
    let mut s = String::with_capacity(1500);
    s.push_str("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n");
    line(&mut s, &format!("PRODID:{PRODID}"));
    s.push_str(VTZ_BERLIN);
    s.push_str("BEGIN:VEVENT\r\n");
    line(&mut s, &format!("UID:{uid}"));
    line(&mut s, "DTSTAMP:20251201T090000Z");
    line(&mut s, &dt_prop("DTSTART", Zone::Berlin, start));
    line(&mut s, &dt_prop("DTEND", Zone::Berlin, start + Duration::minutes(60)));
    line(&mut s, &format!("SUMMARY:{}", esc(rng.pick_str(SUMMARIES))));
    line(&mut s, &format!("LOCATION:{}", esc(rng.pick_str(LOCATIONS))));
    line(&mut s, &format!("DESCRIPTION:{}", esc(rng.pick_str(DESCRIPTIONS))));
    let (name, mail) = person(&mut rng);
    line(&mut s, &format!("ORGANIZER;CN=\"{name}\":mailto:{mail}"));
    s.push_str("BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Reminder\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\n");
    s.push_str("END:VEVENT\r\nEND:VCALENDAR\r\n");
    s
}

/// A minimal event (for the sync-scaling collections, where only the count matters).
pub fn small_event(uid: &str, i: u64) -> String {
    let start = NaiveDateTime::from(epoch()) + Duration::hours(i as i64 % 30_000);
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:{PRODID}\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
         DTSTAMP:20240101T000000Z\r\nDTSTART:{}Z\r\nDURATION:PT30M\r\nSUMMARY:Item {i}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        fmt_local(start)
    )
}

#[derive(Debug, Clone)]
pub struct Card {
    pub segment: String,
    pub body: String,
}

pub fn cards(n: usize) -> Vec<Card> {
    (0..n).map(card).collect()
}

/// The whole address book as one stream of vCards (Radicale's bulk import).
pub fn whole_addressbook(cards: &[Card]) -> String {
    cards.iter().map(|c| c.body.as_str()).collect()
}

fn card(i: usize) -> Card {
    let mut rng = Rng::new(0xCA4D_0000_0000 + i as u64);
    let uid = format!("{:08x}-card-{i:06}@davit.bench", rng.next_u64() as u32);
    let segment = format!("card-{i:06}.vcf");
    let given = *rng.pick(GIVEN);
    let surname = *rng.pick(SURNAMES);
    let company = *rng.pick(COMPANIES);
    let domain = ascii(company.split_whitespace().next().unwrap_or("example"));
    let mut b = String::with_capacity(700);
    b.push_str("BEGIN:VCARD\r\nVERSION:3.0\r\n");
    line(&mut b, &format!("PRODID:{PRODID}"));
    line(&mut b, &format!("UID:{uid}"));
    line(&mut b, &format!("N:{};{};;;", esc(surname), esc(given)));
    line(&mut b, &format!("FN:{} {}", esc(given), esc(surname)));
    if rng.chance(0.1) {
        line(
            &mut b,
            &format!(
                "NICKNAME:{}",
                esc(&given[..given.char_indices().nth(3).map_or(given.len(), |(i, _)| i)])
            ),
        );
    }
    line(
        &mut b,
        &format!(
            "ORG:{};{}",
            esc(company),
            *rng.pick(&["Sales", "Engineering", "Finance", "Operations", "HR"])
        ),
    );
    line(&mut b, &format!("TITLE:{}", esc(rng.pick_str(TITLES))));
    line(
        &mut b,
        &format!("EMAIL;TYPE=INTERNET,WORK,PREF:{}.{}@{domain}.example", ascii(given), ascii(surname)),
    );
    if rng.chance(0.4) {
        line(
            &mut b,
            &format!("EMAIL;TYPE=INTERNET,HOME:{}{}@mail.example.org", ascii(given), rng.range(1, 99)),
        );
    }
    let (city, zip, country, street) = *rng.pick(CITIES);
    let phone = match country {
        "Germany" => format!("+49 {} {}", rng.range(30, 89), rng.range(1_000_000, 9_999_999)),
        "USA" => format!("+1 ({}) {}-{}", rng.range(201, 989), rng.range(200, 999), rng.range(1000, 9999)),
        "Japan" => format!("+81 3-{}-{}", rng.range(1000, 9999), rng.range(1000, 9999)),
        _ => format!("+{} {} {}", rng.range(30, 48), rng.range(100, 999), rng.range(100_000, 999_999)),
    };
    line(&mut b, &format!("TEL;TYPE=WORK,VOICE:{phone}"));
    if rng.chance(0.6) {
        line(
            &mut b,
            &format!("TEL;TYPE=CELL:+49 1{} {}", rng.range(51, 79), rng.range(1_000_000, 9_999_999)),
        );
    }
    if rng.chance(0.5) {
        line(
            &mut b,
            &format!(
                "ADR;TYPE=WORK:;;{} {};{};;{};{}",
                esc(street),
                rng.range(1, 120),
                esc(city),
                esc(zip),
                esc(country)
            ),
        );
    }
    if rng.chance(0.3) {
        line(
            &mut b,
            &format!("BDAY:{}-{:02}-{:02}", rng.range(1950, 2002), rng.range(1, 12), rng.range(1, 28)),
        );
    }
    if rng.chance(0.15) {
        line(&mut b, &format!("NOTE:{}", esc(rng.pick_str(DESCRIPTIONS))));
    }
    if rng.chance(0.3) {
        line(
            &mut b,
            &format!("CATEGORIES:{}", rng.pick(&["Customers", "Suppliers", "Colleagues", "Friends"])),
        );
    }
    line(&mut b, &format!("REV:{}T120000Z", fmt_date(epoch() + Duration::days(rng.below(700) as i64))));
    b.push_str("END:VCARD\r\n");
    Card { segment, body: b }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_well_formed() {
        let a = events(50);
        let b = events(50);
        assert_eq!(a[7].ics(), b[7].ics());
        assert_eq!(a.iter().filter(|e| e.recurring).count(), 10);
        for e in &a {
            let ics = e.ics();
            assert!(ics.lines().all(|l| l.len() <= 76), "{ics}");
            if e.recurring {
                assert!(ics.contains("RRULE:") && ics.contains("EXDATE") && ics.contains("RECURRENCE-ID"));
            }
        }
        assert_eq!(cards(3)[2].body, cards(3)[2].body);
    }
}
